//! `ObjectService` under `RangeLayer`, over an in-memory store that answers each request
//! after a fixed latency (0, 10 and 50 ms, a store's round trip): one range against 16
//! ranges of 64 KiB, 4 MiB apart (fetched ahead, and one at a time), and the first byte
//! of a range with the object's metadata cached or not.
//!
//! `cargo bench --bench object_store --features object-store`

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use futures_core::Stream;
use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use tower::{Layer, ServiceExt};
use tower_range::{ObjectService, RangeLayer, RangeService};

const PART: u64 = 64 * 1024;
const STRIDE: u64 = 4 << 20;
const PARTS: u64 = 16;

type BoxStream<T> = std::pin::Pin<Box<dyn Stream<Item = T> + Send>>;

/// `InMemory`, answering every request `wait` late.
struct Latency {
    inner: InMemory,
    wait: Duration,
}

impl fmt::Debug for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Latency({:?})", self.wait)
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[async_trait]
impl ObjectStore for Latency {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if !self.wait.is_zero() {
            tokio::time::sleep(self.wait).await;
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<Result<Path>>) -> BoxStream<Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

fn ranges(parts: u64) -> String {
    let specs: Vec<_> = (0..parts)
        .map(|i| format!("{}-{}", i * STRIDE, i * STRIDE + PART - 1))
        .collect();
    format!("bytes={}", specs.join(","))
}

/// Sends `range` and reads the whole body; returns its length.
async fn fetch(svc: &RangeService<ObjectService>, range: &str) -> usize {
    let req = Request::get("/object")
        .header(header::RANGE, range)
        .body(())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    res.into_body().collect().await.unwrap().to_bytes().len()
}

/// Sends `range` and waits for its first byte only.
async fn first_byte(svc: &RangeService<ObjectService>, range: &str) {
    let req = Request::get("/object")
        .header(header::RANGE, range)
        .body(())
        .unwrap();
    let mut body = svc.clone().oneshot(req).await.unwrap().into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert!(!frame.into_data().unwrap().is_empty());
}

fn object_store(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("object_store");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for ms in [0, 10, 50] {
        let store = Arc::new(Latency {
            inner: InMemory::new(),
            wait: Duration::from_millis(ms),
        });
        let data: Vec<u8> = (0..PARTS * STRIDE).map(|i| (i % 251) as u8).collect();
        rt.block_on(
            store
                .inner
                .put(&Path::from("object"), Bytes::from(data).into()),
        )
        .unwrap();
        let store: Arc<dyn ObjectStore> = store;
        let cached = RangeLayer::new().layer(ObjectService::new(Arc::clone(&store)));
        let serial = RangeLayer::new().layer(ObjectService::new(Arc::clone(&store)).prefetch(0));
        let uncached = RangeLayer::new()
            .layer(ObjectService::new(Arc::clone(&store)).metadata_ttl(Duration::ZERO));
        // Warm the caches: from here a request costs its GETs only.
        rt.block_on(fetch(&cached, &ranges(1)));
        rt.block_on(fetch(&serial, &ranges(1)));

        let latency = format!("{ms}ms");
        let (one, sixteen) = (ranges(1), ranges(PARTS));
        group.bench_function(BenchmarkId::new("1 part", &latency), |b| {
            b.iter(|| rt.block_on(fetch(&cached, &one)));
        });
        group.bench_function(BenchmarkId::new("16 parts", &latency), |b| {
            b.iter(|| rt.block_on(fetch(&cached, &sixteen)));
        });
        group.bench_function(BenchmarkId::new("16 parts, one at a time", &latency), |b| {
            b.iter(|| rt.block_on(fetch(&serial, &sixteen)));
        });
        let tail = format!("bytes={}-", 9 * STRIDE);
        group.bench_function(
            BenchmarkId::new("first byte, metadata cached", &latency),
            |b| {
                b.iter(|| rt.block_on(first_byte(&cached, &tail)));
            },
        );
        group.bench_function(BenchmarkId::new("first byte, uncached", &latency), |b| {
            b.iter(|| rt.block_on(first_byte(&uncached, &tail)));
        });
    }
    group.finish();
}

criterion_group!(benches, object_store);
criterion_main!(benches);
