//! `tower-range-serve`: a file or object server whose handlers know nothing of ranges
//! or conditionals, wrapped in `RangeLayer`, and fit for clients that are slow,
//! careless or hostile.
//!
//! ```text
//! cargo run --release -p tower-range-serve -- --root ./media --addr 127.0.0.1:3000
//! curl -r 0-99 http://127.0.0.1:3000/video.mp4
//! ```
//!
//! - `files.rs`: the handler for `--root`. Whole files, `ETag`, `Last-Modified`,
//!   `Content-Type`, and a `RangeSource` so that the layer reads each range at its offset.
//! - `open_files.rs`: the files `files.rs` keeps open between requests, checked against
//!   their paths on every request.
//! - `store.rs`: the handler for `--store`: the library's `ObjectService`, each object
//!   with a `RangeSource` that fetches a range from the store as the client reads it.
//! - `store_url.rs`: the store a `--store` URL names (S3, Google Cloud Storage, Azure,
//!   a local directory), configured from the environment.
//! - `connection.rs`: hyper's settings, and deadlines for request heads, idle
//!   connections and clients that stop reading.
//! - `coalesce.rs`: one write for the HTTP/2 frames of each turn of a connection,
//!   where the `h2` crate would write each frame on its own.
//! - `tls.rs`: HTTPS with `--tls-cert` and `--tls-key`, HTTP/2 offered by ALPN.
//! - `log.rs`: one `tracing` event per request with `RUST_LOG=info` (the default,
//!   `warn`, logs only what goes wrong, like the nginx with `access_log off` that the
//!   benchmarks compare against).
//! - `in_flight.rs`: the requests a connection is answering, which its deadlines read.
//!
//! The accept loop survives running out of file descriptors, `--max-connections` caps
//! how many connections are served at once, and SIGINT or SIGTERM stops accepting at
//! once and lets responses in flight finish for `--grace` seconds.

mod coalesce;
mod connection;
mod files;
mod in_flight;
mod log;
#[cfg(target_os = "linux")]
mod open_files;
mod store;
mod store_url;
mod tls;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::Layer;
use tower_range::RangeLayer;

use crate::connection::{Handler, Limits};
use crate::files::Root;

/// Serves the files of a directory, or the objects of a bucket, over HTTP/1.1 and
/// HTTP/2 (prior knowledge on plain TCP, ALPN over TLS), with ranges and conditional
/// requests answered by `RangeLayer`.
#[derive(Debug, Parser)]
#[command(name = "tower-range-serve", version)]
struct Args {
    /// The directory to serve.
    #[arg(long, default_value = ".", conflicts_with = "store")]
    root: PathBuf,
    /// The object store to serve instead of a directory: `s3://BUCKET[/PREFIX]`,
    /// `gs://BUCKET[/PREFIX]`, `az://CONTAINER[/PREFIX]`, `file:///DIR` or `memory:///`.
    /// Credentials, region and endpoint come from the environment as object_store reads
    /// them: `AWS_*` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and
    /// `AWS_ENDPOINT` with `AWS_ALLOW_HTTP=true` for an S3-compatible server over
    /// HTTP), `GOOGLE_*`, `AZURE_*`.
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// With a network `--store`: seconds one store request may take, its body included
    /// (object_store's default). A client that pauses longer breaks the stream; the
    /// layer's source then asks for the rest of its range again.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    store_timeout: u64,
    /// With a network `--store`: retries of a failed store request (object_store's
    /// default).
    #[arg(long, value_name = "N", default_value_t = 10)]
    store_retries: usize,
    /// With `--store`: seconds an object's metadata is reused before the store is asked
    /// again; 0 asks for every request. A replaced object is seen within this time;
    /// until then its responses fail (each `GET` carries the old `ETag` as `If-Match`),
    /// never mixing versions.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    metadata_ttl: u64,
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// A PEM file of the certificate chain, leaf first: serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// A PEM file of the certificate's private key.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds a client has to send a request head, from its first byte (nginx's
    /// `client_header_timeout`).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    header_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request (nginx's
    /// `keepalive_timeout`).
    #[arg(long, value_name = "SECS", default_value_t = 75)]
    idle_timeout: u64,
    /// Seconds a client may take none of a response's bytes before the connection is
    /// closed and the response dropped (nginx's `send_timeout`). Over HTTP/2, that
    /// includes a response waiting for the client to open its flow-control window: the
    /// connection is closed with all its streams.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    send_timeout: u64,
    /// Connections served at once; more wait in the kernel's listen queue until one
    /// closes. Unlimited by default: the file descriptor limit is the cap, and running
    /// out of descriptors only delays new connections.
    #[arg(long, value_name = "N")]
    max_connections: Option<NonZeroUsize>,
    /// Seconds that responses in flight may take to finish after SIGINT or SIGTERM.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    grace: u64,
    /// With `--root`, on Linux: files kept open between requests, like nginx's
    /// `open_file_cache`, one descriptor each; 0 opens the file for every request.
    /// Never stale: each request checks with one `statx` that its path still names
    /// the same file, unchanged, and opens it again otherwise. Files unused for 30
    /// to 60 seconds are closed.
    #[arg(long, value_name = "N", default_value_t = 256)]
    open_files: usize,
    /// For benchmarks: the same handler without the layer.
    #[arg(long)]
    no_layer: bool,
    /// For benchmarks: `RangeLayer::read_chunk`, in KiB.
    #[arg(long, value_name = "KIB")]
    read_chunk: Option<usize>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // Warnings (accept failures) by default; `RUST_LOG=info` adds one line per request.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    match &args.store {
        Some(url) => {
            let client = store_url::Client {
                timeout: Duration::from_secs(args.store_timeout),
                retries: args.store_retries,
            };
            // A URL that names no store is a usage error, said as clap says its own.
            let store = store_url::open(url, client).unwrap_or_else(|err| {
                eprintln!("error: {err}");
                std::process::exit(2);
            });
            let metadata_ttl = Duration::from_secs(args.metadata_ttl);
            run(&args, url, store::handler(store, metadata_ttl)).await
        }
        None => {
            let root = Root::open(&args.root, args.open_files)?;
            let name = root.path.display().to_string();
            let handler = files::Files::new(root);
            run(&args, &name, handler).await
        }
    }
}

