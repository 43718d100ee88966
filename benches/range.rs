//! Micro benchmarks: parsing and planning, preconditions, slicing throughput, multipart
//! framing, and a tail range versus a head range of a 1 GiB file read through
//! `RangeSource::file`.
//!
//! `cargo bench --bench range`; one group: `cargo bench --bench range -- seek`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::{header, Method, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tower::{service_fn, Layer, ServiceExt};
use tower_range::{RangeLayer, RangeSource};

/// An in-memory body of prepared frames, like a file read in chunks.
struct Frames {
    frames: VecDeque<Bytes>,
    remaining: u64,
}

impl Frames {
    fn new(frames: &[Bytes]) -> Self {
        Self {
            remaining: frames.iter().map(|f| f.len() as u64).sum(),
            frames: frames.iter().cloned().collect(),
        }
    }
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = self.frames.pop_front();
        if let Some(f) = &frame {
            self.remaining -= f.len() as u64;
        }
        Poll::Ready(frame.map(|f| Ok(Frame::data(f))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn frames(len: usize, frame: usize) -> Vec<Bytes> {
    let data = Bytes::from((0..len).map(|i| i as u8).collect::<Vec<u8>>());
    (0..len)
        .step_by(frame)
        .map(|i| data.slice(i..(i + frame).min(len)))
        .collect()
}

/// Sends one request through the layer over `frames` and returns the bytes received.
async fn run(layer: RangeLayer, frames: &[Bytes], method: Method, range: &str) -> usize {
    let mut body = Some(Frames::new(frames));
    let inner = service_fn(move |_req: Request<()>| {
        let body = body.take().expect("one request");
        std::future::ready(Ok::<_, Infallible>(Response::new(body)))
    });
    let req = Request::builder()
        .method(method)
        .header(header::RANGE, range)
        .body(())
        .unwrap();
    let mut body = layer.layer(inner).oneshot(req).await.unwrap().into_body();
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        received += frame.unwrap().into_data().map_or(0, |d| d.len());
    }
    received
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn parse_and_plan(c: &mut Criterion) {
    let rt = current_thread();
    let body = frames(1 << 20, 1 << 20);
    let layer = RangeLayer::new().max_ranges(1000);
    let mut group = c.benchmark_group("plan");
    for n in [1usize, 10, 1000] {
        let set: Vec<String> = (0..n)
            .map(|i| format!("{}-{}", i * 1000, i * 1000 + 499))
            .collect();
        let range = format!("bytes={}", set.join(","));
        // HEAD: parsing, If-Range, resolution, coalescing and headers, but no body.
        group.bench_with_input(BenchmarkId::from_parameter(n), &range, |b, range| {
            b.iter(|| rt.block_on(run(layer, &body, Method::HEAD, range)));
        });
    }
    group.finish();
}

/// A request field for [`conditional`].
type Field = (header::HeaderName, &'static str);

/// One `HEAD` with `headers` to an inner `200` with an `ETag` and a `Last-Modified`,
/// through the default layer; returns the status.
async fn conditional(frames: &[Bytes], headers: &[Field]) -> u16 {
    let mut body = Some(Frames::new(frames));
    let inner = service_fn(move |_req: Request<()>| {
        let mut res = Response::new(body.take().expect("one request"));
        let fields = res.headers_mut();
        fields.insert(header::ETAG, header::HeaderValue::from_static("\"v1\""));
        fields.insert(
            header::LAST_MODIFIED,
            header::HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        std::future::ready(Ok::<_, Infallible>(res))
    });
    let mut req = Request::head("/");
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    let res = RangeLayer::new()
        .layer(inner)
        .oneshot(req.body(()).unwrap())
        .await
        .unwrap();
    res.status().as_u16()
}

fn preconditions(c: &mut Criterion) {
    let rt = current_thread();
    let body = frames(1 << 20, 1 << 20);
    let mut group = c.benchmark_group("preconditions");
    // The same range with no condition, with a player's conditions that pass (206), and
    // with a revalidation that ends in 304.
    let range = (header::RANGE, "bytes=0-499");
    let cases: [(&str, Vec<Field>, u16); 3] = [
        ("range_only", vec![range.clone()], 206),
        (
            "range_if_match_if_unmodified_since_if_range_date",
            vec![
                range.clone(),
                (header::IF_MATCH, "\"v0\", \"v1\""),
                (header::IF_UNMODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
                (header::IF_RANGE, "Sun, 06 Nov 1994 08:49:37 GMT"),
            ],
            206,
        ),
        (
            "if_none_match_if_modified_since_304",
            vec![
                (header::IF_NONE_MATCH, "W/\"v0\", W/\"v1\""),
                (header::IF_MODIFIED_SINCE, "Sun, 06 Nov 1994 08:49:37 GMT"),
            ],
            304,
        ),
    ];
    for (name, headers, status) in cases {
        assert_eq!(rt.block_on(conditional(&body, &headers)), status, "{name}");
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(conditional(&body, &headers)));
        });
    }
    group.finish();
}

fn slice(c: &mut Criterion) {
    let rt = current_thread();
    let body = frames(16 << 20, 64 << 10);
    // Confirm the zero-copy claim: the ranged frames point into the source frames.
    rt.block_on(async {
        let source = body.clone();
        let inner = service_fn(move |_req: Request<()>| {
            std::future::ready(Ok::<_, Infallible>(Response::new(Frames::new(&source))))
        });
        let req = Request::get("/")
            .header(header::RANGE, "bytes=100-")
            .body(())
            .unwrap();
        let mut res = RangeLayer::new()
            .layer(inner)
            .oneshot(req)
            .await
            .unwrap()
            .into_body();
        let first = res.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(
            first.as_ptr(),
            body[0][100..].as_ptr(),
            "slicing must not copy"
        );
    });
    let mut group = c.benchmark_group("slice");
    group.throughput(Throughput::Bytes(14 << 20));
    group.bench_function("14MiB_of_16MiB_in_64KiB_frames", |b| {
        b.iter(|| {
            rt.block_on(run(
                RangeLayer::new(),
                &body,
                Method::GET,
                "bytes=1048576-15728639",
            ))
        });
    });
    group.finish();
}

fn multipart(c: &mut Criterion) {
    let rt = current_thread();
    let body = frames(1 << 20, 16 << 10);
    let set: Vec<String> = (0..16)
        .map(|i| format!("{}-{}", i * 65536, i * 65536 + 4095))
        .collect();
    let range = format!("bytes={}", set.join(","));
    let mut group = c.benchmark_group("multipart");
    group.throughput(Throughput::Bytes(16 * 4096));
    group.bench_function("16_parts_of_4KiB", |b| {
        b.iter(|| rt.block_on(run(RangeLayer::new(), &body, Method::GET, &range)));
    });
    group.finish();
}

/// A 1 GiB file under `target/`, written once.
fn big_file() -> PathBuf {
    const LEN: u64 = 1 << 30;
    let path = PathBuf::from(option_env!("CARGO_TARGET_TMPDIR").unwrap_or("target"))
        .join("bench-1GiB.bin");
    if std::fs::metadata(&path).ok().map(|m| m.len()) != Some(LEN) {
        let mut file = std::fs::File::create(&path).unwrap();
        let block: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
        for _ in 0..1024 {
            file.write_all(&block).unwrap();
        }
    }
    path
}

fn seek(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let path = big_file();
    let file = std::fs::File::open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    let source = RangeSource::file(file, len);
    let mut group = c.benchmark_group("seek_1GiB_file");
    group.throughput(Throughput::Bytes(1 << 20));
    for (name, range) in [
        ("first_1MiB", "bytes=0-1048575".to_owned()),
        ("last_1MiB", format!("bytes={}-", len - (1 << 20))),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let source = source.clone();
                    let inner = service_fn(move |_req: Request<()>| {
                        // The inner body would stream the whole file; it is never read.
                        let mut res = Response::new(Frames {
                            frames: VecDeque::new(),
                            remaining: len,
                        });
                        res.extensions_mut().insert(source.clone());
                        std::future::ready(Ok::<_, Infallible>(res))
                    });
                    let req = Request::get("/")
                        .header(header::RANGE, range.as_str())
                        .body(())
                        .unwrap();
                    let body = RangeLayer::new().layer(inner).oneshot(req).await.unwrap();
                    let bytes = body.into_body().collect().await.unwrap().to_bytes();
                    assert_eq!(bytes.len(), 1 << 20);
                })
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    parse_and_plan,
    preconditions,
    slice,
    multipart,
    seek
);
criterion_main!(benches);
