//! [`ObjectService`]: a [`Service`] that serves the objects of an object store, for
//! [`RangeLayer`](crate::RangeLayer) to range.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use ::object_store::path::Path;
use ::object_store::ObjectStore;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::object_failure;
use crate::object_head::ObjectHead;
use crate::object_metadata::Metadata;
use crate::source::RangeSource;
use crate::source_body::SourceBody;
use crate::store::{ObjectAccess, DEFAULT_PREFETCH};

/// A [`Service`] that answers `GET` and `HEAD` with the objects of an object store (the
/// `object_store` crate: S3, GCS, Azure, HTTP, a local directory, memory), made to be
/// wrapped in [`RangeLayer`](crate::RangeLayer), which answers ranges and conditional
/// requests from what it sets.
///
/// The request's path is the object's key (percent-decoded, under the
/// [`prefix`](ObjectService::prefix)). For an object, it answers `200 OK` with:
///
/// - `Content-Type`: the object's own, else guessed from the key's extension, else
///   `application/octet-stream`; `Content-Length`, `ETag` and `Last-Modified` from its
///   metadata; `Cache-Control`, `Content-Disposition`, `Content-Encoding` and
///   `Content-Language` when the object has them;
/// - a [`RangeSource::object`] in the extensions, so the layer reads each range it
///   sends with one ranged `GET`, pinned to this version of the object by `If-Match`;
/// - the whole object as the body, which is fetched only if the layer sends it (a
///   `200` to a `GET`); nothing for `HEAD`.
///
/// Otherwise, with an empty body:
///
/// | case | answer |
/// |------|--------|
/// | no such object, or a path that is not a key (`..`, `//`, a trailing `/`, the root) | `404 Not Found` |
/// | a method other than `GET` and `HEAD` | `405 Method Not Allowed`, `Allow: GET, HEAD` |
/// | the store says it is overloaded (it answered `503` or `429`, after its retries) | `503 Service Unavailable`, [`Retry-After`](ObjectService::retry_after) |
/// | any other failure of the store | `502 Bad Gateway` |
///
/// object_store does not publish the HTTP status of a failed request, only its message:
/// a failure counts as overloaded when some error in its chain of `source`s says
/// `503 Service Unavailable` or `429 Too Many Requests`. The store's error rides in the
/// `404`, `502` or `503`'s extensions, as an `Arc<object_store::Error>`, for a server
/// to log.
///
/// An object's metadata is kept for the [`metadata_ttl`](ObjectService::metadata_ttl),
/// so that a client seeking in a video costs one store request per range, not two. A
/// `GET` that finds the object replaced or deleted (its `If-Match` fails) fails that
/// response, as it must (its headers described the old version), and drops the
/// metadata, so the next request sees the new version.
///
/// Clones share the store and the metadata.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use http::{header, Request, StatusCode};
/// use http_body_util::BodyExt;
/// use object_store::{memory::InMemory, path::Path, ObjectStore, ObjectStoreExt};
/// use tower::{Layer, ServiceExt};
/// use tower_range::{ObjectService, RangeLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_range::BoxError> {
/// let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
/// store.put(&Path::from("docs/hello.txt"), "hello, world".into()).await?;
///
/// // The whole of a user's code.
/// let svc = RangeLayer::new().layer(ObjectService::new(store));
///
/// let req = Request::get("/docs/hello.txt").header(header::RANGE, "bytes=7-").body(())?;
/// let res = svc.oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
/// assert_eq!(res.headers()[header::CONTENT_TYPE], "text/plain");
/// assert_eq!(res.headers()[header::CONTENT_RANGE], "bytes 7-11/12");
/// assert_eq!(res.into_body().collect().await?.to_bytes(), "world");
/// # Ok(())
/// # }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
#[derive(Clone)]
#[must_use]
pub struct ObjectService {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    settings: Settings,
    metadata: Arc<Metadata>,
}

/// What the setters choose; copied into each request's future.
#[derive(Clone, Copy, Debug)]
struct Settings {
    metadata_ttl: Duration,
    metadata_capacity: usize,
    prefetch: usize,
    retry_after: Duration,
}

impl ObjectService {
    /// The most objects whose metadata is kept, by default.
    const METADATA_CAPACITY: usize = 10_000;

