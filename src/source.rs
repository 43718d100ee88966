//! [`RangeSource`]: a representation that can be read at any offset, so ranges are read
//! directly instead of skipped to; and [`RandomAccess`], the storage behind it.

use std::fmt;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};

use crate::file::File;
use crate::range::ByteRange;
use crate::seek::Seek;

/// The future of one [`RandomAccess::read_at`].
pub type ReadFuture = Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send + Sync>>;

/// The bytes of one range, in order, from [`RandomAccess::read_range`].
pub type RangeStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Storage that can read a representation's bytes at any offset: a file, a buffer in
/// memory, an object store.
///
/// Implement it for your own storage and hand it to [`RangeSource::new`]. The layer
/// reads each range it sends (each part of a multipart response, or the whole
/// representation for a `200`) through one [`read_range`](RandomAccess::read_range)
/// stream, which it polls only as the client reads.
///
/// Storage whose every read costs the same (memory, a local file) implements
/// [`read_at`](RandomAccess::read_at) alone: the default `read_range` reads the range in
/// steps of the layer's [chunk size](crate::RangeLayer::read_chunk), one read in
/// flight. Storage with a cost per request (an object store over the network)
/// implements `read_range` too, as one request streamed for the whole range, as the
/// `object-store` feature's adapter does.
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
///
/// Storage with a cost per request streams each range from one request, started when
/// the stream is first polled:
///
/// ```
/// use std::ops::Range;
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use tower_range::{RandomAccess, RangeSource, RangeStream, ReadFuture};
///
/// struct Remote;
///
/// impl Remote {
///     /// One request for `range`; a real store would stream its answer.
///     async fn fetch(&self, range: Range<u64>) -> std::io::Result<Bytes> {
///         Ok(Bytes::from(vec![b'x'; (range.end - range.start) as usize]))
///     }
/// }
///
/// impl RandomAccess for Remote {
///     fn read_at(&self, offset: u64, len: usize) -> ReadFuture {
///         let range = offset..offset + len as u64;
///         Box::pin(async move { Remote.fetch(range).await })
///     }
///
///     fn read_range(self: Arc<Self>, range: Range<u64>, _chunk: usize) -> RangeStream {
///         Box::pin(futures_util::stream::once(async move { self.fetch(range).await }))
///     }
/// }
///
/// let source = RangeSource::new(Remote, 1 << 30);
/// # let _ = source;
/// ```
pub trait RandomAccess: Send + Sync + 'static {
    /// Reads up to `len` bytes starting at `offset`.
    ///
    /// Returning fewer bytes is fine (the layer asks again for the rest); returning none
    /// means the source ended early, and the response then fails rather than ending
    /// short.
    fn read_at(&self, offset: u64, len: usize) -> ReadFuture;

    /// Streams the bytes of `range`, in order, each item at most `chunk` bytes where
    /// the storage lets the size be chosen.
    ///
    /// The stream must do nothing before it is first polled, and read only as it is
    /// polled: the layer polls it as the client reads, and drops it when the client
    /// goes. Ending before `range.end`, or an error, makes the response fail (an
    /// aborted transfer), never end short.
    ///
    /// The default calls [`read_at`](RandomAccess::read_at) for `chunk` bytes at a
    /// time, one call in flight.
    fn read_range(self: Arc<Self>, range: Range<u64>, chunk: usize) -> RangeStream {
        Box::pin(Chunks {
            access: self,
            next: range.start,
            end: range.end,
            chunk: chunk.max(1),
            pending: None,
        })
    }
}

/// The default [`RandomAccess::read_range`]: `read_at` in steps of `chunk` bytes.
struct Chunks<A: ?Sized> {
    access: Arc<A>,
    next: u64,
    end: u64,
    chunk: usize,
    pending: Option<ReadFuture>,
}

impl<A: RandomAccess + ?Sized> Stream for Chunks<A> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.next >= this.end {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.end - this.next).map_or(this.chunk, |n| n.min(this.chunk));
        let read = this
            .pending
            .get_or_insert_with(|| this.access.read_at(this.next, want));
        let result = ready!(read.as_mut().poll(cx));
        this.pending = None;
        Poll::Ready(match result {
            // Nothing at `next`: the source ended early.
            Ok(bytes) if bytes.is_empty() => {
                this.next = this.end;
                None
            }
            Ok(mut bytes) => {
                bytes.truncate(want);
                this.next += bytes.len() as u64;
                Some(Ok(bytes))
            }
            Err(err) => {
                this.next = this.end;
                Some(Err(err))
            }
        })
    }
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
    storage: Storage,
    len: u64,
}

