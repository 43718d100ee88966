//! [`RangeSource`]: a representation that can be read at any offset, so ranges are read
//! directly instead of skipped to, and the storage it reads from.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::access::RandomAccess;
use crate::file::SharedFile;

/// A handle to a representation that can be read at any offset, put in the response's
/// extensions by the inner service.
///
/// When an inner `200` carries a `RangeSource` whose [length](RangeSource::len) equals
/// the response's, [`RangeLayer`](crate::RangeLayer) reads each requested range from it,
/// in the order requested, and drops the inner body unread: a range at the end of a
/// large file costs the same as one at the start. Extensions survive body boxing, so
/// this works through axum's `Body` and `BoxBody`. The inner body stays the whole
/// representation, for every response the layer does not range; a handler with
/// nothing else to send can answer with [`RangeSource::body`].
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
/// boxed stream, and a file in steps of the layer's
/// [`read_chunk`](crate::RangeLayer::read_chunk); the rest through [`RandomAccess`].
#[derive(Clone)]
pub(crate) enum Storage {
    /// Sliced, never copied.
    Bytes(Bytes),
    /// Positioned reads.
    File(Arc<SharedFile>),
    /// Any other storage.
    Access(Arc<dyn RandomAccess>),
}

impl RangeSource {
    /// A source of `len` bytes read through `access`: one
    /// [`read_range`](RandomAccess::read_range) stream for each range the layer sends.
    ///
    /// `len` is the representation's length, which the inner response's must equal for
    /// the layer to read from the source; the layer never asks `access` for bytes past
    /// it. See [`RandomAccess`] for examples.
    #[must_use]
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
            storage: Storage::File(Arc::new(SharedFile::new(file))),
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

impl fmt::Debug for RangeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeSource")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
