//! An object store for tests: `InMemory` behind a wrapper that adds latency, counts
//! requests, streams `GET`s in small chunks and watches them, and fails on demand.

use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_core::Stream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// Makes the error a failing request gets.
pub type Failure = Box<dyn Fn() -> object_store::Error + Send + Sync>;

/// One `GET` the store answered: its range, and what became of its body stream.
#[derive(Clone, Debug)]
pub struct Get {
    pub range: Range<u64>,
    /// Chunks the body stream has yielded.
    pub yielded: Arc<AtomicUsize>,
    pub dropped: Arc<AtomicBool>,
}

impl Get {
    pub fn yielded(&self) -> usize {
        self.yielded.load(Ordering::SeqCst)
    }
    pub fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// `InMemory`, with a latency before each answer (on tokio's clock, so a test with a
/// paused clock runs it at once), counters, watched `GET` bodies cut into `chunk`-byte
/// items, and failures on demand.
pub struct TestStore {
    inner: InMemory,
    latency: Mutex<Duration>,
    chunk: usize,
    heads: AtomicUsize,
    gets: Mutex<Vec<Get>>,
    /// `GET` bodies alive now, and the most alive at once.
    open: Arc<AtomicUsize>,
    max_open: Arc<AtomicUsize>,
    head_failure: Mutex<Option<Failure>>,
}

impl TestStore {
    pub fn new() -> Self {
        Self::with_chunk(usize::MAX)
    }

    /// `GET` bodies come in items of `chunk` bytes.
    pub fn with_chunk(chunk: usize) -> Self {
        Self {
            inner: InMemory::new(),
            latency: Mutex::new(Duration::ZERO),
            chunk,
            heads: AtomicUsize::new(0),
            gets: Mutex::new(Vec::new()),
            open: Arc::default(),
            max_open: Arc::default(),
            head_failure: Mutex::new(None),
        }
    }

    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock().unwrap() = latency;
    }

    /// Every `HEAD` fails with `failure()` from now on; `None` ends it.
    pub fn fail_heads(&self, failure: Option<Failure>) {
        *self.head_failure.lock().unwrap() = failure;
    }

    /// Puts `data` at `key` (as the store has it: not percent-encoded), bypassing the
    /// counters.
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> ObjectMeta {
        let key = Path::parse(key).unwrap();
        self.inner.put(&key, data.into()).await.unwrap();
        self.inner.head(&key).await.unwrap()
    }

    pub fn heads(&self) -> usize {
        self.heads.load(Ordering::SeqCst)
    }

    /// The `GET`s answered so far, in the order they were asked.
    pub fn gets(&self) -> Vec<Get> {
        self.gets.lock().unwrap().clone()
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }

    async fn wait(&self) {
        let latency = *self.latency.lock().unwrap();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

impl Default for TestStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestStore").finish_non_exhaustive()
    }
}

impl fmt::Display for TestStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TestStore")
    }
}

#[async_trait]
impl ObjectStore for TestStore {
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
        if options.head {
            self.wait().await;
            self.heads.fetch_add(1, Ordering::SeqCst);
            if let Some(failure) = &*self.head_failure.lock().unwrap() {
                return Err(failure());
            }
            return self.inner.get_opts(location, options).await;
        }
        // Open from the moment it is asked until its body is dropped, or the request is.
        let slot = Slot::take(&self.open, &self.max_open);
        self.wait().await;
        let mut result = self.inner.get_opts(location, options).await?;
        let get = Get {
            range: result.range.clone(),
            yielded: Arc::default(),
            dropped: Arc::default(),
        };
        self.gets.lock().unwrap().push(get.clone());
        let GetResultPayload::Stream(body) = result.payload else {
            unreachable!("InMemory streams")
        };
        result.payload = GetResultPayload::Stream(Box::pin(Watched {
            body,
            pending: Bytes::new(),
            chunk: self.chunk,
            get,
            _slot: slot,
        }));
        Ok(result)
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

/// A `GET`'s body, cut into `chunk`-byte items, counting them and its own drop.
struct Watched {
    body: BoxStream<Result<Bytes>>,
    pending: Bytes,
    chunk: usize,
    get: Get,
    _slot: Slot,
}

impl Stream for Watched {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.pending.is_empty() {
            match this.body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.pending = bytes,
                other => return other,
            }
        }
        let n = this.chunk.min(this.pending.len());
        this.get.yielded.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(this.pending.split_to(n))))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.get.dropped.store(true, Ordering::SeqCst);
    }
}

/// One open `GET` in the store's count.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>, max_open: &AtomicUsize) -> Self {
        let now = open.fetch_add(1, Ordering::SeqCst) + 1;
        max_open.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(open))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
