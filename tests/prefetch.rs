//! Parts fetched ahead: a multipart response over an object store starts the `GET`s of
//! the next parts while one is sent, keeps the order on the wire and the bytes exact,
//! holds a bounded window of them, each waiting part at most one chunk, and drops them
//! all when the client goes. Storage that gives no hint reads one part at a time.

mod support;

use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::{header, Request, Response, StatusCode};
use http_body_util::BodyExt;
use object_store::ObjectStore;
use tower::{service_fn, Layer, ServiceExt};
use tower_range::{
    ObjectService, RandomAccess, RangeLayer, RangeSource, RangeStream, ResponseBody, SourceBody,
};

use support::{content, parse_multipart, TestStore};

/// 16 ranges of 64 KiB, 256 KiB apart, of an object of 4 MiB.
const PARTS: usize = 16;
const PART: usize = 64 * 1024;
const STRIDE: usize = 256 * 1024;

fn ranges(parts: usize) -> Vec<Range<usize>> {
    (0..parts).map(|i| i * STRIDE..i * STRIDE + PART).collect()
}

fn range_header(ranges: &[Range<usize>]) -> String {
    let specs: Vec<_> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.start, r.end - 1))
        .collect();
    format!("bytes={}", specs.join(","))
}

async fn object(store: &TestStore) -> Bytes {
    let data = content(PARTS * STRIDE);
    store.put_bytes("big", data.clone()).await;
    data
}

async fn request(
    service: ObjectService,
    ranges: &[Range<usize>],
) -> Response<ResponseBody<SourceBody>> {
    let req = Request::get("/big")
        .header(header::RANGE, range_header(ranges))
        .body(())
        .unwrap();
    let res = RangeLayer::new().layer(service).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    res
}

/// Checks a multipart body against `data`: each part, in the order asked, holds
/// exactly the bytes of its range.
fn check_parts(res_type: &str, wire: &[u8], data: &Bytes, ranges: &[Range<usize>]) {
    let parts = parse_multipart(res_type, wire);
    assert_eq!(parts.len(), ranges.len());
    for (i, ((headers, bytes), range)) in parts.iter().zip(ranges).enumerate() {
        let content_range = &headers
            .iter()
            .find(|(n, _)| n == "content-range")
            .unwrap()
            .1;
        let want = format!("bytes {}-{}/{}", range.start, range.end - 1, data.len());
        assert_eq!(content_range, &want, "part {i} out of order");
        assert!(bytes[..] == data[range.clone()], "part {i}: wrong bytes");
    }
}

fn service(store: &Arc<TestStore>) -> ObjectService {
    ObjectService::new(Arc::clone(store) as Arc<dyn ObjectStore>)
}

#[tokio::test(start_paused = true)]
async fn parts_fetched_ahead_go_out_in_order_byte_exact() {
    let store = Arc::new(TestStore::with_chunk(4096));
    store.set_latency(Duration::from_millis(50));
    let data = object(&store).await;
    // Backwards and interleaved: the order on the wire is the request's.
    let mut asked = ranges(PARTS);
    asked.reverse();
    asked.swap(3, 9);
    let res = request(service(&store), &asked).await;
    let content_type = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let wire = res.into_body().collect().await.unwrap().to_bytes();
    check_parts(&content_type, &wire, &data, &asked);
    assert!(store.max_open() > 1, "parts must have been fetched ahead");
}

#[tokio::test(start_paused = true)]
async fn the_window_bounds_the_gets_in_flight() {
    for (prefetch, parts, most) in [(3, 10, 4), (7, 16, 8), (7, 3, 3), (0, 5, 1)] {
        let store = Arc::new(TestStore::with_chunk(4096));
        store.set_latency(Duration::from_millis(50));
        object(&store).await;
        let res = request(service(&store).prefetch(prefetch), &ranges(parts)).await;
        res.into_body().collect().await.unwrap();
        assert_eq!(
            store.max_open(),
            most,
            "prefetch {prefetch} over {parts} parts: GETs open at once"
        );
        assert_eq!(store.gets().len(), parts, "one GET per part");
    }
}

#[tokio::test]
async fn a_waiting_part_holds_at_most_one_chunk() {
    // Parts of 16 chunks each, and a store that answers at once: every part read
    // ahead could stream all of its chunks if it were polled on.
    let store = Arc::new(TestStore::with_chunk(PART / 16));
    let data = object(&store).await;
    let asked = ranges(PARTS);
    let res = request(service(&store).prefetch(5), &asked).await;
    let content_type = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let mut body = res.into_body();
    let mut wire = Vec::new();
    let mut saw_ahead = false;
    while let Some(frame) = body.frame().await {
        wire.extend_from_slice(&frame.unwrap().into_data().unwrap());
        let gets = store.gets();
        let streaming: Vec<_> = gets
            .iter()
            .filter(|g| !g.dropped() && g.yielded() > 1)
            .collect();
        assert!(
            streaming.len() <= 1,
            "only the part being sent streams on: {streaming:?}"
        );
        let waiting: Vec<_> = gets
            .iter()
            .filter(|g| !g.dropped() && g.yielded() == 1)
            .collect();
        assert!(waiting.len() <= 5 + 1, "the window holds");
        saw_ahead |= waiting.len() >= 5;
    }
    assert!(saw_ahead, "parts must have been held ahead");
    check_parts(&content_type, &wire, &data, &asked);
    assert!(store.gets().iter().all(|g| g.yielded() == 16));
}

