//! [`RangeLayer`]: the settings a user chooses, and the [`Layer`] that builds [`RangeService`].

use tower_layer::Layer;

use crate::config::{Config, OverLimit};
use crate::service::RangeService;

/// A [`Layer`] that makes a service answer `Range` requests (RFC 9110 §14).
///
/// The inner service produces whole representations; [`RangeService`] turns its `200 OK`
/// into `206 Partial Content` (one range, or `multipart/byteranges` for several), or
/// `416 Range Not Satisfiable`, and slices the body as the client reads it.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http::{header, Request, Response, StatusCode};
/// use http_body_util::{BodyExt, Full};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
/// use tower_range::RangeLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_range::BoxError> {
/// let svc = ServiceBuilder::new()
///     .layer(RangeLayer::new().max_ranges(8))
///     .service(service_fn(|_req: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello world"))))
///     }));
///
/// let req = Request::get("/").header(header::RANGE, "bytes=-5").body(())?;
/// let res = svc.oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
/// assert_eq!(res.headers()[header::CONTENT_RANGE], "bytes 6-10/11");
/// assert_eq!(res.into_body().collect().await?.to_bytes(), "world");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct RangeLayer {
    config: Config,
}

impl RangeLayer {
    /// A layer with the defaults: at most 64 ranges, [`OverLimit::Ignore`], and
    /// `Accept-Ranges: bytes` on every response it could range.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
        }
    }

    /// The most ranges one request may ask for; past it [`OverLimit`] applies.
    ///
    /// Defaults to 64. Browsers and download tools send one; PDF readers and some
    /// players send a handful. A larger set mostly costs the server framing work for
    /// no one (Apache allows 200, nginx and Go set no count but refuse amplification).
    /// Memory spent on parsing is bounded by this number, whatever the header's size.
    ///
    /// ```
    /// let layer = tower_range::RangeLayer::new().max_ranges(8);
    /// # let _ = layer;
    /// ```
    pub const fn max_ranges(mut self, max: usize) -> Self {
        self.config.max_ranges = max;
        self
    }

    /// What to do when a request passes a limit; see [`OverLimit`].
    ///
    /// Defaults to [`OverLimit::Ignore`]: the whole representation as `200`.
    ///
    /// ```
    /// let layer = tower_range::RangeLayer::new().over_limit(tower_range::OverLimit::Reject);
    /// # let _ = layer;
    /// ```
    pub const fn over_limit(mut self, policy: OverLimit) -> Self {
        self.config.over_limit = policy;
        self
    }

    /// Whether to add `Accept-Ranges: bytes` to every `200` and `206` the layer could
    /// range, so that players know they may seek.
    ///
    /// Defaults to `true`. An `Accept-Ranges` set by the inner service is never
    /// changed.
    ///
    /// ```
    /// let layer = tower_range::RangeLayer::new().accept_ranges(false);
    /// # let _ = layer;
    /// ```
    pub const fn accept_ranges(mut self, advertise: bool) -> Self {
        self.config.accept_ranges = advertise;
        self
    }
}

impl RangeLayer {
    /// Whether the layer evaluates the preconditions of `GET` and `HEAD` requests
    /// itself: `If-Match`, `If-Unmodified-Since`, `If-None-Match` and
    /// `If-Modified-Since` (RFC 9110 §13), before `If-Range` and `Range`.
    ///
    /// Defaults to `true`: any inner service that sets `ETag` or `Last-Modified` then
    /// answers `304 Not Modified` and `412 Precondition Failed` correctly, and in the
    /// order of RFC 9110 §13.2.2, whether or not it looks at these fields. The layer
    /// takes them off the request, so the inner service always produces the
    /// representation (its body is dropped unread for a `304` or `412`), and the answer
    /// is the same whatever the inner service would have made of them. Other methods
    /// are never touched: the validators are only known after an unsafe method has
    /// run, so its preconditions are the inner service's to check.
    ///
    /// Turn it off for an inner service that evaluates preconditions itself and would
    /// rather not produce a body it may not need (a proxy, say): it then sees the
    /// fields, and its `304` and `412` go out as they are.
    ///
    /// ```
    /// let layer = tower_range::RangeLayer::new().preconditions(false);
    /// # let _ = layer;
    /// ```
    pub const fn preconditions(mut self, evaluate: bool) -> Self {
        self.config.preconditions = evaluate;
        self
    }

    /// How many bytes one read of a file source asks for, and the largest frame cut
    /// from a bytes source.
    ///
    /// Applies to [`RangeSource::file`](crate::RangeSource::file) and
    /// [`RangeSource::bytes`](crate::RangeSource::bytes); a
    /// [`RandomAccess`](crate::RandomAccess) source sizes its own reads.
    ///
    /// Defaults to 32 KiB. The chunk is the unit of both pace and memory: a client that
    /// stops reading pins the chunk the server is writing (and the next one, read
    /// before the server waits for room), so the default keeps a paused response small
    /// while each write stays large enough for the system call to be cheap beside the
    /// copy. Larger chunks mean fewer, larger writes, which makes a fast download
    /// faster and a paused one hold more; the README's performance table has
    /// measurements of both. Values below 1 are taken as 1.
    ///
    /// ```
    /// let layer = tower_range::RangeLayer::new().read_chunk(256 * 1024);
    /// # let _ = layer;
    /// ```
    pub const fn read_chunk(mut self, bytes: usize) -> Self {
        self.config.read_chunk = if bytes == 0 { 1 } else { bytes };
        self
    }
}

impl Default for RangeLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RangeLayer {
    type Service = RangeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RangeService::with_config(inner, self.config)
    }
}

// `RangeService::layer` lives here, beside the type it returns, so that `service.rs`
// never imports this module: the layer builds the service, not the other way round.
impl RangeService<()> {
    /// A [`RangeLayer`] with the defaults; the same as [`RangeLayer::new`], written as
    /// tower-http's middleware write theirs.
    ///
    /// Called as `RangeService::layer()`: the `()` only spares naming a service type.
    ///
    /// ```
    /// use tower_range::RangeService;
    ///
    /// let layer = RangeService::layer().max_ranges(8);
    /// # let _ = layer;
    /// ```
    pub fn layer() -> RangeLayer {
        RangeLayer::new()
    }
}
