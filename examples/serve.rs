//! A static-file server whose handler knows nothing of ranges, wrapped in `RangeLayer`.
//!
//! ```text
//! cargo run --release --example serve -- --root ./media --addr 127.0.0.1:3000
//! curl -r 0-99 http://127.0.0.1:3000/video.mp4
//! ```
//!
//! The handler streams whole files with `Content-Type`, a strong `ETag` and
//! `Last-Modified`, `404`s missing files and refuses paths that leave the root (on Linux the kernel enforces that, with `openat2`, and a
//! file whose path is in the kernel's caches is opened without a blocking-pool trip).
//! It never looks at `Range`, `If-Range` or the preconditions (`If-None-Match`,
//! `If-Modified-Since`, …); it only attaches a `RangeSource` so that the layer can read
//! a range at its offset instead of skipping to it. `RangeLayer` does everything else:
//! `206`, `416`, multipart, and `304` or `412` from the `ETag` and `Last-Modified` set
//! here.
//!
//! Set `RANGE_LOG=1` to print one line per request (method, path, `Range`, status) to
//! stderr; the log sits outside the layer, where the request still has its `Range`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED, RANGE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
use tower_range::{RangeLayer, RangeSource};

type FileResponse = Response<UnsyncBoxBody<Bytes, io::Error>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut root = PathBuf::from(".");
    let mut addr: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut layer = true;
    let mut read_chunk = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--root", Some(dir)) => root = dir.into(),
            ("--addr", Some(a)) => addr = a.parse()?,
            // For benchmarks: the same handler without the layer.
            ("--no-layer", None) => layer = false,
            ("--read-chunk", Some(kib)) => read_chunk = Some(kib.parse::<usize>()? * 1024),
            _ => {
                eprintln!(
                    "usage: serve [--root DIR] [--addr HOST:PORT] [--no-layer] [--read-chunk KIB]"
                );
                std::process::exit(2);
            }
        }
    }
    let root = Arc::new(Root::open(root)?);
    let log = std::env::var_os("RANGE_LOG").is_some();

    let listener = TcpListener::bind(addr).await?;
    println!(
        "serving {} on http://{}/",
        root.path.display(),
        listener.local_addr()?
    );

    loop {
        let (stream, _) = listener.accept().await?;
        let root = root.clone();
        let handler = service_fn(move |req| serve_file(root.clone(), req));
        if layer {
            let ranged = ServiceBuilder::new()
                .layer(read_chunk.map_or(RangeLayer::new(), |n| RangeLayer::new().read_chunk(n)))
                .service(handler);
            tokio::spawn(serve_connection(stream, ranged, log));
        } else {
            tokio::spawn(serve_connection(stream, handler, log));
        }
    }
}

