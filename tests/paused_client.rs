//! A client that stops reading a large range pauses the server's reads (of the inner
//! body, or of a `RangeSource`) through TCP backpressure, holds up nobody else, and
//! later gets exactly its bytes.

mod support;

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use support::{get, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tower::{service_fn, Layer};
use tower_range::{RandomAccess, RangeLayer, RangeSource, ReadFuture};

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

impl RandomAccess for GeneratedSource {
    fn read_at(&self, offset: u64, len: usize) -> ReadFuture {
        let end = (offset + len as u64).min(LEN);
        let bytes: Bytes = (offset..end).map(byte_at).collect();
        self.0.bytes.fetch_add(bytes.len(), Ordering::SeqCst);
        Box::pin(std::future::ready(Ok(bytes)))
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
