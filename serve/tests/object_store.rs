//! `tower-range-serve --store` against a real S3-compatible server (moto's, started by each
//! test), through a proxy that counts the store's requests and bytes and can break
//! them: every range form, exact bytes, one ranged `GET` per range, a paused client, a
//! pause longer than the store's timeout, an object replaced mid-response, and a store
//! that fails.
//!
//! Needs `moto_server` on `PATH` (`pip install 'moto[server]'`; `.ci/run` installs it in
//! a virtual environment); a missing one fails the tests.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions};
use support::server::Server;
use support::{content, request_to, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const BUCKET: &str = "media";
const CLIP: usize = 3_000_000;
const BIG: usize = 64 << 20;

/// moto's S3 server on a free port, stopped when dropped.
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    fn start() -> Self {
        let found = Command::new("sh")
            .args(["-c", "command -v moto_server"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "moto_server is not on PATH: pip install 'moto[server]' (.ci/run does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, addr }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the store received, as the proxy read it.
#[derive(Clone, Debug)]
struct StoreRequest {
    method: String,
    path: String,
    range: Option<String>,
    if_match: Option<String>,
}

/// What the proxy does to the connections it relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// Relays this many more bytes from the store, then cuts the connection and refuses
    /// every later one.
    CutAfter(u64),
    /// Closes every new connection at once.
    Refuse,
}

/// A TCP proxy in front of the store that reads each request head, counts the bytes
/// the store sends, and can break connections.
struct Proxy {
    addr: SocketAddr,
    requests: Mutex<Vec<StoreRequest>>,
    from_store: AtomicU64,
    open: AtomicUsize,
    fault: Mutex<(Fault, u64)>,
}

impl Proxy {
    async fn start(store: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            requests: Mutex::default(),
            from_store: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            fault: Mutex::new((Fault::None, 0)),
        });
        let relay = Arc::clone(&proxy);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let relay = Arc::clone(&relay);
                tokio::spawn(async move { relay.relay(client, store).await });
            }
        });
        proxy
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap() = (fault, self.from_store.load(Ordering::SeqCst));
    }

    fn requests(&self) -> Vec<StoreRequest> {
        self.requests.lock().unwrap().clone()
    }

    fn gets(&self, key: &str) -> Vec<StoreRequest> {
        let path = format!("/{BUCKET}/{key}");
        self.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .collect()
    }

    fn reset_counts(&self) {
        self.requests.lock().unwrap().clear();
        self.from_store.store(0, Ordering::SeqCst);
    }

    async fn relay(self: Arc<Self>, client: TcpStream, store: SocketAddr) {
        if self.fault.lock().unwrap().0 == Fault::Refuse {
            return;
        }
        let Ok(server) = TcpStream::connect(store).await else {
            return;
        };
        self.open.fetch_add(1, Ordering::SeqCst);
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let heads = Arc::clone(&self);
        let up = tokio::spawn(async move {
            let (mut buf, mut pending) = (vec![0; 64 * 1024], Vec::new());
            while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                pending.extend_from_slice(&buf[..n]);
                while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                    heads.record(&pending[..end]);
                    pending.drain(..end + 4);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = vec![0; 64 * 1024];
        while let Ok(n @ 1..) = server_read.read(&mut buf).await {
            let total = self.from_store.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            let cut = {
                let mut fault = self.fault.lock().unwrap();
                match *fault {
                    (Fault::CutAfter(limit), since) if total - since >= limit => {
                        *fault = (Fault::Refuse, total);
                        true
                    }
                    _ => false,
                }
            };
            if cut || client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        up.abort();
        self.open.fetch_sub(1, Ordering::SeqCst);
    }

    fn record(&self, head: &[u8]) {
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let (method, path) = (
            first.next().unwrap_or_default(),
            first.next().unwrap_or_default(),
        );
        let field = |name: &str| {
            text.split("\r\n").find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        self.requests.lock().unwrap().push(StoreRequest {
            method: method.to_owned(),
            path: path.split('?').next().unwrap_or_default().to_owned(),
            range: field("range"),
            if_match: field("if-match"),
        });
    }
}

/// moto with a bucket of test objects, the proxy, and a client to change objects.
struct Store {
    moto: Moto,
    proxy: Arc<Proxy>,
    client: AmazonS3,
}

impl Store {
    async fn start() -> Self {
        let moto = Moto::start();
        let mut create = TcpStream::connect(moto.addr).await.unwrap();
        let head = format!(
            "PUT /{BUCKET} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            moto.addr
        );
        create.write_all(head.as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        create.read_to_end(&mut reply).await.unwrap();
        assert!(
            reply.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let client = AmazonS3Builder::new()
            .with_endpoint(format!("http://{}", moto.addr))
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap();
        let store = Self {
            proxy: Proxy::start(moto.addr).await,
            moto,
            client,
        };
        store
            .put("clip.mp4", content(CLIP), Some("video/mp4"))
            .await;
        store.put("empty.bin", Bytes::new(), None).await;
        store.put("big.bin", big(0), None).await;
        store
    }

    async fn put(&self, key: &str, data: Bytes, content_type: Option<&str>) {
        let mut attributes = Attributes::new();
        if let Some(content_type) = content_type {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.client
            .put_opts(&Path::from(key), data.into(), options)
            .await
            .unwrap();
    }

    /// The server serving the bucket through the proxy, with `args`.
    fn serve(&self, args: &[&str]) -> Server {
        let endpoint = format!("http://{}", self.proxy.addr);
        let url = format!("s3://{BUCKET}");
        let mut all = vec!["--store", &url, "--addr", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let env = [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT", &endpoint),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        Server::launch(&[], &all, &env)
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

/// A client that asks for `range` of `key` with a 16 KiB receive buffer, reads the head
/// and `first` bytes of the body, and returns the connection and what it read.
async fn slow_client(
    server: &Server,
    key: &str,
    range: &str,
    first: usize,
) -> (TcpStream, Vec<u8>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(server.addr).await.unwrap();
    let head =
        format!("GET /{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: {range}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut wire = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let end = wire.windows(4).position(|w| w == b"\r\n\r\n");
        if end.is_some_and(|end| wire.len() >= end + 4 + first) {
            return (stream, wire);
        }
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the response ended early");
        wire.extend_from_slice(&buf[..n]);
    }
}

/// Reads the rest of `stream` after `wire`, tolerating a reset, and parses the reply.
async fn finish(mut stream: TcpStream, mut wire: Vec<u8>) -> Reply {
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut wire)).await;
    support::parse_reply(&wire, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_form_is_answered_from_the_store_byte_exact() {
    let store = Store::start().await;
    let server = store.serve(&[]);
    let clip = content(CLIP);
    for (range, first, last) in [
        ("bytes=100-199", 100, 199),
        ("bytes=2999000-", 2_999_000, CLIP - 1),
        ("bytes=-500", CLIP - 500, CLIP - 1),
        ("bytes=0-99999999", 0, CLIP - 1),
    ] {
        let reply = get(&server, "clip.mp4", &[("Range", range)]).await;
        assert_eq!(reply.status, 206, "{range}");
        let expected = format!("bytes {first}-{last}/{CLIP}");
        assert_eq!(reply.header("content-range"), Some(expected.as_str()));
        assert!(
            reply.complete && reply.body == clip[first..=last],
            "{range}"
        );
    }
    let reply = get(
        &server,
        "clip.mp4",
        &[("Range", "bytes=0-99,2000000-2000099")],
    )
    .await;
    assert_eq!(reply.status, 206);
    let parts = support::parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts[0].1, &clip[..100]);
    assert_eq!(parts[1].1, &clip[2_000_000..2_000_100]);
    assert!(parts[0]
        .0
        .contains(&("content-type".into(), "video/mp4".into())));

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

    let reply = get(&server, "big.bin", &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete && reply.body == big(0), "64 MiB byte-exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_range_is_one_ranged_get_of_exactly_that_range() {
    let store = Store::start().await;
    let server = store.serve(&[]);
    let etag = warm(&server, "big.bin").await;
    store.proxy.reset_counts();

    let reply = get(&server, "big.bin", &[("Range", "bytes=1000-1999")]).await;
    assert!(reply.complete && reply.body == big(0)[1000..2000]);
    let gets = store.proxy.gets("big.bin");
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
    let gets = store.proxy.gets("big.bin");
    assert_eq!(gets.len(), 1, "{gets:?}");
    let tail = format!("bytes={}-{}", BIG - (1 << 20), BIG - 1);
    assert_eq!(gets[0].range.as_deref(), Some(tail.as_str()));
    let fetched = store.proxy.from_store.load(Ordering::SeqCst);
    assert!(
        fetched <= 4 << 20,
        "a 1 MiB tail range fetched {fetched} bytes"
    );
    assert_eq!(
        settled(|| store.proxy.open.load(Ordering::SeqCst) as u64).await,
        0
    );

    // Several ranges: one GET per part, in the order requested.
    store.proxy.reset_counts();
    let set = "bytes=50000000-50000999,-100,0-99,20000000-20000099";
    let reply = get(&server, "big.bin", &[("Range", set)]).await;
    let parts = support::parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts.len(), 4);
    let ranges: Vec<_> = store
        .proxy
        .gets("big.bin")
        .into_iter()
        .map(|r| r.range.unwrap())
        .collect();
    let expected = [
        "bytes=50000000-50000999".to_owned(),
        format!("bytes={}-{}", BIG - 100, BIG - 1),
        "bytes=0-99".to_owned(),
        "bytes=20000000-20000099".to_owned(),
    ];
    assert_eq!(ranges, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_client_pauses_the_store_download() {
    let store = Store::start().await;
    let server = store.serve(&[]);
    warm(&server, "big.bin").await;
    store.proxy.reset_counts();
    let (stream, wire) = slow_client(&server, "big.bin", "bytes=0-", 128 * 1024).await;
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
    let (stream, wire) = slow_client(&server, "big.bin", "bytes=1000-", 1 << 20).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reply = finish(stream, wire).await;
    assert_eq!(reply.status, 206);
    assert!(reply.complete, "the transfer completes");
    assert!(reply.body == big(0)[1000..], "and its bytes are exact");
    let gets = store.proxy.gets("big.bin");
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
    // Two parts: the second part's GET comes after the object changed.
    let set = "bytes=0-8388607,33554432-41943039";
    let (stream, wire) = slow_client(&server, "big.bin", set, 0).await;
    store.put("big.bin", big(1), None).await;
    let reply = finish(stream, wire).await;
    assert!(!reply.complete, "the transfer must be aborted");
    let old = big(0);
    let boundary = reply
        .header("content-type")
        .unwrap()
        .split("boundary=")
        .nth(1)
        .unwrap()
        .to_owned();
    let part_head = reply
        .body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| p + 4);
    let first = &reply.body[part_head.min(reply.body.len())..];
    let first = &first[..first.len().min(8 << 20)];
    assert!(
        first == &old[..first.len()],
        "only bytes of the old version"
    );
    assert!(
        reply.body.len() < 16 << 20,
        "the second part never came ({boundary})"
    );

    // A pause past the store's timeout, and the object replaced meanwhile: asking again
    // for the rest fails, and so does the transfer.
    store.put("big.bin", big(0), None).await;
    let server = store.serve(&[
        "--store-timeout",
        "2",
        "--store-retries",
        "0",
        "--metadata-ttl",
        "0",
    ]);
    let (stream, wire) = slow_client(&server, "big.bin", "bytes=0-", 1 << 20).await;
    store.put("big.bin", big(2), None).await;
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
    drop(store.moto);
}
