//! [`SourceBody`]: the whole representation of a [`RangeSource`] as a response body.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::config::DEFAULT_READ_CHUNK;
use crate::error::BoxError;
use crate::multipart::Parts;
use crate::range::ByteRange;
use crate::reader::poll_parts;
use crate::source::RangeSource;
use crate::source_reader::SourceReader;

impl RangeSource {
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
        let whole = ByteRange {
            start: 0,
            end: self.len(),
        };
        SourceBody {
            parts: Parts::single(whole),
            reader: SourceReader::new(self.clone(), DEFAULT_READ_CHUNK),
        }
    }
}

/// The whole representation of a [`RangeSource`] as a response body; see
/// [`RangeSource::body`].
///
/// Its size hint is exact. Like [`ResponseBody`](crate::ResponseBody), it fails rather
/// than ends short: when the source ends before its length, with a
/// [`RangeBodyError`](crate::RangeBodyError), and when it fails, with the source's
/// error. A file is read in steps of 32 KiB, the default of
/// [`RangeLayer::read_chunk`](crate::RangeLayer::read_chunk).
///
/// # Example
///
/// ```
/// use http_body_util::BodyExt;
/// use tower_range::RangeSource;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_range::BoxError> {
/// let body = RangeSource::bytes("hello".into()).body();
/// assert_eq!(body.collect().await?.to_bytes(), "hello");
/// # Ok(())
/// # }
/// ```
pub struct SourceBody {
    parts: Parts,
    reader: SourceReader,
}

impl Body for SourceBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        poll_parts(&mut this.parts, Pin::new(&mut this.reader), cx)
    }

    fn is_end_stream(&self) -> bool {
        self.parts.remaining() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.parts.remaining())
    }
}

impl fmt::Debug for SourceBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceBody")
            .field("remaining", &self.parts.remaining())
            .finish_non_exhaustive()
    }
}
