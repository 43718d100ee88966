//! `tower-range-serve --store URL` for the stores that need no server: `file:///DIR`
//! (byte-exact ranges, validators, a file replaced mid-response) and `memory:///`, and
//! URLs that name no store, which stop the server at startup with a clear message.
//! `s3://` is tested against SeaweedFS in `object_store.rs`.

mod stores;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use stores::{finish, slow_client};
use support::server::{Server, BINARY};
use support::{content, request_to, Reply};

const CLIP: usize = 3_000_000;
const BIG: usize = 32 << 20;

/// A directory of its own with `clip.mp4`, `empty.bin`, `big.bin` and
/// `sub/nested.bin`.
fn directory() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "store-file-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("clip.mp4"), content(CLIP)).unwrap();
    std::fs::write(dir.join("empty.bin"), b"").unwrap();
    std::fs::write(dir.join("big.bin"), big(0)).unwrap();
    std::fs::write(dir.join("sub/nested.bin"), content(1000)).unwrap();
    dir
}

/// The 32 MiB file's content; another `version` gives other bytes at every position.
fn big(version: u8) -> Bytes {
    (0..BIG)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8) ^ (i >> 20)) as u8 ^ version)
        .collect::<Vec<u8>>()
        .into()
}

fn serve(url: &str, args: &[&str]) -> Server {
    let mut all = vec!["--store", url, "--addr", "127.0.0.1:0"];
    all.extend_from_slice(args);
    Server::launch(&[], &all, &[])
}

fn file_url(dir: &Path) -> String {
    format!("file://{}", dir.display())
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    request_to(server.addr, "GET", path, headers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_is_served_byte_exact_by_file_url() {
    let dir = directory();
    let server = serve(&file_url(&dir), &[]);
    support::assert_ranges_byte_exact(server.addr, "/clip.mp4", CLIP).await;
    let clip = content(CLIP);
    let reply = get(&server, "/clip.mp4", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete && reply.body == clip);

    // Validators: the type guessed from the name (a directory stores none), the ETag
    // the store gives, quoted as HTTP wants it.
    let head = request_to(server.addr, "HEAD", "/clip.mp4", &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(CLIP as u64));
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    assert!(head.header("last-modified").is_some());
    let etag = head.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let reply = get(
        &server,
        "/clip.mp4",
        &[("Range", "bytes=10-19"), ("If-Range", &etag)],
    )
    .await;
    assert_eq!((reply.status, &reply.body[..]), (206, &clip[10..20]));
    let reply = get(&server, "/clip.mp4", &[("If-None-Match", &etag)]).await;
    assert_eq!(reply.status, 304);
    let reply = get(&server, "/clip.mp4", &[("Range", "bytes=5000000-")]).await;
    assert_eq!(reply.status, 416);

    let reply = get(&server, "/empty.bin", &[("Range", "bytes=0-")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete && reply.body.is_empty());
    let reply = get(&server, "/sub/nested.bin", &[("Range", "bytes=10-19")]).await;
    assert_eq!(
        (reply.status, &reply.body[..]),
        (206, &content(1000)[10..20])
    );
    for missing in [
        "/missing.bin",
        "/sub",
        "/",
        "/sub/../clip.mp4",
        "/%2e%2e/etc/passwd",
    ] {
        let reply = get(&server, missing, &[]).await;
        assert_eq!(reply.status, 404, "{missing}");
    }

    // A URL with a deeper path serves that directory.
    let sub = serve(&file_url(&dir.join("sub")), &[]);
    let reply = get(&sub, "/nested.bin", &[]).await;
    assert!(reply.complete && reply.body == content(1000));
    assert_eq!(get(&sub, "/clip.mp4", &[]).await.status, 404);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replaced_mid_response_aborts_the_transfer() {
    let dir = directory();
    let server = serve(&file_url(&dir), &[]);
    request_to(server.addr, "HEAD", "/big.bin", &[]).await;
    // Ten parts, the first 8 MiB long: the client pauses in it, and the next seven,
    // fetched ahead, opened the old file; the last two are opened after the change.
    let set = stores::replaced_mid_response_ranges(16 << 20);
    let (stream, wire) = slow_client(server.addr, "big.bin", &set, 0).await;
    // Replaced as editors and deploy tools do: a new file renamed over the old one.
    std::fs::write(dir.join("big.new"), big(1)).unwrap();
    std::fs::rename(dir.join("big.new"), dir.join("big.bin")).unwrap();
    let reply = finish(stream, wire).await;
    assert_eq!(reply.status, 206);
    assert!(!reply.complete, "the transfer must be aborted");
    stores::assert_only_old_bytes(&reply, &big(0));

    // The new file is served once the metadata is looked up again.
    let fresh = serve(&file_url(&dir), &[]);
    let reply = get(&fresh, "/big.bin", &[("Range", "bytes=16777216-16777315")]).await;
    assert_eq!(&reply.body[..], &big(1)[16_777_216..16_777_316]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn memory_url_serves_an_empty_store() {
    let server = serve("memory:///", &[]);
    assert_eq!(get(&server, "/clip.mp4", &[]).await.status, 404);
    let head = request_to(server.addr, "HEAD", "/", &[]).await;
    assert_eq!(head.status, 404);
}

#[test]
fn a_url_that_names_no_store_stops_the_server_with_a_message() {
    let missing = std::env::temp_dir().join("tower-range-serve-no-such-directory");
    let missing = file_url(&missing);
    for (url, reason) in [
        ("media", "not a URL"),
        ("ftp://host/media", "not a store URL"),
        ("s3://", "not a store URL"),
        ("https://example.com/media", "HTTP stores are not supported"),
        (missing.as_str(), "is not a directory"),
        // Azure needs an account, here from no environment.
        ("az://container", "Account must be specified"),
    ] {
        let out = Command::new(BINARY)
            .args(["--store", url, "--addr", "127.0.0.1:0"])
            .env_remove("AZURE_STORAGE_ACCOUNT_NAME")
            .env_remove("AZURE_STORAGE_ACCOUNT")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(out.stdout.is_empty(), "{url}: it served");
        let expected = format!("error: --store {url}: ");
        assert!(
            stderr.starts_with(&expected) && stderr.contains(reason) && !stderr.contains("panic"),
            "{url}: {stderr}"
        );
    }
}
