//! The handler: whole files from a directory, knowing nothing of ranges or conditionals.
//!
//! It answers with the whole file, read from a `RangeSource`, with `Content-Type`
//! (guessed from its name), a strong `ETag` and `Last-Modified`; it `404`s missing files
//! and refuses paths that leave the root (on Linux the kernel enforces that, with
//! `openat2`, and a file whose path is in the kernel's caches is opened without a
//! blocking-pool trip). It never looks at `Range`, `If-Range` or the preconditions
//! (`If-None-Match`, `If-Modified-Since`, …); the `RangeSource` it attaches lets the
//! layer read a range at its offset instead of skipping to it. `RangeLayer` does
//! everything else: `206`, `416`, multipart, and `304` or `412` from the `ETag` and
//! `Last-Modified` set here.
//!
//! On Linux, files opened in place stay open for the next requests of the same URL
//! path, with their headers formatted (`open_files.rs`): each of those requests costs
//! one `statx`, which sees any change a fresh `open` would.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, LAST_MODIFIED};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty};
use percent_encoding::percent_decode_str;
use tower::Service;
use tower_range::{BoxError, RangeSource};

#[cfg(target_os = "linux")]
use crate::open_files::{Identity, OpenFiles};

pub(crate) type FileResponse = Response<UnsyncBoxBody<Bytes, BoxError>>;

/// The handler, as a service: a whole file, or an error status.
///
/// It answers in `call` when it can, as it can for every file whose path is in the
/// kernel's caches, so its future is only a response to hand over; a file that must
/// be opened on the blocking pool gets a boxed future.
#[derive(Clone)]
pub(crate) struct Files(Arc<Root>);

impl Files {
    pub(crate) const fn new(root: Arc<Root>) -> Self {
        Self(root)
    }
}

impl<B> Service<Request<B>> for Files {
    type Response = FileResponse;
    type Error = Infallible;
    type Future = FileFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> FileFuture {
        match answer(&self.0, &req) {
            Ok(res) => FileFuture::Ready(Some(res)),
            Err(path) => {
                let (root, method) = (self.0.clone(), req.method().clone());
                FileFuture::Opening(Box::pin(async move {
                    let rel = path.clone();
                    let opened = tokio::task::spawn_blocking(move || open_blocking(&root, &rel))
                        .await
                        .unwrap_or(Err(StatusCode::INTERNAL_SERVER_ERROR));
                    opened.map_or_else(status_only, |opened| {
                        Representation::new(opened, &path).respond(&method)
                    })
                }))
            }
        }
    }
}

/// The response of [`Files`]: ready, or waiting for the blocking pool.
pub(crate) enum FileFuture {
    Ready(Option<FileResponse>),
    Opening(Pin<Box<dyn Future<Output = FileResponse> + Send>>),
}

impl Future for FileFuture {
    type Output = Result<FileResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Ready(res) => Poll::Ready(Ok(res.take().expect("polled after completion"))),
            Self::Opening(opening) => opening.as_mut().poll(cx).map(Ok),
        }
    }
}

/// The directory served, and on Linux a handle that files are opened beneath and the
/// files kept open.
pub(crate) struct Root {
    pub(crate) path: PathBuf,
    #[cfg(target_os = "linux")]
    dir: std::os::fd::OwnedFd,
    #[cfg(target_os = "linux")]
    open_files: OpenFiles<Representation>,
}

impl Root {
    /// The directory at `path`, keeping up to `open_files` files open between requests
    /// (on Linux; elsewhere every request opens its file). With open files, a task
    /// closes those no request used for a while, so this needs a Tokio runtime.
    pub(crate) fn open(path: &Path, open_files: usize) -> io::Result<Arc<Self>> {
        let path = path.canonicalize()?;
        let root = Arc::new(Self {
            #[cfg(target_os = "linux")]
            dir: std::fs::File::open(&path)?.into(),
            #[cfg(target_os = "linux")]
            open_files: OpenFiles::new(open_files),
            path,
        });
        #[cfg(target_os = "linux")]
        if open_files > 0 {
            let weak = Arc::downgrade(&root);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(crate::open_files::IDLE);
                every.tick().await;
                loop {
                    every.tick().await;
                    let Some(root) = weak.upgrade() else { break };
                    root.open_files.close_idle();
                }
            });
        }
        #[cfg(not(target_os = "linux"))]
        let _ = open_files;
        Ok(root)
    }
}

