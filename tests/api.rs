//! The public API's promises: the auto traits a server needs, tower-http's way of
//! building a middleware, one error type for a source that ends short, and a
//! `RandomAccess` written with `read_range` alone working end to end.

mod support;

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Ready;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use support::content;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_range::{
    BoxError, RandomAccess, RangeBodyError, RangeLayer, RangeService, RangeSource, RangeStream,
    ResponseBody, ResponseFuture, SourceBody,
};

fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send_sync<T: Send + Sync + 'static>() {}
fn clone<T: Clone>() {}
fn copy<T: Copy>() {}

type Inner = tower::util::BoxCloneService<Request<()>, Response<Full<Bytes>>, Infallible>;

#[test]
fn public_types_have_the_expected_auto_traits() {
    send_sync_unpin::<ResponseBody<Full<Bytes>>>();
    send_sync_unpin::<SourceBody>();
    send_sync_unpin::<RangeStream>();
    send_sync::<RangeSource>();
    send_sync::<RangeBodyError>();
    send_sync::<ResponseFuture<Ready<Result<Response<Full<Bytes>>, Infallible>>>>();
    clone::<RangeSource>();
    clone::<RangeService<Inner>>();
    copy::<RangeLayer>();
}

#[tokio::test]
async fn range_stream_takes_a_stream_that_is_send_but_not_sync() {
    // A `Cell` held across an await: the future, and the stream, are not `Sync`.
    let read = async {
        let byte = Cell::new(b'x');
        tokio::task::yield_now().await;
        Ok::<_, std::io::Error>(Bytes::from(vec![byte.get(); 3]))
    };
    let stream = RangeStream::new(futures_util::stream::once(read));
    send_sync_unpin::<RangeStream>();
    let bytes: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(stream).await;
    assert_eq!(bytes.len(), 1);
    assert_eq!(bytes[0].as_ref().unwrap(), "xxx");
}

/// A handler that answers with `data` whole, and a [`RangeSource`] of `source`.
fn handler(data: Bytes, source: RangeSource) -> Inner {
    Inner::new(service_fn(move |_req: Request<()>| {
        let mut res = Response::new(Full::new(data.clone()));
        res.extensions_mut().insert(source.clone());
        std::future::ready(Ok(res))
    }))
}

#[tokio::test]
async fn range_service_is_built_as_tower_http_builds_its_middleware() {
    let data = content(1000);
    let source = RangeSource::bytes(data.clone());
    let req = || {
        Request::get("/")
            .header(header::RANGE, "bytes=10-19,0-4")
            .body(())
            .unwrap()
    };
    let svc = RangeService::new(handler(data.clone(), source.clone()));
    let res = svc.oneshot(req()).await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);

    // `RangeService::layer()` names no service type, and gives the layer's settings.
    let svc = ServiceBuilder::new()
        .layer(RangeService::layer().max_ranges(1))
        .service(handler(data, source));
    let res = svc.oneshot(req()).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "two ranges pass max_ranges(1)"
    );
}

/// Storage that implements `read_range` alone: one "request" per range, answered in
/// pieces of 7 bytes, counted.
#[derive(Clone)]
struct Remote {
    data: Bytes,
    /// Pretend the storage holds only this many bytes.
    holds: usize,
    requests: Arc<std::sync::Mutex<Vec<Range<u64>>>>,
}

impl RandomAccess for Remote {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        self.requests.lock().unwrap().push(range.clone());
        let start = (range.start as usize).min(self.holds);
        let end = (range.end as usize).min(self.holds);
        let pieces: Vec<Result<Bytes, std::io::Error>> = (start..end)
            .step_by(7)
            .map(|at| Ok(self.data.slice(at..(at + 7).min(end))))
            .collect();
        RangeStream::new(futures_util::stream::iter(pieces))
    }
}

fn remote(len: usize, holds: usize) -> Remote {
    Remote {
        data: content(len),
        holds,
        requests: Arc::default(),
    }
}

#[tokio::test]
async fn random_access_with_only_read_range_serves_ranges_end_to_end() {
    let storage = remote(5000, 5000);
    let data = storage.data.clone();
    let source = RangeSource::new(storage.clone(), 5000);
    let req = Request::get("/")
        .header(header::RANGE, "bytes=4000-4099,-10,0-0")
        .body(())
        .unwrap();
    let res = RangeLayer::new()
        .layer(handler(data.clone(), source.clone()))
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let content_type = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let parts = support::parse_multipart(&content_type, &body);
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0].1, &data[4000..4100], "in the order requested");
    assert_eq!(parts[1].1, &data[4990..]);
    assert_eq!(parts[2].1, &data[..1]);
    assert_eq!(
        *storage.requests.lock().unwrap(),
        [4000..4100, 4990..5000, 0..1],
        "one read_range per part"
    );

    let whole = source.body().collect().await.unwrap().to_bytes();
    assert_eq!(whole, data, "the source's body is the whole representation");
}

/// The error that `body` fails with, after the bytes it sent.
async fn failure<B>(body: B) -> (usize, BoxError)
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let mut body = body;
    let mut sent = 0;
    loop {
        match body.frame().await {
            Some(Ok(frame)) => sent += frame.into_data().map_or(0, |d| d.len()),
            Some(Err(err)) => return (sent, err),
            None => panic!("a body whose source ends short must fail, not end"),
        }
    }
}

fn short_file(len: usize, name: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("tower-range-{name}-{}", std::process::id()));
    std::fs::write(&path, content(len)).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

#[tokio::test]
async fn a_source_that_ends_short_fails_with_a_range_body_error_everywhere() {
    // Each source claims 1000 bytes and holds 900.
    let sources = [
        RangeSource::file(short_file(900, "short"), 1000),
        RangeSource::new(remote(1000, 900), 1000),
    ];
    let missing = Some(&RangeBodyError::UnexpectedEnd { missing: 100 });
    for source in sources {
        let (sent, err) = failure(source.body()).await;
        assert_eq!(sent, 900);
        assert_eq!(err.downcast_ref::<RangeBodyError>(), missing, "SourceBody");

        let svc = RangeLayer::new().layer(handler(content(1000), source.clone()));
        let res = svc.clone().oneshot(Request::get("/").body(()).unwrap());
        let (sent, err) = failure(res.await.unwrap().into_body()).await;
        assert_eq!(sent, 900);
        let err = err.downcast_ref::<RangeBodyError>();
        assert_eq!(err, missing, "ResponseBody of a 200");

        let req = Request::get("/")
            .header(header::RANGE, "bytes=850-")
            .body(())
            .unwrap();
        let (sent, err) = failure(svc.oneshot(req).await.unwrap().into_body()).await;
        assert_eq!(sent, 50);
        let err = err.downcast_ref::<RangeBodyError>();
        assert_eq!(err, missing, "ResponseBody of a 206");
    }
}
