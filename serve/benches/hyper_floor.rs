//! The floor of `benches/load.py`'s small responses: a bare hyper HTTP/1.1 server on a
//! current-thread runtime, with no layer, no handler logic and no deadlines.
//!
//! ```text
//! cargo bench --bench hyper_floor -- --addr 127.0.0.1:3106 --static target/load
//! cargo bench --bench hyper_floor -- --addr 127.0.0.1:3107 --read target/load
//! ```
//!
//! With `--static DIR` it reads the files of `DIR` up to 16 MiB once, at start, and
//! answers each request with the bytes of the one its path names: what hyper itself
//! costs per response. With `--read DIR` it answers each
//! request with the file its path names beneath `DIR`, read whole with `std::fs::read`
//! on the runtime thread (open, statx, read, close): what hyper and the plainest file
//! read cost together. Every response is a `200` with `Content-Length`; a file that
//! cannot be read is a `404`. It is no server (it checks no path, and blocks its only
//! thread on the disk): it exists to be measured beside the real ones.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What every response is made of.
enum Answer {
    /// Files read at start, by URL path.
    Static(HashMap<String, Bytes>),
    /// The file named by the request's path, beneath this directory.
    Read(PathBuf),
}

impl Answer {
    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let body = match self {
            Self::Static(files) => files.get(req.uri().path()).cloned().ok_or(()),
            Self::Read(root) => {
                let rel = req.uri().path().trim_start_matches('/');
                std::fs::read(root.join(rel))
                    .map(Bytes::from)
                    .map_err(|_| ())
            }
        };
        body.map_or_else(
            |_| {
                let mut res = Response::new(Full::default());
                *res.status_mut() = StatusCode::NOT_FOUND;
                res
            },
            |bytes| Response::new(Full::new(bytes)),
        )
    }
}

/// The files of `dir` up to 16 MiB, by URL path.
fn read_dir(dir: Option<String>) -> std::io::Result<HashMap<String, Bytes>> {
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir.unwrap_or_default())? {
        let entry = entry?;
        let meta = entry.metadata()?;
        if meta.is_file() && meta.len() <= 16 << 20 {
            let path = format!("/{}", entry.file_name().to_string_lossy());
            files.insert(path, Bytes::from(std::fs::read(entry.path())?));
        }
    }
    Ok(files)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut addr, mut answer) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next(),
            "--static" => answer = Some(Answer::Static(read_dir(args.next())?)),
            "--read" => answer = args.next().map(|dir| Answer::Read(dir.into())),
            // `cargo bench` passes `--bench` and filters.
            _ => {}
        }
    }
    let (Some(addr), Some(answer)) = (addr, answer) else {
        eprintln!(
            "hyper_floor: no --addr and --static or --read, skipped (benches/load.py runs it)"
        );
        return Ok(());
    };
    let answer = Arc::new(answer);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::bind(addr).await?;
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                let answer = answer.clone();
                let service = service_fn(move |req| {
                    let res = answer.respond(&req);
                    async move { Ok::<_, Infallible>(res) }
                });
                tokio::spawn(async move {
                    let conn =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let _ = conn.await;
                });
            }
        })
}