#[tokio::test(start_paused = true)]
async fn a_client_that_leaves_drops_every_get() {
    let store = Arc::new(TestStore::with_chunk(1024));
    store.set_latency(Duration::from_millis(50));
    object(&store).await;
    let res = request(service(&store), &ranges(PARTS)).await;
    let mut body = res.into_body();
    // The first part's framing, then its first bytes.
    body.frame().await.unwrap().unwrap();
    body.frame().await.unwrap().unwrap();
    assert_eq!(store.open(), 8, "the part being sent and 7 ahead");
    drop(body);
    assert_eq!(store.open(), 0, "every GET is dropped with the body");
    assert!(store.gets().iter().all(|g| g.dropped()));
}

/// Times one request to `svc` with a warm metadata cache, on tokio's paused clock.
async fn time_parts(store: &Arc<TestStore>, service: ObjectService, parts: usize) -> Duration {
    // Warm the metadata cache: the time is then the GETs' alone.
    let warm = Request::head("/big").body(()).unwrap();
    RangeLayer::new()
        .layer(service.clone())
        .oneshot(warm)
        .await
        .unwrap();
    store.set_latency(Duration::from_millis(50));
    let start = tokio::time::Instant::now();
    let res = request(service, &ranges(parts)).await;
    res.into_body().collect().await.unwrap();
    let took = start.elapsed();
    store.set_latency(Duration::ZERO);
    took
}

#[tokio::test(start_paused = true)]
async fn sixteen_parts_take_at_most_three_times_one() {
    let store = Arc::new(TestStore::with_chunk(16 * 1024));
    object(&store).await;
    let svc = service(&store);
    let one = time_parts(&store, svc.clone(), 1).await;
    let sixteen = time_parts(&store, svc.clone(), PARTS).await;
    let trip = Duration::from_millis(50);
    assert!(
        one >= trip && one < trip * 11 / 10,
        "one part: one round trip, {one:?}"
    );
    assert!(sixteen <= 3 * one, "16 parts took {sixteen:?}, one {one:?}");
    let serial = time_parts(&store, svc.prefetch(0), PARTS).await;
    assert!(
        serial >= 16 * trip,
        "without prefetch, a round trip per part: {serial:?}"
    );
}

/// Storage that counts its streams alive at once, and gives no prefetch hint.
struct Counting {
    data: Bytes,
    alive: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

struct CountedStream {
    data: Bytes,
    alive: Arc<AtomicUsize>,
}

impl Stream for CountedStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let n = self.data.len().min(100);
        Poll::Ready((n > 0).then(|| Ok(self.data.split_to(n))))
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RandomAccess for Counting {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        let now = self.alive.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        RangeStream::new(CountedStream {
            data: self.data.slice(range.start as usize..range.end as usize),
            alive: Arc::clone(&self.alive),
        })
    }
}

/// [`Counting`] with a hint of 2.
struct Hinted(Counting);

impl RandomAccess for Hinted {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        self.0.read_range(range)
    }

    fn prefetch(&self) -> usize {
        2
    }
}

/// Five ranges of `access` through the layer; returns the most streams alive at once.
async fn most_alive(access: impl RandomAccess, data: &Bytes, counters: &Counting) -> usize {
    let source = RangeSource::new(access, data.len() as u64);
    let inner = service_fn(move |_req: Request<()>| {
        let source = source.clone();
        async move {
            let mut res = Response::new(source.body());
            res.extensions_mut().insert(source);
            Ok::<_, std::convert::Infallible>(res)
        }
    });
    let req = Request::get("/")
        .header(
            header::RANGE,
            "bytes=0-99,1000-1099,2000-2099,3000-3099,4000-4099",
        )
        .body(())
        .unwrap();
    let res = RangeLayer::new().layer(inner).oneshot(req).await.unwrap();
    let wire = res.into_body().collect().await.unwrap().to_bytes();
    assert!(wire.windows(100).any(|w| w == &data[4000..4100]));
    assert_eq!(counters.alive.load(Ordering::SeqCst), 0);
    counters.most.load(Ordering::SeqCst)
}

fn counting(data: &Bytes) -> Counting {
    Counting {
        data: data.clone(),
        alive: Arc::default(),
        most: Arc::default(),
    }
}

#[tokio::test]
async fn storage_without_a_hint_reads_one_part_at_a_time() {
    let data = content(10_000);
    let plain = counting(&data);
    let shared = |c: &Counting| Counting {
        data: c.data.clone(),
        alive: Arc::clone(&c.alive),
        most: Arc::clone(&c.most),
    };
    assert_eq!(most_alive(shared(&plain), &data, &plain).await, 1);
    // A hint passes through the `Arc` the storage is shared in.
    let hinted = counting(&data);
    let access = Arc::new(Hinted(shared(&hinted)));
    assert_eq!(
        most_alive(access, &data, &hinted).await,
        3,
        "2 ahead and 1 sent"
    );
}
