//! Tower middleware that answers HTTP `Range` requests (RFC 9110 §14) for any service.
//!
//! The inner service produces whole representations: a file, a blob, a proxied object.
//! [`RangeLayer`] reads the request's `Range`, `If-Range` and preconditions, lets the
//! inner service answer, and turns its `200 OK` into a `206 Partial Content` (one range,
//! or `multipart/byteranges` for several), a `416 Range Not Satisfiable`, or, from the
//! response's `ETag` and `Last-Modified`, a `304 Not Modified` or `412 Precondition
//! Failed`. The ranged body reads the inner body only as the client reads, so a paused
//! client pauses the inner body too, and nothing is buffered beyond one inner frame.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{header, Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_range::RangeLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_range::BoxError> {
//! let svc = ServiceBuilder::new()
//!     .layer(RangeLayer::new())
//!     .service(service_fn(|_req: Request<()>| async {
//!         let body = Full::new(Bytes::from_static(b"0123456789"));
//!         Ok::<_, std::convert::Infallible>(Response::new(body))
//!     }));
//!
//! let req = Request::get("/").header(header::RANGE, "bytes=0-4").body(())?;
//! let res = svc.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
//! assert_eq!(res.headers()[header::CONTENT_RANGE], "bytes 0-4/10");
//! assert_eq!(res.headers()[header::CONTENT_LENGTH], "5");
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "01234");
//! # Ok(())
//! # }
//! ```
//!
//! # What gets ranged
//!
//! Only `GET` and `HEAD`, and only an inner `200 OK` whose length is known (its
//! `Content-Length`, or an exact body size) and that does not say `Accept-Ranges: none`.
//! A `Range` that does not parse, or names another unit, is ignored: the `200` goes out
//! whole. The README's table lists every case.
//!
//! # Preconditions
//!
//! Before `If-Range` and `Range`, the layer evaluates `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match` and `If-Modified-Since` (RFC 9110 §13.2.2) against the inner
//! response's `ETag` and `Last-Modified`, for `GET` and `HEAD` and an inner `2xx`, so a
//! handler that only sets its validators is a correct conditional server too. See
//! [`RangeLayer::preconditions`].
//!
//! ```
//! use bytes::Bytes;
//! use http::{header, Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{service_fn, Layer, ServiceExt};
//! use tower_range::RangeLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_range::BoxError> {
//! let inner = service_fn(|_req: Request<()>| async {
//!     let mut res = Response::new(Full::new(Bytes::from("0123456789")));
//!     res.headers_mut().insert(header::ETAG, "\"v1\"".parse()?);
//!     Ok::<_, tower_range::BoxError>(res)
//! });
//! let svc = RangeLayer::new().layer(inner);
//! let revalidate = Request::get("/").header(header::IF_NONE_MATCH, "W/\"v1\"").body(())?;
//! assert_eq!(svc.clone().oneshot(revalidate).await?.status(), StatusCode::NOT_MODIFIED);
//! let stale_edit = Request::get("/")
//!     .header(header::IF_MATCH, "\"v0\"")
//!     .header(header::RANGE, "bytes=0-4")
//!     .body(())?;
//! assert_eq!(svc.oneshot(stale_edit).await?.status(), StatusCode::PRECONDITION_FAILED);
//! # Ok(())
//! # }
//! ```
//!
//! # If-Range
//!
//! The layer evaluates `If-Range` (RFC 9110 §13.1.5) itself; the inner service sees
//! neither it nor the `Range` it guards. An entity-tag must equal the response's `ETag`
//! by strong comparison, so a weak tag never matches. An HTTP-date must be the instant
//! of `Last-Modified`, and a strong validator (§8.8.2.2): at least one second before the
//! response's `Date`, or before the clock when the response has none (hyper adds `Date`
//! after the layer, from the same clock). Anything else, an `If-Range` sent twice
//! included, is false, and a false condition sends the whole `200`. Without `Range`,
//! `If-Range` is ignored.
//!
//! What the response alone cannot tell, the layer assumes:
//!
//! - A strong `ETag` names these very bytes. The one case the layer can see otherwise
//!   is a `200` coded as it streams (a `Content-Encoding` and no length, as a
//!   compressing layer inside this one leaves it, keeping the tag of the unencoded
//!   bytes): its `ETag` goes out weak (`W/"…"`), since §8.8.1 makes a tag shared by a
//!   gzip and an unencoded representation weak. `If-None-Match` still revalidates it;
//!   `If-Match` and `If-Range` no longer match it.
//! - A representation does not change twice within the second of its `Last-Modified`
//!   once that second is over. Only the origin knows; a client that follows §8.8.2.2
//!   sends a date only from a response dated at least a second after it.
//!
//! # Features
//!
//! - `object-store` (off): [`RangeSource::object`](crate::RangeSource) reads an object of
//!   any store of the `object_store` crate, each range one ranged `GET`; `ObjectService`
//!   serves a whole store, so that `RangeLayer::new().layer(ObjectService::new(store))`
//!   is an object server.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod access;
mod body;
mod body_reader;
mod config;
mod date;
mod error;
mod field;
mod file;
mod future;
mod if_range;
mod layer;
mod multipart;
#[cfg(feature = "object-store")]
mod object_failure;
#[cfg(feature = "object-store")]
mod object_head;
#[cfg(feature = "object-store")]
mod object_metadata;
#[cfg(feature = "object-store")]
mod object_service;
mod plan;
mod preconditions;
mod prefetch;
mod range;
mod reader;
mod service;
mod source;
mod source_body;
mod source_reader;
mod spare;
#[cfg(feature = "object-store")]
mod store;
mod sync_wrapper;
mod validators;

pub use access::{RandomAccess, RangeStream};
pub use body::ResponseBody;
pub use config::OverLimit;
pub use error::{BoxError, RangeBodyError};
pub use future::ResponseFuture;
pub use layer::RangeLayer;
#[cfg(feature = "object-store")]
pub use object_service::ObjectService;
pub use service::RangeService;
pub use source::RangeSource;
pub use source_body::SourceBody;

/// Every builder is `#[must_use]`: each line below drops what it built, and must fail
/// to compile under the doc tests' `deny(warnings)`.
///
/// ```compile_fail
/// tower_range::RangeLayer::new().max_ranges(8);
/// ```
///
/// ```compile_fail
/// tower_range::RangeService::layer();
/// ```
///
/// ```compile_fail
/// tower_range::RangeService::new(());
/// ```
///
/// ```compile_fail
/// tower_range::RangeSource::bytes(bytes::Bytes::new());
/// ```
///
/// ```compile_fail
/// struct Storage;
/// impl tower_range::RandomAccess for Storage {
///     fn read_range(&self, _: std::ops::Range<u64>) -> tower_range::RangeStream {
///         tower_range::RangeStream::new(futures_util::stream::empty::<std::io::Result<_>>())
///     }
/// }
/// tower_range::RangeSource::new(Storage, 0);
/// ```
///
/// ```compile_fail
/// tower_range::RangeSource::bytes(bytes::Bytes::new()).body();
/// ```
///
/// ```compile_fail
/// tower_range::RangeStream::new(futures_util::stream::empty::<std::io::Result<_>>());
/// ```
///
/// ```compile_fail
/// tower_range::RangeStream::chunked(0..1, 1, |_, _| async { Ok::<_, std::io::Error>(bytes::Bytes::new()) });
/// ```
#[cfg(doctest)]
pub struct MustUse;
