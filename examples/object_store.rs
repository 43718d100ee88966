//! The objects of an S3 bucket over HTTP, each range fetched from the store as the
//! client reads it: a handler that knows nothing of ranges or conditionals, wrapped in
//! `RangeLayer`.
//!
//! ```text
//! AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… cargo run --release --features object-store \
//!     --example object_store -- --endpoint http://127.0.0.1:9000 --bucket media --addr 127.0.0.1:3000
//! curl -r 0-99 http://127.0.0.1:3000/videos/clip.mp4
//! ```
//!
//! The handler looks up the object's metadata, answers `404` for a missing key, and
//! otherwise sets `Content-Type` (the object's own, else guessed from the key),
//! `Content-Length`, `ETag` and `Last-Modified`, and attaches a `RangeSource` for the
//! object. `RangeLayer` does the rest: each range it sends is one ranged `GET` with
//! `If-Match`, streamed as the client reads; multipart, `If-Range`, `304` and `412`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use axum::Router;
use clap::Parser;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{Attribute, ClientOptions, GetOptions, ObjectMeta, ObjectStore, RetryConfig};
use tower_range::{RangeLayer, RangeSource};

/// Serves every object of an S3 bucket at `/{key}`, with ranges and conditional
/// requests answered by `RangeLayer`. Credentials come from `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`, the region from `AWS_REGION` (else `us-east-1`).
#[derive(Debug, Parser)]
struct Args {
    /// The store's URL; plain `http://` is allowed.
    #[arg(long)]
    endpoint: String,
    /// The bucket to serve.
    #[arg(long)]
    bucket: String,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Seconds one store request may take, its body included (object_store's default).
    /// A client that pauses longer breaks the stream; the layer's source then asks for
    /// the rest of its range again.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    store_timeout: u64,
    /// Retries of a failed store request (object_store's default).
    #[arg(long, value_name = "N", default_value_t = 10)]
    store_retries: usize,
    /// Seconds an object's metadata is reused before the store is asked again; 0 asks
    /// for every request. A replaced object is seen within this time; until then its
    /// responses fail (each `GET` carries the old `ETag` as `If-Match`), never mixing
    /// versions.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    metadata_ttl: u64,
}

/// What the handler shares.
#[derive(Clone)]
struct App {
    store: Arc<dyn ObjectStore>,
    metadata: Arc<Metadata>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    // object_store's HTTP client is built on rustls without a default crypto provider.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let store = AmazonS3Builder::from_env()
        .with_endpoint(&args.endpoint)
        .with_bucket_name(&args.bucket)
        .with_region(region)
        .with_client_options(
            ClientOptions::new()
                .with_timeout(Duration::from_secs(args.store_timeout))
                .with_allow_http(args.endpoint.starts_with("http://")),
        )
        .with_retry(RetryConfig {
            max_retries: args.store_retries,
            ..RetryConfig::default()
        })
        .build()?;
    let app = App {
        store: Arc::new(store),
        metadata: Arc::new(Metadata::new(Duration::from_secs(args.metadata_ttl))),
    };
    let router = Router::new()
        .fallback(serve_object)
        .with_state(app)
        .layer(RangeLayer::new());
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    println!(
        "serving s3://{} on http://{}/",
        args.bucket,
        listener.local_addr()?
    );
    axum::serve(listener, router).await?;
    Ok(())
}

/// The handler: the object's metadata and a source to read it from.
async fn serve_object(State(app): State<App>, req: Request<Body>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let key = req.uri().path().trim_start_matches('/');
    let Ok(location) = Path::from_url_path(key) else {
        return status(StatusCode::NOT_FOUND);
    };
    let object = match app.metadata.get(&app.store, &location).await {
        Ok(object) => object,
        Err(object_store::Error::NotFound { .. }) => return status(StatusCode::NOT_FOUND),
        Err(err) => {
            tracing::warn!(%location, error = %err, "metadata");
            return status(StatusCode::BAD_GATEWAY);
        }
    };
    let meta = &object.meta;
    let source = RangeSource::object(Arc::clone(&app.store), meta);
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        // The whole object, fetched only if the layer does not read from the source.
        Body::new(source.body())
    };
    let mut res = Response::new(body);
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
    res
}

fn status(status: StatusCode) -> Response<Body> {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
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
