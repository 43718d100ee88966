//! A client that stops reading a large range pauses the server's reads (of the inner
//! body, or of a `RangeSource`) through TCP backpressure, or HTTP/2 flow control for
//! one stream among others, holds up nobody else, and later gets exactly its bytes.

mod support;

use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{get, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tower::{service_fn, Layer, ServiceExt};
use tower_range::{RandomAccess, RangeLayer, RangeSource, RangeStream};

const LEN: u64 = 1 << 30;
const FRAME: u64 = 64 << 10;

/// The byte at position `i` of the generated representation.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8) ^ (i >> 20)) as u8
}

/// A 1 GiB representation generated frame by frame, counting what it produced.
struct Generated {
    pos: u64,
    probe: Probe,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.pos == LEN {
            return Poll::Ready(None);
        }
        let end = (self.pos + FRAME).min(LEN);
        let frame: Bytes = (self.pos..end).map(byte_at).collect();
        self.probe.bytes.fetch_add(frame.len(), Ordering::SeqCst);
        self.pos = end;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(LEN - self.pos)
    }
}

/// The same representation, read at any offset, counting what it produced.
struct GeneratedSource(Probe);

/// What `GeneratedSource` makes at once, as the layer reads a file by default.
const CHUNK: usize = 32 * 1024;

