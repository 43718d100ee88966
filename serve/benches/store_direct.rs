//! The baseline of `benches/object_store.py`: one S3 object streamed straight from the
//! store with `object_store`, in this process, with no HTTP server in between; the
//! client is built as `tower-range-serve --store` builds it.
//!
//! ```text
//! AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… cargo bench -p tower-range-serve \
//!     --bench store_direct -- --endpoint http://127.0.0.1:9000 --bucket media --key big.bin [--rounds 3]
//! ```
//!
//! Each round is one `GET` of the whole object, its bytes counted and dropped, timed
//! from the request to the last byte. Prints one line of JSON: the object's size, the
//! fastest round's seconds, its seconds to the first body byte and its MB/s (10^6 bytes
//! per second), and every round's seconds.

use std::future::poll_fn;
use std::time::{Duration, Instant};

use clap::Parser;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, GetOptions, ObjectStore, RetryConfig};

/// Streams one object of an S3 bucket `--rounds` times and prints the throughput.
/// Credentials come from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. Without
/// `--endpoint`, as in a plain `cargo bench`, it does nothing.
#[derive(Debug, Parser)]
struct Args {
    /// The store's URL; plain `http://` is allowed.
    #[arg(long, requires_all = ["bucket", "key"])]
    endpoint: Option<String>,
    /// The bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// The object's key.
    #[arg(long)]
    key: Option<String>,
    /// How many times to stream the object.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// Filters `cargo bench` passes to every bench; ignored.
    #[arg(hide = true)]
    filters: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let (Some(endpoint), Some(bucket), Some(key)) = (args.endpoint, args.bucket, args.key) else {
        eprintln!("store_direct: no --endpoint, skipped (benches/object_store.py runs it)");
        return Ok(());
    };
    // object_store's HTTP client is built on rustls without a default crypto provider.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    // As `tower-range-serve --store` with its default flags: path-style requests, the
    // default timeout (30 s) and retries (10).
    let store = AmazonS3Builder::from_env()
        .with_endpoint(&endpoint)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_virtual_hosted_style_request(false)
        .with_client_options(
            ClientOptions::new()
                .with_timeout(Duration::from_secs(30))
                .with_allow_http(endpoint.starts_with("http://")),
        )
        .with_retry(RetryConfig {
            max_retries: 10,
            ..RetryConfig::default()
        })
        .build()?;
    let location = Path::from(key);
    let mut bytes = 0;
    // Each round's seconds to the first body byte and to the last.
    let mut rounds: Vec<(f64, f64)> = Vec::new();
    for _ in 0..args.rounds.max(1) {
        let start = Instant::now();
        let result = store.get_opts(&location, GetOptions::default()).await?;
        let expected = result.meta.size;
        let mut stream = result.into_stream();
        let mut first_byte = None;
        bytes = 0;
        while let Some(chunk) = poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            bytes += chunk?.len() as u64;
            first_byte.get_or_insert_with(|| start.elapsed().as_secs_f64());
        }
        let seconds = start.elapsed().as_secs_f64();
        if bytes != expected {
            return Err(format!("read {bytes} bytes of an object of {expected}").into());
        }
        rounds.push((first_byte.unwrap_or(seconds), seconds));
    }
    let (first_byte, best) = rounds
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or_default();
    let all = rounds
        .iter()
        .map(|(_, s)| format!("{s:.6}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "{{\"bytes\": {bytes}, \"seconds\": {best:.6}, \"first_byte_seconds\": {first_byte:.6}, \
         \"mb_per_s\": {:.3}, \"rounds\": [{all}]}}",
        bytes as f64 / best / 1e6
    );
    Ok(())
}
