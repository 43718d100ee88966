//! The handler for `--store`: the objects of a store (a bucket, a directory; see
//! `store_url.rs`), each range fetched from the store as the client reads it, knowing
//! nothing of ranges or conditionals.
//!
//! It looks up the object's metadata, answers `404` for a missing key, and otherwise
//! sets `Content-Type` (the object's own, else guessed from the key), `Content-Length`,
//! `ETag` and `Last-Modified`, and attaches a `RangeSource` for the object. `RangeLayer`
//! does the rest: each range it sends is one ranged `GET` with `If-Match`, streamed as
//! the client reads; multipart, `If-Range`, `304` and `412`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use object_store::path::Path;
use object_store::{Attribute, GetOptions, ObjectMeta, ObjectStore};
use tower_range::RangeSource;

use crate::files::{status_only, FileResponse};

/// The store served, and what is known of its objects.
pub(crate) struct Bucket {
    store: Arc<dyn ObjectStore>,
    metadata: Metadata,
}

impl Bucket {
    /// Serves the objects of `store`, reusing each one's metadata for `metadata_ttl`.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, metadata_ttl: Duration) -> Self {
        Self {
            store,
            metadata: Metadata::new(metadata_ttl),
        }
    }
}

/// The handler: the object's metadata and a source to read it from, or an error status.
pub(crate) async fn serve_object<B>(
    app: Arc<Bucket>,
    req: Request<B>,
) -> Result<FileResponse, Infallible> {
    Ok(object_response(&app, &req)
        .await
        .unwrap_or_else(status_only))
}

async fn object_response<B>(app: &Bucket, req: &Request<B>) -> Result<FileResponse, StatusCode> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    let key = req.uri().path().trim_start_matches('/');
    // The store's root is no object.
    let location = match Path::from_url_path(key) {
        Ok(location) if !location.as_ref().is_empty() => location,
        _ => return Err(StatusCode::NOT_FOUND),
    };
    let object = match app.metadata.get(&app.store, &location).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => return Err(StatusCode::NOT_FOUND),
        Err(err) => {
            tracing::warn!(%location, error = %err, "metadata");
            return Err(StatusCode::BAD_GATEWAY);
        }
    };
    let meta = &object.meta;
    let source = RangeSource::object(Arc::clone(&app.store), meta);
    let mut res = if req.method() == Method::HEAD {
        status_only(StatusCode::OK)
    } else {
        // The whole object, fetched only if the layer does not read from the source.
        http::Response::new(source.body().boxed_unsync())
    };
    let headers = res.headers_mut();
    let content_type = object
        .content_type
        .clone()
        .or_else(|| mime_guess::from_path(key).first_raw().map(str::to_owned))
        .unwrap_or_else(|| "application/octet-stream".into());
    if let Ok(value) = HeaderValue::try_from(content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    headers.insert(CONTENT_LENGTH, meta.size.into());
    if let Some(value) = meta
        .e_tag
        .as_deref()
        .and_then(|t| HeaderValue::try_from(t).ok())
    {
        headers.insert(ETAG, value);
    }
    let modified = httpdate::fmt_http_date(SystemTime::from(meta.last_modified));
    headers.insert(
        LAST_MODIFIED,
        HeaderValue::try_from(modified).expect("a date"),
    );
    res.extensions_mut().insert(source);
    Ok(res)
}

/// An object's metadata and its stored `Content-Type`.
struct Object {
    meta: ObjectMeta,
    content_type: Option<String>,
}

/// Metadata looked up within the last `ttl`, so that a range costs one store request,
/// not two.
struct Metadata {
    ttl: Duration,
    cache: Mutex<HashMap<Path, (Instant, Arc<Object>)>>,
}

impl Metadata {
    /// The most entries kept; past it the cache starts again.
    const MAX: usize = 10_000;

    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            cache: Mutex::default(),
        }
    }

    async fn get(
        &self,
        store: &Arc<dyn ObjectStore>,
        location: &Path,
    ) -> object_store::Result<Arc<Object>> {
        if let Some((at, object)) = self.cache.lock().unwrap().get(location) {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(object));
            }
        }
        // A `HEAD`, through `get_opts` for the object's attributes.
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let result = store.get_opts(location, head).await?;
        let object = Arc::new(Object {
            content_type: result
                .attributes
                .get(&Attribute::ContentType)
                .map(|v| v.to_string()),
            meta: result.meta,
        });
        if !self.ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap();
            if cache.len() >= Self::MAX {
                cache.clear();
            }
            cache.insert(location.clone(), (Instant::now(), Arc::clone(&object)));
        }
        Ok(object)
    }
}
