//! Shared helpers: the server binary under test, HTTP/2 by hand, and the library's wire
//! helpers.
#![allow(dead_code)]

pub mod h2;
pub mod server;
#[path = "../../../tests/support/wire.rs"]
mod wire;

pub use wire::*;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A directory `name` with `small.bin` and `big.bin` of [`content`], of those lengths,
/// made once per test binary under its temporary folder.
pub fn root(name: &str, small: usize, big: usize) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("small.bin"), content(small)).unwrap();
        std::fs::write(dir.join("big.bin"), content(big)).unwrap();
        dir
    })
}

/// Checks every single-range form and a two-part request for `path`, a `len`-byte
/// `video/mp4` object of [`content`], against its bytes.
pub async fn assert_ranges_byte_exact(addr: std::net::SocketAddr, path: &str, len: usize) {
    let object = content(len);
    for (range, first, last) in [
        ("bytes=100-199", 100, 199),
        ("bytes=2999000-", 2_999_000, len - 1),
        ("bytes=-500", len - 500, len - 1),
        ("bytes=0-99999999", 0, len - 1),
    ] {
        let reply = request_to(addr, "GET", path, &[("Range", range)]).await;
        assert_eq!(reply.status, 206, "{range}");
        let expected = format!("bytes {first}-{last}/{len}");
        assert_eq!(reply.header("content-range"), Some(expected.as_str()));
        assert!(
            reply.complete && reply.body == object[first..=last],
            "{range}"
        );
    }
    let two = [("Range", "bytes=0-99,2000000-2000099")];
    let reply = request_to(addr, "GET", path, &two).await;
    assert_eq!(reply.status, 206);
    let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts[0].1, &object[..100]);
    assert_eq!(parts[1].1, &object[2_000_000..2_000_100]);
    let part_type = ("content-type".to_owned(), "video/mp4".to_owned());
    assert!(parts
        .iter()
        .all(|(headers, _)| headers.contains(&part_type)));
}

/// The parts of a `multipart/byteranges` body that may have been cut anywhere: each
/// part's first byte position (from its `Content-Range`) and the bytes of it that came.
pub fn parts_received(content_type: &str, body: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    let delimiter = format!("--{boundary}\r\n");
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = rest
        .windows(delimiter.len())
        .position(|w| w == delimiter.as_bytes())
    {
        rest = &rest[at + delimiter.len()..];
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            break;
        };
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let range = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("Content-Range: bytes "))
            .unwrap();
        let (first, last) = range.split('/').next().unwrap().split_once('-').unwrap();
        let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
        rest = &rest[end + 4..];
        let len = rest.len().min(last - first + 1);
        parts.push((first, rest[..len].to_vec()));
        rest = &rest[len..];
    }
    parts
}
