//! tower-http's `ServeDir`, alone or wrapped in `RangeLayer` (`--ranged`): the Rust peer
//! in the load benchmark, and an example of the composition. `ServeDir` answers single
//! ranges itself; the layer adds multipart, `If-Range`, and checks its answers.
//!
//! ```text
//! cargo run --release --example serve_dir -- --root . --addr 127.0.0.1:3001 --ranged
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tower_http::services::ServeDir;
use tower_range::RangeLayer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut root = PathBuf::from(".");
    let mut addr: SocketAddr = "127.0.0.1:3001".parse()?;
    let mut ranged = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--root" => root = args.next().ok_or("--root DIR")?.into(),
            "--addr" => addr = args.next().ok_or("--addr HOST:PORT")?.parse()?,
            "--ranged" => ranged = true,
            _ => return Err("usage: serve_dir [--root DIR] [--addr HOST:PORT] [--ranged]".into()),
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "serving {} on http://{}/",
        root.display(),
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let serve_dir = ServeDir::new(&root);
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        let io = TokioIo::new(stream);
        if ranged {
            let svc = ServiceBuilder::new()
                .layer(RangeLayer::new())
                .service(serve_dir);
            tokio::spawn(async move {
                let _ = builder
                    .serve_connection(io, TowerToHyperService::new(svc))
                    .await;
            });
        } else {
            tokio::spawn(async move {
                let _ = builder
                    .serve_connection(io, TowerToHyperService::new(serve_dir))
                    .await;
            });
        }
    }
}