/// Serves one connection, logging each request's `Range` and status when `log` is set.
async fn serve_connection<S, B>(stream: TcpStream, svc: S, log: bool)
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Small responses must not wait for a delayed ACK (Nagle's algorithm), which costs
    // up to 40 ms per response on a kept-alive connection.
    let _ = stream.set_nodelay(true);
    let svc = service_fn(move |req: Request<Incoming>| {
        let line = log.then(|| {
            let range = req
                .headers()
                .get(RANGE)
                .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
            format!("{} {} range={range:?}", req.method(), req.uri().path())
        });
        let res = svc.clone().oneshot(req);
        async move {
            let res = res.await?;
            if let Some(line) = line {
                eprintln!("{line} -> {}", res.status().as_u16());
            }
            Ok::<_, Infallible>(res)
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Bound what hyper queues for a slow reader (its default is about 400 KiB): hyper
    // then asks the body for more only once the previous chunk has gone to the kernel,
    // so a paused client holds one 32 KiB read_chunk in this process, and the rest
    // waits in the kernel's socket buffers. This also caps request heads at 32 KiB.
    builder.http1().max_buf_size(32 * 1024);
    // The same bound for each HTTP/2 stream (its default is also about 400 KiB).
    builder.http2().max_send_buf_size(32 * 1024);
    let conn = builder
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
        .await;
    if let Err(err) = conn {
        if log {
            eprintln!("connection: {err}");
        }
    }
}

/// The range-unaware handler: a whole file, or an error status.
async fn serve_file(root: Arc<Root>, req: Request<Incoming>) -> Result<FileResponse, Infallible> {
    Ok(open(root, &req).await.unwrap_or_else(status_only))
}

/// The directory served, and on Linux a handle that files are opened beneath.
struct Root {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    dir: std::os::fd::OwnedFd,
}

impl Root {
    fn open(path: PathBuf) -> io::Result<Self> {
        let path = path.canonicalize()?;
        Ok(Self {
            #[cfg(target_os = "linux")]
            dir: std::fs::File::open(&path)?.into(),
            path,
        })
    }
}

/// An open file and what the response needs to know about it.
struct Opened {
    file: std::fs::File,
    /// A second handle for positioned reads, beside the one the body streams from.
    reader: std::fs::File,
    len: u64,
    modified: std::time::Duration,
}

impl Opened {
    fn inspect(file: std::fs::File) -> Result<Self, StatusCode> {
        let meta = file.metadata().map_err(|_| StatusCode::NOT_FOUND)?;
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        let reader = file
            .try_clone()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let modified = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .unwrap_or_default();
        Ok(Self {
            file,
            reader,
            len: meta.len(),
            modified,
        })
    }
}

/// Opens `rel` beneath the root if that needs no disk access: on Linux, `openat2`
/// with `RESOLVE_CACHED` resolves from the kernel's caches or refuses. `None` means
/// the blocking pool must do it.
#[cfg(target_os = "linux")]
fn open_in_place(root: &Root, rel: &Path) -> Option<Result<Opened, StatusCode>> {
    use rustix::fs::ResolveFlags;
    use rustix::io::Errno;

    match open_beneath(root, rel, ResolveFlags::CACHED) {
        Ok(file) => Some(Opened::inspect(file)),
        // EAGAIN: not cached. ENOSYS, EINVAL: a kernel before 5.12.
        Err(Errno::AGAIN | Errno::NOSYS | Errno::INVAL) => None,
        Err(_) => Some(Err(StatusCode::NOT_FOUND)),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_in_place(_: &Root, _: &Path) -> Option<Result<Opened, StatusCode>> {
    None
}

/// Opens `rel` beneath the root; the kernel refuses any step outside it (`..`, an
/// absolute or escaping symbolic link), so nothing can swap a link between a check and
/// the open.
#[cfg(target_os = "linux")]
fn open_beneath(
    root: &Root,
    rel: &Path,
    flags: rustix::fs::ResolveFlags,
) -> rustix::io::Result<std::fs::File> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

    let resolve = flags | ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let fd = openat2(
        &root.dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    )?;
    Ok(fd.into())
}

/// Opens `rel` beneath the root on the blocking pool, where waiting on the disk is fine.
fn open_blocking(root: &Root, rel: &Path) -> Result<Opened, StatusCode> {
    #[cfg(target_os = "linux")]
    match open_beneath(root, rel, rustix::fs::ResolveFlags::empty()) {
        // Before Linux 5.6 there is no openat2: check the real path below instead.
        Err(rustix::io::Errno::NOSYS) => {}
        result => return Opened::inspect(result.map_err(|_| StatusCode::NOT_FOUND)?),
    }
    // A symbolic link may point outside: check the real path (a link swapped after
    // this check is not caught; openat2 above has no such gap).
    let real = root.path.join(rel).canonicalize();
    let real = real.ok().filter(|real| real.starts_with(&root.path));
    let file = std::fs::File::open(real.ok_or(StatusCode::NOT_FOUND)?);
    Opened::inspect(file.map_err(|_| StatusCode::NOT_FOUND)?)
}

async fn open(root: Arc<Root>, req: &Request<Incoming>) -> Result<FileResponse, StatusCode> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    let path = relative(req.uri().path()).ok_or(StatusCode::NOT_FOUND)?;
    let opened = match open_in_place(&root, &path) {
        Some(opened) => opened?,
        None => {
            let rel = path.clone();
            tokio::task::spawn_blocking(move || open_blocking(&root, &rel))
                .await
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)??
        }
    };
    let Opened {
        file,
        reader,
        len,
        modified,
    } = opened;
    let (secs, nanos) = (modified.as_secs(), modified.subsec_nanos());
    let etag = format!("\"{len:x}-{secs:x}.{nanos:x}\"");

    let mut res = if req.method() == Method::HEAD {
        let mut res = status_only(StatusCode::OK);
        res.headers_mut().insert(CONTENT_LENGTH, len.into());
        res
    } else {
        let body = FileBody::new(tokio::fs::File::from_std(file), len);
        let mut res = Response::new(body.boxed_unsync());
        // One line opts into seeking: the layer reads each range at its offset from this
        // handle and drops the streaming body unread.
        res.extensions_mut().insert(RangeSource::file(reader, len));
        res
    };
    let headers = res.headers_mut();
    headers.insert(ETAG, HeaderValue::try_from(etag).expect("hex digits"));
    let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    headers.insert(
        LAST_MODIFIED,
        HeaderValue::try_from(last_modified).expect("ASCII date"),
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    Ok(res)
}

/// Maps a URL path to a path relative to the root, or `None` if it names a parent, a
/// root or a drive.
fn relative(url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    let mut path = PathBuf::new();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(path)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    (!decoded.contains('\0') && !decoded.contains('\\')).then_some(decoded)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "js" => "text/javascript",
        "css" => "text/css",
        "json" => "application/json",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

fn status_only(status: StatusCode) -> FileResponse {
    let mut res = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *res.status_mut() = status;
    res
}

/// A whole file, read front to back in 64 KiB chunks, with an exact size.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
}

impl FileBody {
    fn new(file: tokio::fs::File, len: u64) -> Self {
        Self {
            file,
            remaining: len,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = self.remaining.min(64 * 1024) as usize;
        let mut buf = BytesMut::zeroed(want);
        let mut read_buf = ReadBuf::new(&mut buf);
        ready!(Pin::new(&mut self.file).poll_read(cx, &mut read_buf))?;
        let n = read_buf.filled().len();
        if n == 0 {
            return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
        }
        buf.truncate(n);
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
