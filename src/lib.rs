//! Tower middleware that answers HTTP `Range` requests (RFC 9110 §14) for any service.
//!
//! The inner service produces whole representations: a file, a blob, a proxied object.
//! [`RangeLayer`] reads the request's `Range` and `If-Range`, lets the inner service
//! answer, and turns its `200 OK` into a `206 Partial Content` (one range, or
//! `multipart/byteranges` for several) or a `416 Range Not Satisfiable`. The ranged body
//! reads the inner body only as the client reads, so a paused client pauses the inner
//! body too, and nothing is buffered beyond one inner frame.
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

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod body;
mod config;
mod error;
mod future;
mod if_range;
mod layer;
mod multipart;
mod plan;
mod range;
mod service;
mod slice;
mod source;

pub use body::ResponseBody;
pub use error::{BoxError, RangeBodyError};
pub use future::ResponseFuture;
pub use config::OverLimit;
pub use layer::RangeLayer;
pub use service::RangeService;
pub use source::{RandomAccess, RangeSource, ReadFuture};
