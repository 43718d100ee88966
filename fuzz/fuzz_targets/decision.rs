//! The whole decision and body, through the public API: request headers (`Range`,
//! `If-Range`, and the four preconditions), a representation length and chunking, and
//! the inner validators go in; the response must be 200, 206, 304, 412 or 416, with a
//! `Content-Range` inside the length, a `Content-Length` equal to the bytes sent, bytes
//! equal to the source, and no content in a 304 or 412.
//!
//! Input: two bytes of length, one of flags, then the header values separated by
//! newlines: `Range`, `If-Range`, `If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use tower::{service_fn, Layer, ServiceExt};
use tower_range::RangeLayer;

/// Runs a future that never waits on I/O to completion.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn byte_at(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 4 {
        return;
    }
    let len = usize::from(u16::from_le_bytes([input[0], input[1]])) % 5000;
    let flags = input[2];
    let mut fields = input[3..].split(|&b| b == b'\n');
    let range = fields.next().unwrap_or_default();
    let if_range = fields.next();
    let preconditions = [
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
    ]
    .map(|name| (name, fields.next()));
    let source: Bytes = (0..len).map(byte_at).collect();

    let body = source.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let mut res = Response::new(Full::new(body.clone()));
        res.headers_mut()
            .insert(header::ETAG, HeaderValue::from_static("\"v1\""));
        res.headers_mut().insert(
            header::LAST_MODIFIED,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        if flags & 2 != 0 {
            res.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let method = if flags & 1 != 0 {
        Method::HEAD
    } else {
        Method::GET
    };
    let mut req = Request::builder().method(method.clone());
    if let Ok(value) = HeaderValue::from_bytes(range) {
        req = req.header(header::RANGE, value);
    }
    if let Some(Ok(value)) = if_range.map(HeaderValue::from_bytes) {
        req = req.header(header::IF_RANGE, value);
    }
    for (name, value) in preconditions {
        if let Some(Ok(value)) = value.map(HeaderValue::from_bytes) {
            req = req.header(name, value);
        }
    }
    let Ok(req) = req.body(()) else { return };
    let layer = RangeLayer::new().max_ranges(usize::from(flags >> 2).max(1));
    let res = block_on(layer.layer(inner).oneshot(req)).unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = block_on(res.into_body().collect()).unwrap().to_bytes();
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
    };
    let declared: usize = text(header::CONTENT_LENGTH).map_or(body.len(), |v| v.parse().unwrap());
    if method == Method::GET {
        assert_eq!(
            declared,
            body.len(),
            "Content-Length must equal the bytes sent"
        );
    }
    match status {
        200 => {
            assert!(text(header::CONTENT_RANGE).is_none());
            if method == Method::GET {
                assert_eq!(body, source);
            }
        }
        416 => {
            assert_eq!(text(header::CONTENT_RANGE), Some(format!("bytes */{len}")));
            assert!(body.is_empty());
        }
        206 => {
            assert!(len > 0, "an empty representation is never partial");
            if let Some(cr) = text(header::CONTENT_RANGE) {
                let (span, total) = cr.strip_prefix("bytes ").unwrap().split_once('/').unwrap();
                assert_eq!(total.parse::<usize>().unwrap(), len);
                let (a, b) = span.split_once('-').unwrap();
                let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
                assert!(a <= b && b < len, "{cr} is outside the representation");
                assert_eq!(declared, b - a + 1);
                if method == Method::GET {
                    assert_eq!(body, source.slice(a..=b));
                }
            } else {
                let ct = text(header::CONTENT_TYPE).unwrap();
                assert!(ct.starts_with("multipart/byteranges; boundary="));
                // Parts are disjoint, so a response never exceeds the representation
                // plus about 130 bytes of framing per part.
                assert!(
                    declared <= len + 130 * 64 + 64,
                    "{declared} bytes for {len}"
                );
            }
        }
        304 | 412 => {
            assert!(body.is_empty(), "a {status} has no content");
            assert!(text(header::CONTENT_RANGE).is_none());
            assert!(text(header::CONTENT_TYPE).is_none());
            let expected = (status == 412).then(|| "0".to_owned());
            assert_eq!(text(header::CONTENT_LENGTH), expected);
        }
        other => panic!("unexpected status {other}"),
    }
});