    /// Serves the objects of `store`, with the defaults: no prefix, metadata kept 5
    /// seconds for up to 10,000 objects, 7 parts read ahead, `Retry-After: 1`.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self {
            store,
            prefix: Path::default(),
            settings: Settings {
                metadata_ttl: Duration::from_secs(5),
                metadata_capacity: Self::METADATA_CAPACITY,
                prefetch: DEFAULT_PREFETCH,
                retry_after: Duration::from_secs(1),
            },
            metadata: Arc::new(Metadata::new(Self::METADATA_CAPACITY)),
        }
    }

    /// Serves only the objects under `prefix`: the request path `/a/b` is the key
    /// `{prefix}/a/b`.
    ///
    /// Defaults to none: the path is the key. A prefix is what `object_store::parse_url`
    /// returns beside the store, for a URL such as `s3://bucket/videos`.
    ///
    /// ```
    /// # let store: std::sync::Arc<dyn object_store::ObjectStore> =
    /// #     std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let svc = tower_range::ObjectService::new(store).prefix("videos");
    /// # let _ = svc;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<Path>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long an object's metadata is reused before the store is asked again.
    ///
    /// Defaults to 5 seconds: the requests of a player seeking in a video, or of a
    /// reader paging through a PDF, come within that and cost one store request each,
    /// not two, while a replaced object is seen at the latest 5 seconds later (at once
    /// by any request whose `GET` finds it replaced). `Duration::ZERO` asks the store
    /// for every request.
    ///
    /// ```
    /// # let store: std::sync::Arc<dyn object_store::ObjectStore> =
    /// #     std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let svc = tower_range::ObjectService::new(store)
    ///     .metadata_ttl(std::time::Duration::from_secs(60));
    /// # let _ = svc;
    /// ```
    pub const fn metadata_ttl(mut self, ttl: Duration) -> Self {
        self.settings.metadata_ttl = ttl;
        self
    }

    /// The most objects whose metadata is kept at once.
    ///
    /// Defaults to 10,000: a few megabytes at most (an entry is its key, its `ETag`
    /// and a few header fields), enough for the objects a server is busy with. Past it,
    /// the objects least used lately make room. 0 keeps nothing. Setting it starts an
    /// empty cache, which clones made from then on share.
    ///
    /// ```
    /// # let store: std::sync::Arc<dyn object_store::ObjectStore> =
    /// #     std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let svc = tower_range::ObjectService::new(store).metadata_capacity(1_000);
    /// # let _ = svc;
    /// ```
    pub fn metadata_capacity(mut self, entries: usize) -> Self {
        self.settings.metadata_capacity = entries;
        self.metadata = Arc::new(Metadata::new(entries));
        self
    }

    /// How many parts of a `multipart/byteranges` response are fetched ahead of the
    /// one being sent (see [`RandomAccess::prefetch`](crate::RandomAccess::prefetch)).
    ///
    /// Defaults to 7: with the part being sent, 8 `GET`s in flight, so that 16 parts
    /// take about two store round trips rather than sixteen. A part fetched ahead holds
    /// at most one chunk of the store's stream until its turn; each open `GET` also
    /// holds a connection to the store. 0 fetches one part at a time.
    ///
    /// ```
    /// # let store: std::sync::Arc<dyn object_store::ObjectStore> =
    /// #     std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let svc = tower_range::ObjectService::new(store).prefetch(3);
    /// # let _ = svc;
    /// ```
    pub const fn prefetch(mut self, parts: usize) -> Self {
        self.settings.prefetch = parts;
        self
    }

    /// The `Retry-After` of a `503` sent when the store is overloaded, in whole
    /// seconds (rounded up).
    ///
    /// Defaults to 1 second: the store's client has already retried with backoff
    /// before giving up, so the client is told to wait a little, not to go away.
    ///
    /// ```
    /// # let store: std::sync::Arc<dyn object_store::ObjectStore> =
    /// #     std::sync::Arc::new(object_store::memory::InMemory::new());
    /// let svc = tower_range::ObjectService::new(store)
    ///     .retry_after(std::time::Duration::from_secs(5));
    /// # let _ = svc;
    /// ```
    pub const fn retry_after(mut self, wait: Duration) -> Self {
        self.settings.retry_after = wait;
        self
    }

    /// The key that `path` (a request's, percent-encoded) names, under the prefix;
    /// `None` when it names no object.
    fn location(&self, path: &str) -> Option<Path> {
        let key = path.strip_prefix('/').unwrap_or(path);
        // A directory, not an object: `Path` would drop the `/` and serve `a` as `a/`.
        if key.is_empty() || key.ends_with('/') {
            return None;
        }
        let key = Path::from_url_path(key).ok()?;
        Some(self.prefix.parts().chain(key.parts()).collect())
    }
}

impl<B> Service<Request<B>> for ObjectService {
    type Response = Response<SourceBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<SourceBody>, Infallible>> + Send>>;

    #[inline]
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let head_only = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => {
                let mut res = status_only(StatusCode::METHOD_NOT_ALLOWED);
                res.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                return Box::pin(std::future::ready(Ok(res)));
            }
        };
        let Some(location) = self.location(req.uri().path()) else {
            return Box::pin(std::future::ready(Ok(status_only(StatusCode::NOT_FOUND))));
        };
        let (store, metadata, settings) = (
            Arc::clone(&self.store),
            Arc::clone(&self.metadata),
            self.settings,
        );
        Box::pin(async move {
            let head = match metadata
                .head(&*store, &location, settings.metadata_ttl)
                .await
            {
                Ok(head) => head,
                Err(err) => return Ok(failure(err, settings)),
            };
            Ok(respond(store, metadata, head, head_only, settings))
        })
    }
}

/// The `200` for the object `head` describes.
fn respond(
    store: Arc<dyn ObjectStore>,
    metadata: Arc<Metadata>,
    head: Arc<ObjectHead>,
    head_only: bool,
    settings: Settings,
) -> Response<SourceBody> {
    let headers = head.headers.clone();
    let len = head.meta.size;
    // A `GET` that finds this version gone drops its metadata.
    let stale = Arc::clone(&head);
    let on_stale = Box::new(move || metadata.forget(&stale));
    let access = ObjectAccess::new(store, &head.meta, settings.prefetch, Some(on_stale));
    let source = RangeSource::new(access, len);
    let body = if head_only {
        empty()
    } else {
        // The whole object, fetched only if the layer does not read from the source.
        source.body()
    };
    let mut res = Response::new(body);
    *res.headers_mut() = headers;
    res.extensions_mut().insert(source);
    res
}

/// The answer to a store that failed to describe the object.
fn failure(err: ::object_store::Error, settings: Settings) -> Response<SourceBody> {
    let status = object_failure::status(&err);
    let mut res = status_only(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let wait = settings.retry_after;
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    res.extensions_mut().insert(Arc::new(err));
    res
}

/// A response with `status` and no content.
fn status_only(status: StatusCode) -> Response<SourceBody> {
    let mut res = Response::new(empty());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    res
}

fn empty() -> SourceBody {
    RangeSource::bytes(Bytes::new()).body()
}

impl fmt::Debug for ObjectService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectService")
            .field("store", &self.store)
            .field("prefix", &self.prefix)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