/// Where a [`RangeSource`] reads from: the two kinds built in are read without a
/// boxed future or stream, the rest through [`RandomAccess`].
#[derive(Clone)]
pub(crate) enum Storage {
    /// Sliced, never copied.
    Bytes(Bytes),
    /// Positioned reads.
    File(Arc<File>),
    /// Any other storage.
    Access(Arc<dyn RandomAccess>),
}

impl RangeSource {
    /// A source of `len` bytes read through `access`.
    pub fn new(access: impl RandomAccess, len: u64) -> Self {
        Self {
            storage: Storage::Access(Arc::new(access)),
            len,
        }
    }

    /// A file of `len` bytes, read with positioned reads (`pread`), so several responses
    /// can share the file. The async runtime never waits on the disk: on Linux, bytes
    /// already in the page cache are read at once with `preadv2(RWF_NOWAIT)`, which the
    /// kernel refuses rather than block; every other read runs on Tokio's blocking pool.
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
        Self {
            storage: Storage::File(Arc::new(File::new(file))),
            len,
        }
    }

    /// Bytes in memory; reading is a reference count, never a copy.
    ///
    /// ```
    /// let source = tower_range::RangeSource::bytes("hello".into());
    /// assert_eq!(source.len(), 5);
    /// ```
    #[must_use]
    pub fn bytes(bytes: Bytes) -> Self {
        Self {
            len: bytes.len() as u64,
            storage: Storage::Bytes(bytes),
        }
    }

    /// The whole representation as a response body, read from the source front to back
    /// only as it is polled: a handler that attaches a source can answer with this.
    ///
    /// ```
    /// use http_body::Body;
    ///
    /// let source = tower_range::RangeSource::bytes("hello".into());
    /// assert_eq!(source.body().size_hint().exact(), Some(5));
    /// ```
    #[must_use]
    pub fn body(&self) -> SourceBody {
        SourceBody {
            seek: Seek::new(self.clone(), crate::config::DEFAULT_READ_CHUNK),
            left: ByteRange {
                start: 0,
                end: self.len,
            },
        }
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

    pub(crate) const fn storage(&self) -> &Storage {
        &self.storage
    }
}

/// `future` as a [`ReadFuture`], which must be `Sync`: a `Mutex` makes it so without
/// requiring it of `future`, and is reached through `&mut`, never locked.
#[cfg_attr(not(feature = "object-store"), allow(dead_code))]
pub(crate) fn sync_future(
    future: impl Future<Output = io::Result<Bytes>> + Send + 'static,
) -> ReadFuture {
    let future: Pin<Box<dyn Future<Output = io::Result<Bytes>> + Send>> = Box::pin(future);
    let mut future = Mutex::new(future);
    Box::pin(std::future::poll_fn(move |cx| {
        let future = future.get_mut().unwrap_or_else(|e| e.into_inner());
        future.as_mut().poll(cx)
    }))
}

/// The whole representation of a [`RangeSource`] as a response body; see
/// [`RangeSource::body`].
///
/// Its size hint is exact. It fails (rather than ends short) when the source ends
/// before its length.
pub struct SourceBody {
    seek: Seek,
    left: ByteRange,
}

impl Body for SourceBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.left.start == this.left.end {
            return Poll::Ready(None);
        }
        match ready!(this.seek.poll_bytes(cx, this.left)) {
            Some(Ok(bytes)) => {
                this.left.start += bytes.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Some(Err(err)) => {
                this.left.start = this.left.end;
                Poll::Ready(Some(Err(err)))
            }
            None => {
                let missing = this.left.len();
                this.left.start = this.left.end;
                let err = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("source ended {missing} bytes early"),
                );
                Poll::Ready(Some(Err(err)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left.start == self.left.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left.len())
    }
}

impl fmt::Debug for SourceBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceBody")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeSource")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
