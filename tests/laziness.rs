//! The ranged body is poll-driven: it reads the inner body only as it is read, stops as
//! soon as the range is complete, and fails instead of ending short.

mod support;

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::BodyExt;
use support::{content, Probe, Scripted, Step};
use tower::{service_fn, Layer, ServiceExt};
use tower_range::{RangeBodyError, RangeLayer, ResponseBody};

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Answers one request for `range` with whatever body `make` builds.
async fn respond(
    range: &str,
    make: impl FnOnce() -> Scripted + Send + 'static,
) -> Response<ResponseBody<Scripted>> {
    let make = std::sync::Mutex::new(Some(make));
    let inner = service_fn(move |_req: Request<()>| {
        let body = make.lock().unwrap().take().unwrap()();
        async move { Ok::<_, std::convert::Infallible>(Response::new(body)) }
    });
    let req = Request::get("/").header("range", range).body(()).unwrap();
    RangeLayer::new().layer(inner).oneshot(req).await.unwrap()
}

fn poll_once(
    body: &mut ResponseBody<Scripted>,
) -> Poll<Option<Result<http_body::Frame<Bytes>, tower_range::BoxError>>> {
    let waker = Waker::from(Arc::new(CountingWaker(AtomicUsize::new(0))));
    Pin::new(body).poll_frame(&mut Context::from_waker(&waker))
}

#[tokio::test]
async fn inner_body_is_not_polled_before_the_first_outer_poll() {
    let probe = Probe::default();
    let data = content(1000);
    let p = probe.clone();
    let res = respond("bytes=500-599", move || Scripted::chunked(&data, 10, &p)).await;
    assert_eq!(res.status(), 206);
    assert_eq!(probe.polls(), 0, "no inner poll before the client reads");
    drop(res);
    assert!(probe.dropped());
}

#[tokio::test]
async fn each_outer_poll_polls_the_inner_body_at_most_once() {
    let probe = Probe::default();
    let data = content(1000);
    let p = probe.clone();
    let res = respond("bytes=105-304", move || Scripted::chunked(&data, 10, &p)).await;
    let mut body = res.into_body();
    let mut outer = 0;
    let mut received = Vec::new();
    loop {
        let before = probe.polls();
        let poll = poll_once(&mut body);
        outer += 1;
        assert!(probe.polls() - before <= 1, "one inner poll per outer poll");
        match poll {
            Poll::Ready(Some(Ok(frame))) => received.extend_from_slice(&frame.into_data().unwrap()),
            Poll::Ready(None) => break,
            Poll::Pending => {}
            Poll::Ready(Some(Err(err))) => panic!("{err}"),
        }
        assert!(outer < 10_000);
    }
    assert_eq!(received, &content(1000)[105..305]);
}

#[tokio::test]
async fn range_completion_ends_the_stream_and_drops_the_inner_body() {
    let probe = Probe::default();
    let data = content(1000);
    let p = probe.clone();
    let res = respond("bytes=0-99", move || Scripted::chunked(&data, 50, &p)).await;
    let mut body = res.into_body();
    assert_eq!(body.size_hint().exact(), Some(100));
    let first = poll_once(&mut body);
    assert!(matches!(first, Poll::Ready(Some(Ok(_)))));
    assert_eq!(body.size_hint().exact(), Some(50), "size_hint counts down");
    assert!(!body.is_end_stream());
    let second = poll_once(&mut body);
    assert!(matches!(second, Poll::Ready(Some(Ok(_)))));
    assert!(
        body.is_end_stream(),
        "end of stream right after the last byte"
    );
    assert!(probe.dropped(), "the inner body is dropped, not drained");
    assert_eq!(probe.bytes(), 100, "nothing past the range was read");
    let polls = probe.polls();
    assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    assert!(matches!(poll_once(&mut body), Poll::Ready(None)));
    assert_eq!(
        probe.polls(),
        polls,
        "no inner polls after the range is done"
    );
}

#[tokio::test]
async fn range_at_the_start_of_an_endless_body_finishes() {
    let probe = Probe::default();
    let p = probe.clone();
    let frame = Bytes::from(vec![7u8; 4096]);
    let res = respond("bytes=0-9999", move || {
        Scripted::endless(frame, u64::MAX / 2, &p)
    })
    .await;
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), 10_000);
    assert_eq!(probe.polls(), 3, "must not read past the range");
}

