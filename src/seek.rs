//! [`Seek`]: how the layer reads the parts of a response from a [`RangeSource`]: one
//! stream per part, polled as the client reads.

use std::fmt;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::error::BoxError;
use crate::range::ByteRange;
use crate::slice::ReadRange;
use crate::source::{RangeSource, RangeStream};

/// Reads the parts of a response from a [`RangeSource`]: each part through one
/// [`RandomAccess::read_range`](crate::RandomAccess::read_range) stream.
pub(crate) struct Seek {
    source: RangeSource,
    chunk: usize,
    /// The stream of the part being read, and the range it has left.
    current: Option<(Mutex<RangeStream>, ByteRange)>,
}

impl Seek {
    pub(crate) const fn new(source: RangeSource, chunk: usize) -> Self {
        Self {
            source,
            chunk,
            current: None,
        }
    }
}

impl ReadRange for Seek {
    /// Polls the part's stream once; opens it when `want` starts a new part.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: ByteRange,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let this = &mut *self;
        if this.current.as_ref().is_none_or(|(_, left)| *left != want) {
            let stream = this.source.stream_in(want.start..want.end, this.chunk);
            this.current = Some((Mutex::new(stream), want));
        }
        let (stream, left) = this.current.as_mut().expect("opened above");
        // `Mutex` only makes the stream `Sync`; `&mut` needs no lock.
        let stream = stream.get_mut().unwrap_or_else(|e| e.into_inner());
        loop {
            let next = match stream.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(next) => next,
            };
            return Poll::Ready(match next {
                Some(Ok(bytes)) if bytes.is_empty() => continue,
                Some(Ok(mut bytes)) => {
                    // A stream that gives more than the range asked is cut to it.
                    bytes.truncate(usize::try_from(left.len()).unwrap_or(usize::MAX));
                    left.start += bytes.len() as u64;
                    Some(Ok(bytes))
                }
                Some(Err(err)) => Some(Err(err.into())),
                None => None,
            });
        }
    }

    fn finish(mut self: Pin<&mut Self>) {
        self.current = None;
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
