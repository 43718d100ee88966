//! [`ResponseBody`]: the body of every response that goes through the layer.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::body_reader::BodyReader;
use crate::error::BoxError;
use crate::multipart::Parts;
use crate::reader::poll_parts;
use crate::source_reader::SourceReader;

pin_project! {
    /// The body of a response from [`RangeService`](crate::RangeService).
    ///
    /// One of: the inner body unchanged (for every response the layer does not range);
    /// nothing (`416`, `HEAD`); the requested ranges cut from the inner body as the
    /// client reads; or, when the inner response carried a
    /// [`RangeSource`](crate::RangeSource), the ranges (or the whole `200`) read from it.
    /// The inner body is polled only when this body is, at most once per poll, and it is
    /// dropped, not drained, as soon as the last requested byte has gone out.
    ///
    /// Data comes out as [`Bytes`]; cutting a `Bytes` frame copies nothing. Errors are
    /// boxed: the inner body's or the source's own, or a [`RangeBodyError`] when either
    /// ends before the bytes the headers promised. Inner trailers pass through untouched
    /// bodies, and are dropped from ranged ones (a `206` ends with its last range).
    ///
    /// # Example
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{header, Request, Response};
    /// use http_body::Body;
    /// use http_body_util::{BodyExt, Full};
    /// use tower::{service_fn, Layer, ServiceExt};
    /// use tower_range::RangeLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_range::BoxError> {
    /// let inner = service_fn(|_req: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("abcdef"))))
    /// });
    /// let req = Request::get("/").header(header::RANGE, "bytes=2-3").body(())?;
    /// let body = RangeLayer::new().layer(inner).oneshot(req).await?.into_body();
    /// // The size hint is exact, and equals the `Content-Length` the layer set.
    /// assert_eq!(body.size_hint().exact(), Some(2));
    /// assert_eq!(body.collect().await?.to_bytes(), "cd");
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseBody<B: Body> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    // A ranged body is boxed: its state is many times the size of most bodies, and a
    // response is moved several times on its way to the connection.
    #[project = KindProj]
    enum Kind<B: Body> {
        Passthrough { #[pin] inner: B },
        Empty,
        FromInner { cut: Pin<Box<Cut<B>>> },
        FromSource { read: Box<Read> },
    }
}

pin_project! {
    /// Parts cut from the inner body.
    struct Cut<B: Body> {
        parts: Parts,
        #[pin]
        reader: BodyReader<B>,
    }
}

/// Parts read from a [`RangeSource`](crate::RangeSource).
struct Read {
    parts: Parts,
    reader: SourceReader,
}

impl<B: Body> ResponseBody<B> {
    pub(crate) const fn passthrough(inner: B) -> Self {
        Self {
            kind: Kind::Passthrough { inner },
        }
    }

    pub(crate) const fn empty() -> Self {
        Self { kind: Kind::Empty }
    }

    /// `parts` cut from the inner body in one forward pass.
    pub(crate) fn from_inner(inner: B, parts: Parts) -> Self {
        Self {
            kind: Kind::FromInner {
                cut: Box::pin(Cut {
                    parts,
                    reader: BodyReader::new(inner),
                }),
            },
        }
    }

    /// `parts` read from `reader`; the inner body is not needed.
    pub(crate) fn from_source(reader: SourceReader, parts: Parts) -> Self {
        Self {
            kind: Kind::FromSource {
                read: Box::new(Read { parts, reader }),
            },
        }
    }
}

// States of a ranged body, and what moves between them:
//
// | state           | poll_frame does                               | moves on when            |
// |-----------------|-----------------------------------------------|--------------------------|
// | framing         | sends a part's boundary and headers           | at once, to skipping     |
// | skipping        | drops inner bytes before the part (one frame  | the part's start is read |
// |                 | per poll, then yields)                        |                          |
// | emitting        | sends inner bytes of the part                 | the part's end is sent   |
// | between parts   | next part's framing, or the closing boundary  | no part left             |
// | done            | drops the inner body, returns `None` forever  | never                    |
//
// An inner error, or an inner end before the promised bytes, yields one error and
// then behaves as done.
impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Passthrough { inner } => {
                let frame = ready!(inner.poll_frame(cx)).map(|frame| {
                    frame
                        .map(|frame| {
                            frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                        })
                        .map_err(Into::into)
                });
                Poll::Ready(frame)
            }
            KindProj::Empty => Poll::Ready(None),
            KindProj::FromInner { cut } => {
                let cut = cut.as_mut().project();
                poll_parts(cut.parts, cut.reader, cx)
            }
            KindProj::FromSource { read } => {
                let Read { parts, reader } = &mut **read;
                poll_parts(parts, Pin::new(reader), cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Passthrough { inner } => inner.is_end_stream(),
            Kind::Empty => true,
            Kind::FromInner { cut } => cut.parts.remaining() == 0,
            Kind::FromSource { read } => read.parts.remaining() == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Passthrough { inner } => inner.size_hint(),
            Kind::Empty => SizeHint::with_exact(0),
            Kind::FromInner { cut } => SizeHint::with_exact(cut.parts.remaining()),
            Kind::FromSource { read } => SizeHint::with_exact(read.parts.remaining()),
        }
    }
}

/// An empty body, as layers outside this one make their own answers with:
/// tower-http's `TimeoutLayer` answers `408` with `B::default()`.
impl<B: Body> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B: Body> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Passthrough { .. } => "Passthrough",
            Kind::Empty => "Empty",
            Kind::FromInner { .. } => "FromInner",
            Kind::FromSource { .. } => "FromSource",
        };
        f.debug_struct("ResponseBody")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}