#[tokio::test(flavor = "current_thread")]
async fn skipping_a_long_ready_prefix_does_not_starve_other_tasks() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let t = ticks.clone();
    let ticker = tokio::spawn(async move {
        loop {
            t.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
    });
    let probe = Probe::default();
    let p = probe.clone();
    let frame = Bytes::from(vec![1u8; 1024]);
    let res = respond("bytes=20000000-20000009", move || {
        Scripted::endless(frame, u64::MAX / 2, &p)
    })
    .await;
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    ticker.abort();
    assert_eq!(bytes.len(), 10);
    assert!(
        ticks.load(Ordering::SeqCst) > 1000,
        "another task on the same thread must run while the prefix is skipped"
    );
}

#[tokio::test]
async fn inner_body_ending_early_is_an_error_not_a_short_body() {
    let probe = Probe::default();
    let p = probe.clone();
    // Claims 1000 bytes but has 600.
    let res = respond("bytes=500-899", move || {
        let steps = support::chunks(&content(600), 100)
            .into_iter()
            .map(Step::Data)
            .collect();
        Scripted::new(steps, Some(1000), &p)
    })
    .await;
    let mut body = res.into_body();
    let mut received = 0;
    let err = loop {
        match body.frame().await {
            Some(Ok(frame)) => received += frame.into_data().unwrap().len(),
            Some(Err(err)) => break err,
            None => panic!("the body must fail, not end"),
        }
    };
    assert_eq!(received, 100);
    let err = err
        .downcast_ref::<RangeBodyError>()
        .expect("a RangeBodyError");
    assert_eq!(*err, RangeBodyError::UnexpectedEnd { missing: 300 });
    assert!(body.frame().await.is_none(), "after an error, None");
    assert!(body.frame().await.is_none(), "and None again");
}

#[tokio::test]
async fn inner_error_is_passed_on() {
    let probe = Probe::default();
    let p = probe.clone();
    let res = respond("bytes=0-99", move || {
        let steps = VecDeque::from([Step::Data(content(50)), Step::Fail]);
        Scripted::new(steps, Some(100), &p)
    })
    .await;
    let mut body = res.into_body();
    assert!(body.frame().await.unwrap().is_ok());
    let err = body.frame().await.unwrap().unwrap_err();
    assert_eq!(err.to_string(), "inner body failed");
    assert!(body.frame().await.is_none());
    assert!(probe.dropped(), "the failed inner body is released");
}

#[tokio::test]
async fn trailers_before_the_range_end_are_an_error() {
    let probe = Probe::default();
    let p = probe.clone();
    let res = respond("bytes=0-99", move || {
        let steps = VecDeque::from([Step::Data(content(50)), Step::Trailers(HeaderMap::new())]);
        Scripted::new(steps, Some(100), &p)
    })
    .await;
    let collected = res.into_body().collect().await;
    let err = collected.expect_err("must fail");
    assert!(err.downcast_ref::<RangeBodyError>().is_some());
}

#[tokio::test]
async fn inner_trailers_are_not_forwarded_on_206() {
    let probe = Probe::default();
    let p = probe.clone();
    let res = respond("bytes=0-", move || {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let steps = VecDeque::from([Step::Data(content(100)), Step::Trailers(trailers)]);
        Scripted::new(steps, Some(100), &p)
    })
    .await;
    assert_eq!(res.status(), 206);
    let collected = res.into_body().collect().await.unwrap();
    assert!(collected.trailers().is_none());
    assert_eq!(collected.to_bytes(), content(100));
}

#[tokio::test]
async fn pending_inner_body_is_passed_straight_back() {
    let probe = Probe::default();
    let p = probe.clone();
    let res = respond("bytes=0-9", move || {
        let steps = VecDeque::from([Step::Pending, Step::Data(content(10))]);
        Scripted::new(steps, Some(10), &p)
    })
    .await;
    let mut body = res.into_body();
    assert!(poll_once(&mut body).is_pending());
    assert!(matches!(poll_once(&mut body), Poll::Ready(Some(Ok(_)))));
}

#[tokio::test]
async fn broken_inner_body_aborts_the_transfer_over_tcp() {
    #[derive(Clone)]
    struct Failing;
    impl<B> tower::Service<Request<B>> for Failing {
        type Response = Response<Scripted>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<B>) -> Self::Future {
            // The pause lets hyper flush what it has before the failure.
            let steps = VecDeque::from([Step::Data(content(5000)), Step::Pending, Step::Fail]);
            std::future::ready(Ok(Response::new(Scripted::new(
                steps,
                Some(10_000),
                &Probe::default(),
            ))))
        }
    }
    let addr = support::serve(RangeLayer::new().layer(Failing)).await;
    let reply = support::get(addr, &[("Range", "bytes=1000-8999")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.content_length(), Some(8000));
    assert!(
        !reply.complete,
        "a broken transfer must never look complete"
    );
    assert_eq!(reply.body, &content(5000)[1000..]);
}
