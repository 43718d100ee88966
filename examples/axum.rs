//! `RangeLayer` on an axum router: every route that answers `200` with a known length
//! now answers `Range` too.
//!
//! ```text
//! cargo run --example axum
//! curl -r 0-4 http://127.0.0.1:3000/
//! ```

use axum::serve::{Listener, ListenerExt};
use axum::{routing::get, Router};
use tower_range::RangeLayer;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/",
            get(|| async { "0123456789abcdefghijklmnopqrstuvwxyz\n" }),
        )
        .layer(RangeLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await?
        // Without TCP_NODELAY, small responses can wait 40 ms for a delayed ACK.
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await
}
