//! An object server: every object of a store over HTTP, with ranges, multipart ranges
//! and conditional requests. The store comes from a URL: `memory:///` (the default)
//! starts with one object, `file:///srv/media` serves a directory; `s3://bucket/prefix`
//! and the others need object_store's feature for them (and their credentials).
//!
//! ```text
//! cargo run --example object_store --features object-store -- file:///usr/share/doc
//! curl -r 0-99 http://127.0.0.1:3000/bash/README
//! ```

use std::sync::Arc;

use axum::serve::{Listener, ListenerExt};
use axum::Router;
use object_store::{ObjectStore, ObjectStoreExt};
use tower::Layer;
use tower_range::{ObjectService, RangeLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memory:///".into());
    // The store, and the path within it that the URL names.
    let (store, prefix) = object_store::parse_url(&url::Url::parse(&url)?)?;
    let store: Arc<dyn ObjectStore> = Arc::from(store);
    if url.starts_with("memory:") {
        let hello = prefix.clone().join("hello.txt");
        store.put(&hello, "hello, world\n".into()).await?;
    }

    // ObjectService looks objects up and sets their fields; RangeLayer answers
    // `Range`, `If-Range`, `If-None-Match` and the rest from them.
    let objects = RangeLayer::new().layer(ObjectService::new(store).prefix(prefix));
    let app = Router::new().fallback_service(objects);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await?
        // Without TCP_NODELAY, small responses can wait 40 ms for a delayed ACK.
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    println!("serving {url} on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
