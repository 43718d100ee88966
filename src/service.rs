//! [`RangeService`]: wraps an inner service and ranges its responses.

use std::task::{Context, Poll};

use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::config::Config;
use crate::error::BoxError;
use crate::future::ResponseFuture;
use crate::plan::RangeRequest;

/// A service that answers `Range` requests over the whole responses of `S`.
///
/// Built by [`RangeLayer`](crate::RangeLayer), or by [`RangeService::new`] with the
/// defaults. Only `GET` and `HEAD` are ranged; every other request and its response
/// pass through untouched.
///
/// What the inner service sees of a `GET` or `HEAD` with `Range`:
///
/// - one range and no `If-Range`: that range, rewritten in canonical form
///   (`bytes=first-last`, `bytes=first-`, `bytes=-suffix`). An inner service that
///   answers it with a `206` or `416` saves reading what comes before the range
///   (tower-http's `ServeDir` seeks; a proxy fetches only the range). A `206` is
///   checked against the layer's own reading: when it agrees it goes out as it is,
///   when its bytes differ the client gets `502 Bad Gateway`, never wrong bytes. A
///   `416` goes out as it is (it carries no bytes); for an empty representation the
///   client gets an empty `200`. An inner `200` is ranged by the layer as usual.
/// - several ranges, or `If-Range`: neither header. The layer answers from the inner
///   `200`, so an inner service that answers ranges itself (`ServeDir` answers `416` to
///   several ranges and ignores `If-Range`) cannot turn a request the layer can serve
///   into a wrong answer.
/// - `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`: none of
///   them, unless [`RangeLayer::preconditions`](crate::RangeLayer::preconditions) is
///   off. The layer evaluates them against the inner response's validators.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{header, Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{service_fn, Layer, ServiceExt};
/// use tower_range::{RangeLayer, RangeService};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_range::BoxError> {
/// let inner = service_fn(|req: Request<()>| async move {
///     // A range-unaware handler sees the single range, canonical, and may ignore it.
///     assert_eq!(req.headers()[header::RANGE], "bytes=1-2");
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
/// });
/// let svc: RangeService<_> = RangeLayer::new().layer(inner);
/// let req = Request::get("/").header(header::RANGE, "BYTES= 1-2").body(())?;
/// let res = svc.clone().oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
/// assert_eq!(res.headers()[header::CONTENT_RANGE], "bytes 1-2/5");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RangeService<S> {
    inner: S,
    config: Config,
}

impl<S> RangeService<S> {
    /// Wraps `inner` with the defaults of [`RangeLayer::new`](crate::RangeLayer::new).
    ///
    /// [`RangeService::layer`] gives the layer, to choose other settings.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{header, Request, Response, StatusCode};
    /// use http_body_util::Full;
    /// use tower::{service_fn, ServiceExt};
    /// use tower_range::RangeService;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_range::BoxError> {
    /// let svc = RangeService::new(service_fn(|_req: Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// }));
    /// let req = Request::get("/").header(header::RANGE, "bytes=-3").body(())?;
    /// assert_eq!(svc.oneshot(req).await?.status(), StatusCode::PARTIAL_CONTENT);
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn new(inner: S) -> Self {
        Self::with_config(inner, Config::default())
    }

    pub(crate) const fn with_config(inner: S, config: Config) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RangeService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<crate::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let head = req.method() == Method::HEAD;
        let request = (head || req.method() == Method::GET)
            .then(|| RangeRequest::take(req.headers_mut(), head, &self.config));
        ResponseFuture::new(self.inner.call(req), request, self.config)
    }
}