/// An open file and what the response needs to know about it.
struct Opened {
    file: std::fs::File,
    len: u64,
    modified: SystemTime,
    /// Which file and version it is, if it may be kept open.
    #[cfg(target_os = "linux")]
    id: Option<Identity>,
}

impl Opened {
    #[cfg(target_os = "linux")]
    fn inspect(file: std::fs::File) -> Result<Self, StatusCode> {
        use rustix::fs::{statx, AtFlags, FileType};

        let stat = statx(&file, c"", AtFlags::EMPTY_PATH, crate::open_files::fields())
            .map_err(|_| StatusCode::NOT_FOUND)?;
        if FileType::from_raw_mode(stat.stx_mode.into()) != FileType::RegularFile {
            return Err(StatusCode::NOT_FOUND);
        }
        let mtime = stat.stx_mtime;
        let modified = u64::try_from(mtime.tv_sec).map_or(UNIX_EPOCH, |secs| {
            UNIX_EPOCH + Duration::new(secs, mtime.tv_nsec)
        });
        Ok(Self {
            file,
            len: stat.stx_size,
            modified,
            id: Identity::of(&stat),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn inspect(file: std::fs::File) -> Result<Self, StatusCode> {
        let meta = file.metadata().map_err(|_| StatusCode::NOT_FOUND)?;
        if !meta.is_file() {
            return Err(StatusCode::NOT_FOUND);
        }
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        Ok(Self {
            file,
            len: meta.len(),
            modified,
        })
    }
}

/// What every response for one file carries: the file to read, as a source the layer
/// can read at any offset, and the headers.
#[derive(Clone)]
struct Representation {
    source: RangeSource,
    etag: HeaderValue,
    last_modified: HeaderValue,
    content_type: HeaderValue,
}

impl Representation {
    fn new(opened: Opened, path: &Path) -> Self {
        let since_epoch = opened
            .modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (secs, nanos) = (since_epoch.as_secs(), since_epoch.subsec_nanos());
        // HTTP-dates have whole seconds; the ETag keeps the nanoseconds.
        let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
        let content_type = mime_guess::from_path(path).first_raw();
        Self {
            etag: etag(opened.len, secs, nanos),
            last_modified: HeaderValue::try_from(last_modified).expect("ASCII date"),
            content_type: HeaderValue::from_static(
                content_type.unwrap_or("application/octet-stream"),
            ),
            source: RangeSource::file(opened.file, opened.len),
        }
    }

    /// The `200` for a `GET` (the whole file) or a `HEAD`.
    fn respond(&self, method: &Method) -> FileResponse {
        let mut res = if method == Method::HEAD {
            let mut res = status_only(StatusCode::OK);
            res.headers_mut()
                .insert(CONTENT_LENGTH, self.source.len().into());
            res
        } else {
            // The body (the whole file, read front to back only if the layer does not
            // read the source itself) comes from the source, and the source goes in
            // the extensions: one line opts into seeking.
            let mut res = Response::new(self.source.body().boxed_unsync());
            res.extensions_mut().insert(self.source.clone());
            res
        };
        let headers = res.headers_mut();
        headers.insert(ETAG, self.etag.clone());
        headers.insert(LAST_MODIFIED, self.last_modified.clone());
        headers.insert(CONTENT_TYPE, self.content_type.clone());
        res
    }
}

/// A strong `ETag` from a file's length and modification time, in hex:
/// `"len-secs.nanos"`.
fn etag(len: u64, secs: u64, nanos: u32) -> HeaderValue {
    // By hand: `format!`'s machinery cost more than the rest of the headers together.
    let mut tag = Vec::with_capacity(40);
    tag.push(b'"');
    push_hex(&mut tag, len);
    tag.push(b'-');
    push_hex(&mut tag, secs);
    tag.push(b'.');
    push_hex(&mut tag, nanos.into());
    tag.push(b'"');
    HeaderValue::from_maybe_shared(Bytes::from(tag)).expect("hex digits")
}

/// Appends `n` in lowercase hex, without leading zeros.
fn push_hex(out: &mut Vec<u8>, n: u64) {
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(n >> (shift * 4)) as usize & 0xf]);
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
        Err(err) => Some(Err(status_of(err.into()))),
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
        result => return Opened::inspect(result.map_err(|err| status_of(err.into()))?),
    }
    // A symbolic link may point outside: check the real path (a link swapped after
    // this check is not caught; openat2 above has no such gap).
    let real = root.path.join(rel).canonicalize();
    let real = real.ok().filter(|real| real.starts_with(&root.path));
    let file = std::fs::File::open(real.ok_or(StatusCode::NOT_FOUND)?);
    Opened::inspect(file.map_err(status_of)?)
}

