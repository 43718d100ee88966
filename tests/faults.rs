//! Faults and abuse over real TCP: a client that leaves mid-range, an inner service
//! that fails, HTTP/2 with many streams, and hostile headers.

mod support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use support::{content, get, serve_ranged, Inner, Probe, Scripted, Step};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::{service_fn, Layer, ServiceExt};
use tower_range::RangeLayer;

#[tokio::test]
async fn client_leaving_mid_range_drops_the_inner_body_promptly() {
    // An endless inner body: only the client's departure can end this response.
    let probe = Probe::default();
    let p = probe.clone();
    let inner = service_fn(move |_req: Request<hyper::body::Incoming>| {
        let frame = Bytes::from(vec![9u8; 16 * 1024]);
        let body = Scripted::endless(frame, u64::MAX / 2, &p);
        async move { Ok::<_, std::convert::Infallible>(Response::new(body)) }
    });
    let addr = support::serve(RangeLayer::new().layer(inner)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=100-\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    stream.read_exact(&mut buf).await.unwrap();
    assert!(!probe.dropped());
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !probe.dropped() {
        assert!(
            Instant::now() < deadline,
            "the inner body must be dropped when the client leaves"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn inner_service_error_passes_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct Boom(u32);
    let inner = service_fn(|_req: Request<()>| async { Err::<Response<Empty<Bytes>>, _>(Boom(7)) });
    let req = Request::get("/")
        .header("range", "bytes=0-1")
        .body(())
        .unwrap();
    let err = RangeLayer::new()
        .layer(inner)
        .oneshot(req)
        .await
        .unwrap_err();
    assert_eq!(err, Boom(7));
}

#[tokio::test]
async fn inner_body_failing_before_the_range_aborts_the_response() {
    let probe = Probe::default();
    let p = probe.clone();
    let inner = service_fn(move |_req: Request<hyper::body::Incoming>| {
        let steps = VecDeque::from([Step::Data(content(1000)), Step::Fail]);
        let body = Scripted::new(steps, Some(5000), &p);
        async move { Ok::<_, std::convert::Infallible>(Response::new(body)) }
    });
    let addr = support::serve(RangeLayer::new().layer(inner)).await;
    let reply = get(addr, &[("Range", "bytes=2000-2999")]).await;
    assert!(
        !reply.complete,
        "the client must see a broken transfer, not a clean short body"
    );
}

#[tokio::test]
async fn http2_with_a_hundred_concurrent_range_streams_is_byte_exact() {
    const LEN: usize = 1 << 20;
    let inner = Inner::new(content(LEN)).chunk(10_000);
    let svc = RangeLayer::new().layer(inner);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .max_concurrent_streams(200)
            .serve_connection(TokioIo::new(stream), svc)
            .await
            .unwrap();
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let mut sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let (first, last) = (
                i * 9973 % LEN,
                (i * 9973 % LEN + 5000 + i * 97).min(LEN - 1),
            );
            let range = if i % 10 == 0 {
                format!("bytes={first}-{last},-{}", i + 1)
            } else {
                format!("bytes={first}-{last}")
            };
            let req = Request::get(format!("http://{addr}/"))
                .header("range", range)
                .body(Empty::<Bytes>::new())
                .unwrap();
            sender.ready().await.unwrap();
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
            let ct = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let data = content(LEN);
            if i % 10 == 0 {
                let parts = support::parse_multipart(&ct.unwrap(), &body);
                assert_eq!(parts[0].1, &data[first..=last]);
                assert_eq!(parts[1].1, &data[LEN - i - 1..]);
            } else {
                assert_eq!(body, &data[first..=last], "stream {i}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_100_kib_range_header_is_answered_quickly_and_correctly() {
    let data = content(100_000);
    let addr = serve_ranged(RangeLayer::new(), Inner::new(data.clone())).await;
    let set: Vec<String> = (0..14_000).map(|i| format!("{i}-{i}")).collect();
    let header = format!("bytes={}", set.join(","));
    assert!(header.len() > 100_000);
    let started = Instant::now();
    let reply = get(addr, &[("Range", &header)]).await;
    assert_eq!(reply.status, 200, "more than max_ranges: the whole 200");
    assert_eq!(reply.body, data);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn deeply_overlapping_sets_are_merged_not_amplified() {
    let data = content(100_000);
    let addr = serve_ranged(RangeLayer::new(), Inner::new(data.clone())).await;
    // 64 ranges that all overlap the middle, within the amplification limit.
    let set: Vec<String> = (0..64)
        .map(|i| format!("{}-{}", 50_000 - i * 10, 50_000 + i * 10))
        .collect();
    let reply = get(addr, &[("Range", &format!("bytes={}", set.join(",")))]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(
        reply.header("content-range"),
        Some("bytes 49370-50630/100000")
    );
    assert_eq!(reply.body, &data[49_370..=50_630]);
}

#[tokio::test]
async fn inner_body_polls_stay_bounded_for_a_skipped_prefix_with_tiny_frames() {
    // One-byte frames: skipping 50,000 of them must still finish, one frame per poll.
    let data = content(60_000);
    let inner = Inner::new(data.clone()).chunk(1);
    let probe = inner.probe.clone();
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    let reply = get(addr, &[("Range", "bytes=50000-50099")]).await;
    assert_eq!(reply.body, &data[50_000..50_100]);
    assert!(probe.polls() <= 50_100 + 1, "{} polls", probe.polls());
}
