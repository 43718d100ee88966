//! [`RangeReader`]: where a ranged body gets the bytes of its parts, and
//! [`poll_parts`], how it sends them.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::Frame;

use crate::error::{BoxError, RangeBodyError};
use crate::multipart::{Parts, Step};
use crate::range::ByteRange;

/// Where a ranged body gets the bytes of its ranges: the inner body, read forward
/// (`BodyReader`), or a [`RangeSource`](crate::RangeSource) (`SourceReader`).
pub(crate) trait RangeReader {
    /// The next bytes of `want`, starting at `want.start`, at most `want.len()` long and
    /// never empty; `None` when the source ended (or sent trailers) first.
    ///
    /// `following` are the ranges of the parts to send after this one, in order: a
    /// reader may start reading them ahead.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: ByteRange,
        following: impl Iterator<Item = ByteRange>,
    ) -> Poll<Option<Result<Bytes, BoxError>>>;

    /// Releases the source: nothing more will be read.
    fn finish(self: Pin<&mut Self>);
}

/// Sends the next framing or source bytes of `parts`, read from `reader`.
///
/// A reader that ends before the bytes `parts` promise fails the body with
/// [`RangeBodyError::UnexpectedEnd`]; an error is passed on. Either is sent once, and
/// the reader is released as soon as the last byte is out or the body failed.
pub(crate) fn poll_parts<R: RangeReader>(
    parts: &mut Parts,
    mut reader: Pin<&mut R>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    let data = match parts.next() {
        Step::Frame(bytes) => bytes,
        Step::Read(want) => match ready!(reader.as_mut().poll_read(cx, want, parts.following())) {
            Some(Ok(data)) => {
                parts.advance(data.len() as u64);
                data
            }
            Some(Err(err)) => {
                parts.abort();
                reader.finish();
                return Poll::Ready(Some(Err(err)));
            }
            None => {
                let missing = parts.remaining_data();
                parts.abort();
                reader.finish();
                let err = RangeBodyError::UnexpectedEnd { missing };
                return Poll::Ready(Some(Err(err.into())));
            }
        },
        Step::Done => {
            reader.finish();
            return Poll::Ready(None);
        }
    };
    if parts.remaining() == 0 {
        // The last byte is out: release the source now, unread.
        reader.finish();
    }
    Poll::Ready(Some(Ok(Frame::data(data))))
}
