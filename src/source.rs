//! [`RangeSource`]: a representation that can be read at any offset, so ranges are read
//! directly instead of skipped to.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};

use crate::error::BoxError;
use crate::range::ByteRange;
use crate::slice::ReadRange;

/// The future of one [`RandomAccess::read_at`].
pub type ReadFuture = Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send + Sync>>;

/// Storage that can read a representation's bytes at any offset: a file, a buffer in
/// memory, an object store.
///
/// Implement it for your own storage and hand it to [`RangeSource::new`]. The layer
/// keeps at most one read in flight per response, and asks for at most the layer's
/// [chunk size](crate::RangeLayer::read_chunk) at a time.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use tower_range::{RandomAccess, RangeSource, ReadFuture};
///
/// /// A representation of `len` zero bytes, made up on demand.
/// struct Zeros;
///
/// impl RandomAccess for Zeros {
///     fn read_at(&self, _offset: u64, len: usize) -> ReadFuture {
///         Box::pin(async move { Ok(Bytes::from(vec![0; len])) })
///     }
/// }
///
/// let source = RangeSource::new(Zeros, 1 << 40);
/// assert_eq!(source.len(), 1 << 40);
/// ```
pub trait RandomAccess: Send + Sync + 'static {
    /// Reads up to `len` bytes starting at `offset`.
    ///
    /// Returning fewer bytes is fine (the layer asks again for the rest); returning none
    /// means the source ended early, and the response then fails rather than ending
    /// short.
    fn read_at(&self, offset: u64, len: usize) -> ReadFuture;
}

/// A handle to a representation that can be read at any offset, put in the response's
/// extensions by the inner service.
///
/// When an inner `200` carries a `RangeSource` whose [length](RangeSource::len) equals
/// the response's, [`RangeLayer`](crate::RangeLayer) reads each requested range from it,
/// in the order requested, and drops the inner body unread: a range at the end of a
/// large file costs the same as one at the start. Extensions survive body boxing, so
/// this works through axum's `Body` and `BoxBody`. The inner body stays the whole
/// representation, for every response the layer does not range.
///
/// # Example
///
/// A handler opts in with one line:
///
/// ```
/// use bytes::Bytes;
/// use http::{header, Request, Response};
/// use http_body_util::{BodyExt, Full};
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_range::{RangeLayer, RangeSource};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_range::BoxError> {
/// let blob = Bytes::from("a blob that could be large");
/// let inner = service_fn(move |_req: Request<()>| {
///     let mut res = Response::new(Full::new(blob.clone()));
///     res.extensions_mut().insert(RangeSource::bytes(blob.clone()));
///     async move { Ok::<_, std::convert::Infallible>(res) }
/// });
/// let req = Request::get("/").header(header::RANGE, "bytes=-5").body(())?;
/// let res = RangeLayer::new().layer(inner).oneshot(req).await?;
/// assert_eq!(res.into_body().collect().await?.to_bytes(), "large");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RangeSource {
    access: Arc<dyn RandomAccess>,
    len: u64,
}

impl RangeSource {
    /// A source of `len` bytes read through `access`.
    pub fn new(access: impl RandomAccess, len: u64) -> Self {
        Self {
            access: Arc::new(access),
            len,
        }
    }

    /// A file of `len` bytes, read with positioned reads (`pread`) on Tokio's blocking
    /// pool, so the async runtime never waits on the disk and several responses can
    /// share the file.
    ///
    /// Needs a Tokio runtime when the body is read.
    ///
    /// ```no_run
    /// # fn main() -> std::io::Result<()> {
    /// let file = std::fs::File::open("video.mp4")?;
    /// let len = file.metadata()?.len();
    /// let source = tower_range::RangeSource::file(file, len);
    /// # let _ = source;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn file(file: std::fs::File, len: u64) -> Self {
        Self::new(File(Arc::new(file)), len)
    }

    /// Bytes in memory; reading is a reference count, never a copy.
    ///
    /// ```
    /// let source = tower_range::RangeSource::bytes("hello".into());
    /// assert_eq!(source.len(), 5);
    /// ```
    #[must_use]
    pub fn bytes(bytes: Bytes) -> Self {
        let len = bytes.len() as u64;
        Self::new(InMemory(bytes), len)
    }

    /// The length of the representation, in bytes.
    #[must_use]
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// Whether the representation is empty.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for RangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeSource")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

struct InMemory(Bytes);

impl RandomAccess for InMemory {
    fn read_at(&self, offset: u64, len: usize) -> ReadFuture {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let end = start.saturating_add(len).min(self.0.len());
        let bytes = self.0.slice(start..end);
        Box::pin(std::future::ready(Ok(bytes)))
    }
}

struct File(Arc<std::fs::File>);

impl RandomAccess for File {
    fn read_at(&self, offset: u64, len: usize) -> ReadFuture {
        let file = Arc::clone(&self.0);
        let read = tokio::task::spawn_blocking(move || read_exact_at(&file, offset, len));
        Box::pin(async move { read.await.map_err(io::Error::other)? })
    }
}

/// Reads `len` bytes at `offset`, fewer only at the end of the file.
fn read_exact_at(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match pread(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

#[cfg(unix)]
fn pread(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Reads ranges from a [`RangeSource`], one chunk at a time.
pub(crate) struct Seek {
    source: RangeSource,
    chunk: usize,
    pending: Option<ReadFuture>,
}

impl Seek {
    pub(crate) const fn new(source: RangeSource, chunk: usize) -> Self {
        Self {
            source,
            chunk,
            pending: None,
        }
    }
}

impl ReadRange for Seek {
    /// Reads at most one chunk; one read is in flight at a time.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: ByteRange,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let this = &mut *self;
        let chunk = usize::try_from(want.len()).map_or(this.chunk, |len| len.min(this.chunk));
        let read = this
            .pending
            .get_or_insert_with(|| this.source.access.read_at(want.start, chunk));
        let result = ready!(read.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(match result {
            Ok(bytes) if bytes.is_empty() => None,
            Ok(mut bytes) => {
                bytes.truncate(chunk);
                Some(Ok(bytes))
            }
            Err(err) => Some(Err(err.into())),
        })
    }

    fn finish(mut self: Pin<&mut Self>) {
        self.pending = None;
    }
}

impl fmt::Debug for Seek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seek")
            .field("source", &self.source)
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}
