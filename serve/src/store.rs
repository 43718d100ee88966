//! The handler for `--store`: the library's `ObjectService` over the store a URL names
//! (see `store_url.rs`), with its store failures logged.
//!
//! `ObjectService` looks up each object's metadata (kept for `--metadata-ttl`), answers
//! `404`, `405`, `502` or `503`, and otherwise sets `Content-Type`, `Content-Length`,
//! `ETag` and `Last-Modified` and attaches a `RangeSource` for the object. `RangeLayer`
//! does the rest: each range it sends is one ranged `GET` with `If-Match`, streamed as
//! the client reads; multipart, `If-Range`, `304` and `412`.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use object_store::ObjectStore;
use tower::ServiceExt;
use tower_range::{ObjectService, SourceBody};

use crate::connection::Handler;

/// The objects of `store`, each one's metadata reused for `metadata_ttl`.
pub(crate) fn handler(store: Arc<dyn ObjectStore>, metadata_ttl: Duration) -> impl Handler {
    let service = ObjectService::new(store).metadata_ttl(metadata_ttl);
    ServiceExt::<Request<Incoming>>::map_response(service, log_failure)
}

/// Logs the store's error behind a `502` or `503`, which `ObjectService` keeps in the
/// response's extensions.
fn log_failure(res: Response<SourceBody>) -> Response<SourceBody> {
    if let Some(err) = res.extensions().get::<Arc<object_store::Error>>() {
        tracing::warn!(status = res.status().as_u16(), error = %err, "store");
    }
    res
}
