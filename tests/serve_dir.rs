//! `RangeLayer` over tower-http's `ServeDir`, which answers single ranges itself: every
//! request gets a correct answer, and a tail range never reads the prefix.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;

use http::Response;
use support::{content, get, Counted, Probe, Reply};
use tower::ServiceBuilder;
use tower_http::services::ServeDir;
use tower_range::RangeLayer;

const LEN: usize = 2 << 20;

struct Fixture {
    addr: SocketAddr,
    probe: Probe,
    dir: PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serves a directory holding `file` (the test content) through ServeDir, counting the
/// bytes of ServeDir's bodies.
async fn fixture(name: &str, data: &[u8]) -> Fixture {
    let dir = std::env::temp_dir().join(format!("tower-range-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("file"), data).unwrap();
    let probe = Probe::default();
    let p = probe.clone();
    let svc = ServiceBuilder::new()
        .layer(RangeLayer::new())
        .map_response(move |res: Response<_>| res.map(|body| Counted::new(body, &p)))
        .service(ServeDir::new(&dir));
    let addr = support::serve(svc).await;
    Fixture { addr, probe, dir }
}

fn assert_slice(reply: &Reply, first: usize, last: usize) {
    assert_eq!(reply.status, 206, "{:?}", reply.headers);
    let expected = format!("bytes {first}-{last}/{LEN}");
    assert_eq!(reply.header("content-range"), Some(expected.as_str()));
    assert!(reply.complete);
    assert_eq!(reply.body, &content(LEN)[first..=last]);
}

#[tokio::test]
async fn tail_range_is_answered_by_serve_dir_without_the_prefix() {
    let f = fixture("tail", &content(LEN)).await;
    let reply = get(f.addr, &[("Range", "bytes=-1000")]).await;
    assert_slice(&reply, LEN - 1000, LEN - 1);
    assert_eq!(
        f.probe.bytes(),
        1000,
        "ServeDir read the range only, not the prefix"
    );
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
}

#[tokio::test]
async fn ranges_in_any_spelling_are_answered_right() {
    let f = fixture("spelling", &content(LEN)).await;
    for (range, first, last) in [
        ("bytes=100-199", 100, 199),
        ("BYTES=100-199", 100, 199),
        ("bytes= 100-199 ,", 100, 199),
        ("bytes=2000000-", 2_000_000, LEN - 1),
        ("bytes=2000000-99999999999999999999999", 2_000_000, LEN - 1),
        ("bytes=-2097152", 0, LEN - 1),
    ] {
        let reply = get(f.addr, &[("Range", range)]).await;
        assert_slice(&reply, first, last);
    }
}

#[tokio::test]
async fn serve_dirs_refusal_of_a_suffix_longer_than_the_file_is_passed_on() {
    // RFC 9110 §14.1.2 makes this the whole file; ServeDir refuses it. A refusal holds
    // no wrong bytes, so the layer passes it on rather than turn it into a 502.
    let f = fixture("long-suffix", &content(LEN)).await;
    let reply = get(f.addr, &[("Range", "bytes=-99999999")]).await;
    assert_eq!(reply.status, 416);
    assert!(reply.complete && reply.body.is_empty());
}

#[tokio::test]
async fn several_ranges_get_multipart_instead_of_serve_dirs_416() {
    let f = fixture("multi", &content(LEN)).await;
    let reply = get(f.addr, &[("Range", "bytes=0-99,-100")]).await;
    assert_eq!(reply.status, 206);
    let parts = support::parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts[0].1, &content(LEN)[..100]);
    assert_eq!(parts[1].1, &content(LEN)[LEN - 100..]);
}

#[tokio::test]
async fn if_range_is_evaluated_by_the_layer() {
    let f = fixture("if-range", &content(LEN)).await;
    // A file written within the current second has a weak Last-Modified (RFC 9110
    // §8.8.2.2), which If-Range never matches: date it an hour back.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let file = std::fs::File::options()
        .write(true)
        .open(f.dir.join("file"));
    file.unwrap().set_modified(hour_ago).unwrap();
    let full = get(f.addr, &[]).await;
    let last_modified = full.header("last-modified").unwrap().to_owned();
    let reply = get(
        f.addr,
        &[("Range", "bytes=5-9"), ("If-Range", &last_modified)],
    )
    .await;
    assert_slice(&reply, 5, 9);
    let stale = "Thu, 01 Jan 1970 00:00:00 GMT";
    let reply = get(f.addr, &[("Range", "bytes=5-9"), ("If-Range", stale)]).await;
    assert_eq!(
        reply.status, 200,
        "ServeDir ignores If-Range; the layer does not"
    );
    assert_eq!(reply.body, content(LEN));
}

#[tokio::test]
async fn invalid_and_unsatisfiable_ranges() {
    let f = fixture("invalid", &content(LEN)).await;
    let reply = get(f.addr, &[("Range", "bytes=9-5")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(LEN));
    let reply = get(f.addr, &[("Range", "bytes=99999999-")]).await;
    assert_eq!(reply.status, 416);
    let expected = format!("bytes */{LEN}");
    assert_eq!(reply.header("content-range"), Some(expected.as_str()));
}

#[tokio::test]
async fn empty_file_never_gets_an_invalid_content_range() {
    let f = fixture("empty", b"").await;
    let reply = get(f.addr, &[("Range", "bytes=0-")]).await;
    assert!(reply.complete && reply.body.is_empty());
    assert_eq!(
        reply.status, 200,
        "ServeDir's `bytes 0-0/0` becomes an empty 200"
    );
    assert_eq!(reply.header("content-range"), None);
}

#[tokio::test]
async fn preconditions_are_answered_right_over_serve_dir() {
    let f = fixture("preconditions", &content(LEN)).await;
    let full = get(f.addr, &[]).await;
    let last_modified = full.header("last-modified").unwrap().to_owned();
    // RFC 9110 §13.1.3: beside If-None-Match, If-Modified-Since is ignored.
    let reply = get(
        f.addr,
        &[
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", &last_modified),
        ],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(LEN));
    // ServeDir, which does not see the preconditions, answers the handed range with a
    // 206; the layer's 304 replaces it.
    let reply = get(
        f.addr,
        &[
            ("If-Modified-Since", &last_modified),
            ("Range", "bytes=0-9"),
        ],
    )
    .await;
    assert_eq!(reply.status, 304);
    assert!(reply.complete && reply.body.is_empty());
    let early = "Thu, 01 Jan 1970 00:00:00 GMT";
    let reply = get(
        f.addr,
        &[("If-Unmodified-Since", early), ("Range", "bytes=0-9")],
    )
    .await;
    assert_eq!(reply.status, 412);
    let reply = get(
        f.addr,
        &[
            ("If-Unmodified-Since", &last_modified),
            ("Range", "bytes=0-9"),
        ],
    )
    .await;
    assert_slice(&reply, 0, 9);
}
