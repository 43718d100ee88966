//! Shared helpers: the server binary under test, HTTP/2 by hand, and the library's wire
//! helpers.
#![allow(dead_code)]

pub mod h2;
pub mod server;
#[path = "../../../tests/support/wire.rs"]
mod wire;

pub use wire::*;

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
