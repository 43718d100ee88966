//! `RangeSource`: ranges are read at their offset, in the order requested, and the
//! inner body is dropped unread.

mod support;

use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt};
use support::{content, Probe, Scripted};
use tower::{service_fn, Layer, ServiceExt};
use tower_range::{RandomAccess, RangeBodyError, RangeLayer, RangeSource, RangeStream};

const LEN: usize = 4 << 20;

/// In-memory storage that counts what was read from it.
#[derive(Clone, Default)]
struct Counting {
    data: Bytes,
    read: Arc<AtomicU64>,
    reads: Arc<AtomicUsize>,
    /// Pretend the storage holds only this many bytes.
    cut: Option<usize>,
    fail: bool,
}

/// What `Counting` reads at once.
const CHUNK: usize = 64 * 1024;

impl RandomAccess for Counting {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        let this = self.clone();
        RangeStream::chunked(range, CHUNK, move |offset, len| {
            let end = this.cut.unwrap_or(this.data.len());
            let start = (offset as usize).min(end);
            let bytes = this.data.slice(start..(start + len).min(end));
            this.read.fetch_add(bytes.len() as u64, Ordering::SeqCst);
            this.reads.fetch_add(1, Ordering::SeqCst);
            let fail = this.fail && offset > 0;
            async move {
                tokio::task::yield_now().await;
                if fail {
                    return Err(io::Error::other("storage failed"));
                }
                Ok(bytes)
            }
        })
    }
}

