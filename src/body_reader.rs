//! [`BodyReader`]: the lazy skip/take engine that reads ranges out of a forward-only
//! inner body.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::error::BoxError;
use crate::range::ByteRange;
use crate::reader::RangeReader;

pin_project! {
    /// Reads ascending ranges out of an inner body, skipping what lies between them.
    ///
    /// It keeps at most one inner frame: the rest of the frame that held the last bytes
    /// handed out.
    pub(crate) struct BodyReader<B: Body> {
        #[pin]
        inner: Option<B>,
        // The unread rest of the last inner frame; its first byte is at `pos`.
        buf: Option<B::Data>,
        pos: u64,
    }
}

impl<B: Body> BodyReader<B> {
    pub(crate) const fn new(inner: B) -> Self {
        Self {
            inner: Some(inner),
            buf: None,
            pos: 0,
        }
    }
}

impl<B: Body> RangeReader for BodyReader<B>
where
    B::Error: Into<BoxError>,
{
    /// Polls the inner body at most once. A frame that lies wholly before `want` is
    /// skipped and the task yields (it wakes itself), so that skipping a long prefix of
    /// an always-ready body never starves the other tasks of the runtime. A forward-only
    /// body has nothing to read ahead: `following` is ignored.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: ByteRange,
        _following: impl Iterator<Item = ByteRange>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let mut this = self.project();
        debug_assert!(*this.pos <= want.start, "ranges must be ascending");
        let mut polled = false;
        loop {
            if let Some(buf) = this.buf.as_mut().filter(|buf| buf.has_remaining()) {
                let available = buf.remaining() as u64;
                if *this.pos < want.start {
                    let skip = (want.start - *this.pos).min(available);
                    buf.advance(skip as usize);
                    *this.pos += skip;
                    continue;
                }
                let take = want.len().min(available);
                *this.pos += take;
                // `copy_to_bytes` on `Bytes` is a reference count, not a copy.
                return Poll::Ready(Some(Ok(buf.copy_to_bytes(take as usize))));
            }
            if polled {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            polled = true;
            let Some(inner) = this.inner.as_mut().as_pin_mut() else {
                return Poll::Ready(None);
            };
            match ready!(inner.poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => *this.buf = Some(data),
                    // Trailers close the body: the promised bytes never came.
                    Err(_trailers) => return Poll::Ready(None),
                },
                Some(Err(err)) => return Poll::Ready(Some(Err(err.into()))),
                None => return Poll::Ready(None),
            }
        }
    }

    /// Drops the inner body and any buffered data, unread.
    fn finish(self: Pin<&mut Self>) {
        let mut this = self.project();
        this.inner.set(None);
        *this.buf = None;
    }
}