/// The status for a file that could not be opened: `503` when the server ran out of
/// descriptors or memory (the client may try again), `404` for anything else, which
/// reveals nothing of what lies beneath the root.
fn status_of(err: io::Error) -> StatusCode {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::Errno;
        let exhausted = [Errno::MFILE, Errno::NFILE, Errno::NOMEM].map(Errno::raw_os_error);
        if err
            .raw_os_error()
            .is_some_and(|code| exhausted.contains(&code))
        {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    let _ = err;
    StatusCode::NOT_FOUND
}

/// The response to `req` if it needs no blocking-pool trip; otherwise the path to
/// open there.
fn answer<B>(root: &Root, req: &Request<B>) -> Result<FileResponse, PathBuf> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(status_only(StatusCode::METHOD_NOT_ALLOWED));
    }
    #[cfg(target_os = "linux")]
    if let Some(entry) = root.open_files.get(&root.dir, req.uri().path()) {
        return Ok(entry.value.respond(req.method()));
    }
    let Some(path) = relative(req.uri().path()) else {
        return Ok(status_only(StatusCode::NOT_FOUND));
    };
    let opened = match open_in_place(root, &path) {
        // Out of descriptors: close the files kept open, and try once more.
        #[cfg(target_os = "linux")]
        Some(Err(StatusCode::SERVICE_UNAVAILABLE)) if root.open_files.clear() => {
            open_in_place(root, &path)
        }
        opened => opened,
    };
    let opened = match opened {
        Some(Ok(opened)) => opened,
        Some(Err(status)) => return Ok(status_only(status)),
        None => return Err(path),
    };
    // Only what resolved from the kernel's caches is kept open: its `statx` then needs
    // no disk either (an open file pins its path's entries), and paths that must be
    // checked with a server (NFS, FUSE) are never cached.
    #[cfg(target_os = "linux")]
    if let Some(id) = opened.id {
        let file = Representation::new(opened, &path);
        root.open_files
            .insert(req.uri().path(), &path, id, file.clone());
        return Ok(file.respond(req.method()));
    }
    Ok(Representation::new(opened, &path).respond(req.method()))
}

/// Maps a URL path to a path relative to the root, or `None` if it names a parent, a
/// root or a drive.
fn relative(url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
    if decoded.contains(['\0', '\\']) {
        return None;
    }
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

pub(crate) fn status_only(status: StatusCode) -> FileResponse {
    let mut res = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *res.status_mut() = status;
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_length_seconds_and_nanoseconds_in_hex() {
        for (len, secs, nanos) in [
            (0, 0, 0),
            (4096, 1_700_000_000, 123_456_789),
            (u64::MAX, u64::MAX, 999_999_999),
            (0x10, 0xf, 1),
        ] {
            let expected = format!("\"{len:x}-{secs:x}.{nanos:x}\"");
            assert_eq!(etag(len, secs, nanos), expected.as_str());
        }
    }
}