/// A handler that sends the whole body and, when `source` is set, a `RangeSource`.
async fn fetch(
    layer: RangeLayer,
    storage: &Counting,
    source_len: Option<u64>,
    method: http::Method,
    range: &str,
    probe: &Probe,
) -> Response<tower_range::ResponseBody<UnsyncBoxBody<Bytes, io::Error>>> {
    let storage = storage.clone();
    let probe = probe.clone();
    let inner = service_fn(move |_req: Request<()>| {
        // Boxed, as axum's handlers box theirs: the source still gets through.
        let body = Scripted::chunked(&storage.data, 64 * 1024, &probe).boxed_unsync();
        let mut res = Response::new(body);
        if let Some(len) = source_len {
            res.extensions_mut()
                .insert(RangeSource::new(storage.clone(), len));
        }
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let req = Request::builder()
        .method(method)
        .uri("/")
        .header(header::RANGE, range)
        .body(())
        .unwrap();
    layer.layer(inner).oneshot(req).await.unwrap()
}

/// A `GET` of `range` with the defaults: a source of the right length.
async fn get_range(
    storage: &Counting,
    range: &str,
) -> Response<tower_range::ResponseBody<UnsyncBoxBody<Bytes, io::Error>>> {
    let probe = Probe::default();
    let len = Some(LEN as u64);
    fetch(
        RangeLayer::new(),
        storage,
        len,
        http::Method::GET,
        range,
        &probe,
    )
    .await
}

fn storage() -> Counting {
    Counting {
        data: content(LEN),
        ..Counting::default()
    }
}

#[tokio::test]
async fn tail_range_reads_only_the_range_from_the_source() {
    let storage = storage();
    let probe = Probe::default();
    let res = fetch(
        RangeLayer::new(),
        &storage,
        Some(LEN as u64),
        http::Method::GET,
        "bytes=-300000",
        &probe,
    )
    .await;
    assert_eq!(res.status(), 206);
    assert!(probe.dropped(), "the inner body is dropped at once");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, content(LEN).slice(LEN - 300_000..));
    assert_eq!(probe.bytes(), 0, "nothing is read from the inner body");
    assert_eq!(
        storage.read.load(Ordering::SeqCst),
        300_000,
        "exactly the range is read, not the {} bytes before it",
        LEN - 300_000
    );
    assert_eq!(
        storage.reads.load(Ordering::SeqCst),
        300_000usize.div_ceil(CHUNK),
        "in the source's chunks"
    );
}

#[tokio::test]
async fn nothing_is_read_before_the_body_is_polled() {
    let storage = storage();
    let res = get_range(&storage, "bytes=10-").await;
    assert_eq!(storage.reads.load(Ordering::SeqCst), 0);
    drop(res);
    assert_eq!(storage.reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn multipart_parts_come_in_the_order_requested() {
    let storage = storage();
    let res = get_range(&storage, "bytes=-100,0-99,2000000-2000099").await;
    assert_eq!(res.status(), 206);
    let ct = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let declared: usize = res.headers()[header::CONTENT_LENGTH]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(declared, body.len());
    let parts = support::parse_multipart(&ct, &body);
    let data = content(LEN);
    assert_eq!(parts[0].1, &data[LEN - 100..]);
    assert_eq!(parts[1].1, &data[..100]);
    assert_eq!(parts[2].1, &data[2_000_000..2_000_100]);
    assert_eq!(storage.read.load(Ordering::SeqCst), 300);
}

#[tokio::test]
async fn source_of_another_length_is_not_used() {
    let storage = storage();
    let probe = Probe::default();
    let res = fetch(
        RangeLayer::new(),
        &storage,
        Some(LEN as u64 - 1),
        http::Method::GET,
        "bytes=-10",
        &probe,
    )
    .await;
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, content(LEN).slice(LEN - 10..));
    assert_eq!(storage.reads.load(Ordering::SeqCst), 0);
    assert_eq!(probe.bytes(), LEN, "the skip path read the inner body");
}

#[tokio::test]
async fn head_reads_nothing() {
    let storage = storage();
    let res = fetch(
        RangeLayer::new(),
        &storage,
        Some(LEN as u64),
        http::Method::HEAD,
        "bytes=-10",
        &Probe::default(),
    )
    .await;
    assert_eq!(res.status(), 206);
    assert!(res
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .is_empty());
    assert_eq!(storage.reads.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn source_ending_early_is_an_error() {
    let storage = Counting {
        cut: Some(LEN - 50),
        ..storage()
    };
    let res = get_range(&storage, "bytes=-100").await;
    let err = res.into_body().collect().await.expect_err("must fail");
    assert_eq!(
        err.downcast_ref::<RangeBodyError>(),
        Some(&RangeBodyError::UnexpectedEnd { missing: 50 })
    );
}

#[tokio::test]
async fn source_error_fails_the_body() {
    let storage = Counting {
        fail: true,
        ..storage()
    };
    let res = get_range(&storage, "bytes=5-").await;
    let err = res.into_body().collect().await.expect_err("must fail");
    assert_eq!(err.to_string(), "storage failed");
}

/// Writes `content(LEN)` to a new file and opens it.
fn data_file(name: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("tower-range-{name}-{}", std::process::id()));
    std::fs::write(&path, content(LEN)).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

/// Asks for two ranges of a `RangeSource::file` of `file` and checks every byte, and
/// that the inner body was not read.
async fn check_file_ranges(file: std::fs::File, layer: RangeLayer) {
    let source = RangeSource::file(file, LEN as u64);
    let probe = Probe::default();
    let p = probe.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let mut res = Response::new(Scripted::chunked(&content(LEN), 4096, &p));
        res.extensions_mut().insert(source.clone());
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let req = Request::get("/")
        .header(header::RANGE, "bytes=-2500000,1000-1999")
        .body(())
        .unwrap();
    let res = layer.layer(inner).oneshot(req).await.unwrap();
    let ct = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let parts = support::parse_multipart(&ct, &body);
    assert_eq!(parts[0].1, &content(LEN)[LEN - 2_500_000..]);
    assert_eq!(parts[1].1, &content(LEN)[1000..2000]);
    assert_eq!(probe.bytes(), 0);
}

#[tokio::test]
async fn file_source_reads_the_range_from_disk() {
    check_file_ranges(data_file("seek"), RangeLayer::new().read_chunk(100_000)).await;
}

/// Some pages in the page cache and some not: reads in place, partial reads and reads
/// on the blocking pool alternate, and every byte is still right.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn file_source_with_a_patchy_page_cache_is_byte_exact() {
    use rustix::fs::{fadvise, Advice};
    use std::os::unix::fs::FileExt;

    let file = data_file("patchy");
    file.sync_all().unwrap();
    fadvise(&file, 0, None, Advice::DontNeed).unwrap();
    fadvise(&file, 0, None, Advice::Random).unwrap();
    let mut page = [0; 4096];
    for offset in (0..LEN as u64).step_by(40_000) {
        file.read_exact_at(&mut page, offset).unwrap();
    }
    check_file_ranges(file, RangeLayer::new()).await;
}

#[tokio::test]
async fn whole_200_is_read_from_the_source_too() {
    let storage = storage();
    let probe = Probe::default();
    let p = probe.clone();
    let s = storage.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let mut res = Response::new(Scripted::chunked(&s.data, 64 * 1024, &p));
        res.extensions_mut()
            .insert(RangeSource::new(s.clone(), LEN as u64));
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let res = RangeLayer::new()
        .layer(inner)
        .oneshot(Request::get("/").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get(header::CONTENT_RANGE), None);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, content(LEN));
    assert_eq!(probe.bytes(), 0, "the inner body was not read");
    assert_eq!(storage.read.load(Ordering::SeqCst), LEN as u64);
}
