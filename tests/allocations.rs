//! The layer's own heap allocations per request, counted with a counting global
//! allocator (`allocation-counter`, per thread); the inner service's work (its
//! response, its body) is not counted.
//!
//! Each count is exact, so that a new allocation fails the test; `allocations_per_request`
//! names the ones that stay.

use std::convert::Infallible;
use std::future::Future;
use std::io::Write;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use http::{HeaderValue, Method, Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::{Layer, Service};
use tower_range::{RangeLayer, RangeSource};

const LEN: usize = 1 << 20;

/// A waker that does nothing: the futures here never wait.
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Runs a future that never waits on I/O, on this thread (the counts are per thread).
fn block_on<F: Future>(waker: &Waker, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// How the inner service answers: a `Full` body of the whole representation, with
/// `Content-Length`, `Content-Type`, `ETag` and `Last-Modified`, and maybe a source.
#[derive(Clone, Copy, Debug)]
enum Inner {
    Full,
    /// With a `RangeSource::bytes`.
    Bytes,
    /// With a `RangeSource::file`, whose bytes are in the page cache.
    File,
}

/// One request through the default layer: the allocations the layer made, from
/// `call` to the body's last frame, the bytes they took, and the bytes the body
/// yielded.
fn count(inner: Inner, method: Method, headers: &[(&str, &str)]) -> (u64, u64, usize) {
    let data = Bytes::from(vec![7u8; LEN]);
    let path = std::env::temp_dir().join(format!("tower-range-alloc-{}", std::process::id()));
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut svc = RangeLayer::new().layer(tower::service_fn(move |_req: Request<()>| {
        let mut made = None;
        allocation_counter::opt_out(|| {
            let mut res = Response::new(Full::new(data.clone()));
            let headers = res.headers_mut();
            headers.insert(CONTENT_LENGTH, HeaderValue::from(LEN));
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
            headers.insert(ETAG, HeaderValue::from_static("\"v1\""));
            headers.insert(
                LAST_MODIFIED,
                HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
            );
            let source = match inner {
                Inner::Full => None,
                Inner::Bytes => Some(RangeSource::bytes(data.clone())),
                Inner::File => Some(RangeSource::file(file.try_clone().unwrap(), LEN as u64)),
            };
            if let Some(source) = source {
                res.extensions_mut().insert(source);
            }
            made = Some(res);
        });
        std::future::ready(Ok::<_, Infallible>(made.expect("made above")))
    }));
    let mut req = Request::builder().method(method);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(()).unwrap();
    let mut sent = 0;
    let waker = Waker::from(Arc::new(Noop));
    let info = allocation_counter::measure(|| {
        let res = block_on(&waker, svc.call(req)).unwrap();
        let mut body = pin!(res.into_body());
        let mut frame = || {
            block_on(
                &waker,
                std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)),
            )
        };
        while let Some(frame) = frame() {
            sent += frame.unwrap().into_data().map_or(0, |d| d.len());
        }
    });
    (info.count_total, info.bytes_total, sent)
}

/// A case: its name, the inner service, the request, and the allocations expected.
type Case<'a> = (&'a str, Inner, Method, &'a [(&'a str, &'a str)], u64);

#[test]
fn allocations_per_request() {
    let one: &[_] = &[("Range", "bytes=100-199")];
    let four: &[_] = &[("Range", "bytes=0-9,1000-1009,2000-2009,3000-3009")];
    let cases: [Case<'_>; 12] = [
        // Untouched: nothing.
        ("POST, passed through", Inner::Full, Method::POST, &[], 0),
        // `Accept-Ranges: bytes` is a static value, and fits the inner's map.
        ("200, Accept-Ranges added", Inner::Full, Method::GET, &[], 0),
        // Bytes in memory are sliced, never copied. One: the state of a body the
        // layer reads or cuts is boxed, as a response is moved several times on its way
        // to the connection, and that state is many times the size of most bodies.
        (
            "200 read from RangeSource::bytes",
            Inner::Bytes,
            Method::GET,
            &[],
            1,
        ),
        // Three: the body's state, `Content-Range` and `Content-Length` written into
        // one buffer, and the reference count that `bytes` adds when a buffer is split.
        (
            "206, one range, cut from the body",
            Inner::Full,
            Method::GET,
            one,
            3,
        ),
        (
            "206, one range, from RangeSource::bytes",
            Inner::Bytes,
            Method::GET,
            one,
            3,
        ),
        // The same three, and the data buffer of the one read.
        (
            "206, one range, from RangeSource::file",
            Inner::File,
            Method::GET,
            one,
            4,
        ),
        // The same three, and one data buffer for 30 reads of 32 KiB, with its reference
        // count: each read goes into the buffer of the one before, once the body's
        // consumer has let it go (no 32 KiB buffer and no zeroing per read). The last
        // chunk is kept for the thread's next reads.
        (
            "206, 960 KiB from RangeSource::file",
            Inner::File,
            Method::GET,
            &[("Range", "bytes=0-983039")],
            5,
        ),
        // The same three: the reads go into the buffer the request before kept.
        (
            "206, 960 KiB from RangeSource::file, again",
            Inner::File,
            Method::GET,
            &[("Range", "bytes=0-983039")],
            3,
        ),
        // The same three, and the canonical `Range` handed on (a client's canonical
        // form is handed on as it came).
        (
            "206, one range not in canonical form",
            Inner::Full,
            Method::GET,
            &[("Range", "bytes= 100-199")],
            4,
        ),
        // `Content-Range: bytes */len`, and its reference count (`Content-Length: 0`
        // is static).
        (
            "416",
            Inner::Full,
            Method::GET,
            &[("Range", "bytes=2000000-")],
            2,
        ),
        // The preconditions taken off the request (boxed: most requests have none),
        // the lines of `If-None-Match` among them, and the names of the fields a `304`
        // drops.
        (
            "304",
            Inner::Full,
            Method::GET,
            &[("If-None-Match", "\"v1\"")],
            3,
        ),
        // Twelve: the parsed set (its vector, grown once), the resolved ranges, the
        // merging (two vectors and the result), the framing of every part in one buffer
        // and its reference count, the list of parts, `Content-Type` with its boundary
        // and `Content-Length` in one buffer and its reference count, and the body's
        // state.
        ("206, 4 parts", Inner::Bytes, Method::GET, four, 12),
    ];
    let mut wrong = Vec::new();
    for (name, inner, method, range, expected) in cases {
        let (allocations, allocated, sent) = count(inner, method, range);
        eprintln!("{name}: {allocations} allocations of {allocated} bytes, {sent} bytes sent");
        if sent > 100_000 && allocated > 64 * 1024 {
            wrong.push(format!(
                "{name}: {allocated} bytes allocated for {sent} sent"
            ));
        }
        if allocations != expected {
            wrong.push(format!("{name}: {allocations}, expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