/// Accepts connections and serves each with `handler`, wrapped in the layer unless
/// `--no-layer`, until SIGINT or SIGTERM; then lets the connections left finish.
async fn run<H: Handler>(
    args: &Args,
    name: &str,
    handler: H,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let limits = Limits {
        header: Duration::from_secs(args.header_timeout),
        idle: Duration::from_secs(args.idle_timeout),
        send: Duration::from_secs(args.send_timeout),
    };
    let layer = args.read_chunk.map_or(RangeLayer::new(), |kib| {
        RangeLayer::new().read_chunk(kib * 1024)
    });
    let slots = args
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n.get())));

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };

    let listener = TcpListener::bind(args.addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("serving {name} on {scheme}://{}/", listener.local_addr()?);

    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        // Past the cap, wait here: new connections queue in the kernel meanwhile.
        let slot = match &slots {
            Some(slots) => tokio::select! {
                slot = slots.clone().acquire_owned() => Some(slot?),
                () = &mut shutdown => break,
            },
            None => None,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    connection::accept_error(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses must not wait for a delayed ACK (Nagle's algorithm), which
        // costs up to 40 ms per response on a kept-alive connection.
        let _ = stream.set_nodelay(true);
        let accepted = Accepted {
            stream,
            tls: tls.clone(),
            limits,
            watcher: graceful.watcher(),
            slot,
        };
        if args.no_layer {
            accepted.spawn(handler.clone());
        } else {
            accepted.spawn(layer.layer(handler.clone()));
        }
    }

    // Refuse new connections at once, then let the ones in flight finish.
    drop(listener);
    let open = graceful.count();
    tracing::info!(connections = open, grace_secs = args.grace, "shutting down");
    let grace = Duration::from_secs(args.grace);
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("every connection finished"),
        Err(_) => tracing::warn!("grace period over; closing the connections left"),
    }
    Ok(())
}

/// A connection accepted, and what serving it needs.
struct Accepted {
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    watcher: Watcher,
    /// Its place under `--max-connections`, given back when it closes.
    slot: Option<OwnedSemaphorePermit>,
}

impl Accepted {
    /// Serves the connection with `service` on a task of its own.
    fn spawn<S: Handler>(self, service: S) {
        tokio::spawn(async move {
            connection::serve(self.stream, self.tls, service, self.limits, self.watcher).await;
            drop(self.slot);
        });
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
