//! `RangeLayer` on a plain hyper server, with an in-memory body.
//!
//! ```text
//! cargo run --example hyper
//! curl -r -10 http://127.0.0.1:3000/
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::{service_fn, ServiceBuilder};
use tower_range::RangeLayer;

static TEXT: &[u8] = b"The quick brown fox jumps over the lazy dog.\n";

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let svc = ServiceBuilder::new()
            .layer(RangeLayer::new())
            .service(service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(TEXT))))
            }));
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .await;
        });
    }
}