impl RandomAccess for GeneratedSource {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        let probe = self.0.clone();
        RangeStream::chunked(range, CHUNK, move |offset, len| {
            let end = (offset + len as u64).min(LEN);
            let bytes: Bytes = (offset..end).map(byte_at).collect();
            probe.bytes.fetch_add(bytes.len(), Ordering::SeqCst);
            std::future::ready(Ok::<_, std::io::Error>(bytes))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_client_holds_up_no_one_and_resumes_with_exact_bytes() {
    paused_client(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_client_pauses_the_reads_of_a_range_source_too() {
    paused_client(true).await;
}

/// Client A pauses mid-range while clients B are served; with `seek`, the inner
/// response carries a `RangeSource` and the layer reads from that instead.
async fn paused_client(seek: bool) {
    let (body_probe, source_probe) = (Probe::default(), Probe::default());
    let (bp, sp) = (body_probe.clone(), source_probe.clone());
    let inner = service_fn(move |req: Request<hyper::body::Incoming>| {
        // Only client A's request is counted; B's get their own probes.
        let counted = req.headers().contains_key("x-client-a");
        let (bp, sp) = if counted {
            (bp.clone(), sp.clone())
        } else {
            (Probe::default(), Probe::default())
        };
        let mut res = Response::new(Generated { pos: 0, probe: bp });
        if seek {
            res.extensions_mut()
                .insert(RangeSource::new(GeneratedSource(sp), LEN));
        }
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let addr = support::serve(RangeLayer::new().layer(inner)).await;
    let (probe, unused) = if seek {
        (&source_probe, &body_probe)
    } else {
        (&body_probe, &source_probe)
    };

    // Client A: a 32 MiB range, a small receive buffer, and a pause after 128 KiB.
    let (first, len) = (1_000_000u64, 32u64 << 20);
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut a = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Client-A: 1\r\nConnection: close\r\nRange: bytes={first}-{}\r\n\r\n",
        first + len - 1
    );
    a.write_all(request.as_bytes()).await.unwrap();
    let mut received = vec![0u8; 128 * 1024];
    a.read_exact(&mut received).await.unwrap();

    // While A is paused, B's requests are answered in full.
    for i in 0..20u64 {
        let start = i * 100_000;
        let range = format!("bytes={start}-{}", start + 99_999);
        let reply = tokio::time::timeout(Duration::from_secs(10), get(addr, &[("Range", &range)]))
            .await
            .expect("B must not wait for A");
        assert_eq!(reply.status, 206);
        assert!(reply
            .body
            .iter()
            .enumerate()
            .all(|(k, &b)| b == byte_at(start + k as u64)));
    }
    // The server's reads of the inner body stop: wait until two readings agree.
    let mut produced = probe.bytes() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = probe.bytes() as u64;
        if now == produced {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server kept reading for a paused client"
        );
        produced = now;
    }
    assert_eq!(unused.bytes(), 0);
    // What was read ahead of A: socket buffers on both sides, hyper's write buffer, and
    // the one inner frame the layer holds. The range itself is 32 MiB.
    let ahead = produced - first - received.len() as u64;
    assert!(
        ahead < 8 << 20,
        "read {ahead} bytes ahead of a paused client"
    );
    eprintln!("read ahead of the paused client: {} KiB", ahead >> 10);

    // A resumes and gets exactly its bytes.
    let mut rest = Vec::with_capacity(len as usize);
    a.read_to_end(&mut rest).await.unwrap();
    received.extend_from_slice(&rest);
    let header_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received[..header_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    let body = &received[header_end..];
    assert_eq!(body.len() as u64, len);
    let wrong = body
        .iter()
        .enumerate()
        .position(|(k, &b)| b != byte_at(first + k as u64));
    assert_eq!(wrong, None, "A's bytes must equal the source");
}

/// Serves `/a…` and `/b…` from sources that count their reads in the probe of the
/// path's first letter, over HTTP/1.1 or HTTP/2 as `examples/serve` does (hyper's
/// send buffer bounded at 32 KiB per stream).
async fn serve_counted(a: Probe, b: Probe) -> std::net::SocketAddr {
    let inner = service_fn(move |req: Request<hyper::body::Incoming>| {
        let probe = if req.uri().path().starts_with("/a") {
            a.clone()
        } else {
            b.clone()
        };
        let mut res = Response::new(Generated {
            pos: 0,
            probe: Probe::default(),
        });
        res.extensions_mut()
            .insert(RangeSource::new(GeneratedSource(probe), LEN));
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let svc = RangeLayer::new().layer(inner);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc = svc.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().max_send_buf_size(16 * 1024);
                let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    addr
}

/// An HTTP/2 connection (prior knowledge) with hyper's client defaults: a 2 MiB window
/// per stream and 5 MiB per connection.
async fn h2_connect(addr: std::net::SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends `GET path` for `first..first + len` and returns the response, unread.
async fn h2_range(
    sender: &mut SendRequest<Empty<Bytes>>,
    path: &str,
    first: u64,
    len: u64,
) -> Response<hyper::body::Incoming> {
    let req = Request::get(format!("http://x{path}"))
        .header("range", format!("bytes={first}-{}", first + len - 1))
        .body(Empty::new())
        .unwrap();
    sender.ready().await.unwrap();
    let res = sender.send_request(req).await.unwrap();
    assert_eq!(res.status(), 206);
    res
}

/// Reads `res` to its end and checks it is `first..first + len` of the source.
async fn assert_exact(res: Response<hyper::body::Incoming>, first: u64, len: u64) {
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len() as u64, len);
    let wrong = body
        .iter()
        .enumerate()
        .position(|(k, &b)| b != byte_at(first + k as u64));
    assert_eq!(wrong, None, "the bytes must equal the source");
}

/// Waits until the probe's count stops moving (two readings 300 ms apart agree).
async fn settled(probe: &Probe) -> u64 {
    let mut last = probe.bytes() as u64;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = probe.bytes() as u64;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the server kept reading for paused streams");
}

/// Twenty ranges of `path` on `sender`, each answered in full within a second or so.
async fn twenty_ranges(sender: &mut SendRequest<Empty<Bytes>>, path: &str) {
    for i in 0..20u64 {
        let (first, len) = (i * 7_777_777 % (LEN - (1 << 20)), 65_536 + i * 40_000);
        let one = async {
            let res = h2_range(sender, path, first, len).await;
            assert_exact(res, first, len).await;
        };
        tokio::time::timeout(Duration::from_secs(3), one)
            .await
            .expect("a live stream must not wait for a paused one");
    }
}

/// What the server may read ahead of a paused HTTP/2 stream: the client's stream
/// window (2 MiB, hyper's default), the chunk that `h2` buffers for the stream (its
/// send buffer is one 16 KiB frame, as in `examples/serve`, and takes a 32 KiB
/// source's chunk whole), and the next chunk, which hyper reads before it waits for room.
const STREAM_BOUND: u64 = (2 << 20) + 2 * CHUNK as u64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_http2_stream_holds_up_no_stream_beside_it() {
    let (a, b) = (Probe::default(), Probe::default());
    let addr = serve_counted(a.clone(), b.clone()).await;
    let mut sender = h2_connect(addr).await;
    // Stream A: 64 MiB, never read for now.
    let (first, len) = (3_000_000u64, 64u64 << 20);
    let paused = h2_range(&mut sender, "/a", first, len).await;
    // Stream B on the same connection: 20 ranges, each in full.
    twenty_ranges(&mut sender, "/b").await;
    let read = settled(&a).await;
    eprintln!("read for the paused stream: {} KiB", read >> 10);
    assert!(
        read <= STREAM_BOUND,
        "read {read} bytes for a paused stream; the bound is {STREAM_BOUND}"
    );
    // A resumes and gets exactly its bytes.
    assert_exact(paused, first, len).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_paused_streams_on_five_connections_hold_up_no_other_connection() {
    let (a, b) = (Probe::default(), Probe::default());
    let addr = serve_counted(a.clone(), b.clone()).await;
    let len = 4u64 << 20;
    let mut paused = Vec::new();
    for c in 0..5u64 {
        let mut sender = h2_connect(addr).await;
        for s in 0..10u64 {
            let first = (c * 10 + s) * 10_000_000;
            paused.push((h2_range(&mut sender, "/a", first, len).await, first));
        }
    }
    let mut live = h2_connect(addr).await;
    twenty_ranges(&mut live, "/b").await;
    let read = settled(&a).await;
    // Each connection's 5 MiB window caps what its ten streams can take.
    let bound = 5 * ((5 << 20) + 10 * 2 * CHUNK as u64);
    eprintln!("read for 50 paused streams: {} KiB", read >> 10);
    assert!(read <= bound, "read {read} bytes; the bound is {bound}");
    // All resume at once: one stream read alone could wait for ever, because the
    // unread data of the other nine fills its connection's window.
    let resumed: Vec<_> = paused
        .into_iter()
        .map(|(res, first)| tokio::spawn(assert_exact(res, first, len)))
        .collect();
    for stream in resumed {
        stream.await.unwrap();
    }
}
