//! [`RangeService`]: wraps an inner service and ranges its responses.

use std::task::{Context, Poll};

use http::header::{IF_RANGE, RANGE};
use http::{Method, Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::error::BoxError;
use crate::future::ResponseFuture;
use crate::layer::Config;
use crate::plan::RangeRequest;

/// A service that answers `Range` requests over the whole responses of `S`.
///
/// Built by [`RangeLayer`](crate::RangeLayer). Only `GET` and `HEAD` are ranged; every
/// other request and its response pass through untouched.
///
/// The inner service never sees the `Range` and `If-Range` of a `GET` or `HEAD`: they
/// are taken off the request and answered here, from the inner `200`. An inner service
/// that answers ranges itself (tower-http's `ServeDir` answers `416` to several ranges)
/// could otherwise turn a request the layer can serve into a wrong answer.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use http_body_util::Full;
/// use tower::{service_fn, Layer};
/// use tower_range::{RangeLayer, RangeService};
///
/// let inner = service_fn(|_req: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hi"))))
/// });
/// let svc: RangeService<_> = RangeLayer::new().layer(inner);
/// let _also_cloneable = svc.clone();
/// ```
#[derive(Clone, Debug)]
pub struct RangeService<S> {
    inner: S,
    config: Config,
}

impl<S> RangeService<S> {
    pub(crate) const fn new(inner: S, config: Config) -> Self {
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
        let request = (head || req.method() == Method::GET).then(|| {
            let request = RangeRequest::new(req.headers(), head, &self.config);
            req.headers_mut().remove(RANGE);
            req.headers_mut().remove(IF_RANGE);
            request
        });
        ResponseFuture::new(self.inner.call(req), request, self.config)
    }
}
