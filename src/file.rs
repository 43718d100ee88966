//! [`SharedFile`], what `RangeSource::file` reads: positioned reads of a file, from the
//! page cache in place when the bytes are there, on Tokio's blocking pool when they are
//! not.

use std::io;
#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

#[cfg(target_os = "linux")]
use crate::spare;

/// A file read with positioned reads, shared by every response that reads it.
pub(crate) struct SharedFile {
    file: std::fs::File,
    /// Whether to try the page cache first; cleared once the kernel or the file system
    /// refuses non-blocking reads.
    #[cfg(target_os = "linux")]
    try_cached: AtomicBool,
}

impl SharedFile {
    pub(crate) fn new(file: std::fs::File) -> Self {
        Self {
            file,
            #[cfg(target_os = "linux")]
            try_cached: AtomicBool::new(true),
        }
    }
}

/// A read of a [`SharedFile`]: done, or running on the blocking pool.
pub(crate) enum FileRead {
    Done(io::Result<Bytes>),
    Blocking(JoinHandle<io::Result<Bytes>>),
}

impl SharedFile {
    /// Reads up to `len` bytes at `offset`, fewer only at the end of the file (or, in
    /// place, where the page cache holds fewer). A read in place reads into `spare`
    /// when it is given, a buffer no one else holds, instead of a new one.
    pub(crate) fn read(
        self: &Arc<Self>,
        offset: u64,
        len: usize,
        spare: Option<BytesMut>,
    ) -> FileRead {
        // A trip to the blocking pool costs two context switches per read, which
        // dominated large ranges; cached bytes cost one copy here instead.
        #[cfg(target_os = "linux")]
        if self.try_cached.load(Ordering::Relaxed) {
            match read_cached(&self.file, offset, len.min(MAX_IN_PLACE), spare) {
                Cached::Read(bytes) => return FileRead::Done(Ok(bytes)),
                Cached::Miss => {}
                Cached::Unsupported => self.try_cached.store(false, Ordering::Relaxed),
            }
        }
        #[cfg(not(target_os = "linux"))]
        drop(spare);
        let file = Arc::clone(self);
        FileRead::Blocking(tokio::task::spawn_blocking(move || {
            read_exact_at(&file.file, offset, len)
        }))
    }
}

/// The most one read copies on the runtime thread: a copy is work the runtime's other
/// tasks wait for, so a larger `read_chunk` is read in several steps rather than one
/// long one. `cargo bench --bench range -- seek` measures a read of this size.
pub(crate) const MAX_IN_PLACE: usize = 256 * 1024;

/// What a read that must not wait on the disk found.
#[cfg(target_os = "linux")]
enum Cached {
    /// Bytes at the offset, perhaps fewer than asked for.
    Read(Bytes),
    /// Not in the page cache, or at the end of the file: the blocking pool decides.
    Miss,
    /// The kernel or the file system does not offer non-blocking reads.
    Unsupported,
}

/// Reads what the page cache holds at `offset`, up to `len` bytes, without blocking.
#[cfg(target_os = "linux")]
fn read_cached(file: &std::fs::File, offset: u64, len: usize, spare: Option<BytesMut>) -> Cached {
    use rustix::io::{preadv2, Errno, IoSliceMut, ReadWriteFlags};

    // A buffer read into before is already initialized: only new bytes are zeroed.
    let mut buf = spare.unwrap_or_default();
    buf.resize(len, 0);
    match preadv2(
        file,
        &mut [IoSliceMut::new(&mut buf)],
        offset,
        ReadWriteFlags::NOWAIT,
    ) {
        Ok(0) => Cached::Miss,
        // A chunk worth keeping is split off, not truncated and frozen: it then
        // shares its buffer's reference count, which the buffer keeps when it is read
        // into again, so that its later reads allocate nothing at all.
        Ok(n) if spare::worth_keeping(n) => Cached::Read(buf.split_to(n).freeze()),
        Ok(n) => {
            buf.truncate(n);
            Cached::Read(buf.freeze())
        }
        // No preadv2 (before Linux 4.6), no RWF_NOWAIT (before 4.14, or not on this
        // file system), or no offsets (a pipe or a socket).
        Err(Errno::NOSYS | Errno::OPNOTSUPP | Errno::INVAL | Errno::SPIPE) => Cached::Unsupported,
        // EAGAIN above all; any other error the blocking read meets again and reports.
        Err(_) => Cached::Miss,
    }
}

/// Reads `len` bytes at `offset`, fewer only at the end of the file.
fn read_exact_at(file: &std::fs::File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    let mut filled = 0;
    while filled < len {
        match pread(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

#[cfg(unix)]
fn pread(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn pread(file: &std::fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Read;

    use rustix::fs::{fadvise, Advice};
    use rustix::io::Errno;

    use super::*;

    const LEN: usize = 1 << 20;

    fn content() -> Vec<u8> {
        (0..LEN).map(|i| (i % 251) as u8).collect()
    }

    /// A file of `content()`, in the page cache as anything just written.
    fn written_file(name: &str) -> std::fs::File {
        let path = std::env::temp_dir().join(format!("tower-range-{name}-{}", std::process::id()));
        std::fs::write(&path, content()).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    /// A file of `content()` whose bytes are on disk but not in the page cache.
    fn evicted_file(name: &str) -> std::fs::File {
        let file = written_file(name);
        file.sync_all().unwrap();
        fadvise(&file, 0, None, Advice::DontNeed).unwrap();
        file
    }

    #[test]
    fn cached_bytes_are_read_without_blocking() {
        let file = written_file("cached");
        let Cached::Read(bytes) = read_cached(&file, 1000, 50_000, None) else {
            panic!("a file just written is in the page cache");
        };
        assert_eq!(bytes, content()[1000..51_000]);
    }

    #[test]
    fn evicted_bytes_are_left_to_the_blocking_pool() {
        let file = evicted_file("evicted");
        assert!(matches!(read_cached(&file, 0, 4096, None), Cached::Miss));
    }

    #[test]
    fn partly_cached_range_reads_what_is_cached() {
        let file = evicted_file("partly");
        // Bring back the first page only: no read-ahead on this handle.
        fadvise(&file, 0, None, Advice::Random).unwrap();
        let mut page = [0; 4096];
        (&file).read_exact(&mut page).unwrap();
        let Cached::Read(bytes) = read_cached(&file, 0, LEN, None) else {
            panic!("the first page is cached");
        };
        assert!(bytes.len() >= 4096 && bytes.len() < LEN, "{}", bytes.len());
        assert_eq!(bytes, content()[..bytes.len()]);
    }

    impl SharedFile {
        async fn read_at(self: &Arc<Self>, offset: u64, len: usize) -> io::Result<Bytes> {
            match self.read(offset, len, None) {
                super::FileRead::Done(result) => result,
                super::FileRead::Blocking(handle) => handle.await.map_err(io::Error::other)?,
            }
        }
    }

    #[tokio::test]
    async fn large_cached_reads_come_in_steps() {
        let file = Arc::new(SharedFile::new(written_file("steps")));
        let bytes = file.read_at(10, LEN).await.unwrap();
        assert_eq!(bytes, content()[10..10 + MAX_IN_PLACE]);
    }

    #[tokio::test]
    async fn file_reads_what_is_not_cached_on_the_blocking_pool() {
        let file = Arc::new(SharedFile::new(evicted_file("pool")));
        let bytes = file.read_at(LEN as u64 - 10_000, 32 * 1024).await.unwrap();
        assert_eq!(bytes, content()[LEN - 10_000..]);
        assert!(file.try_cached.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn other_errors_are_reported_and_keep_the_page_cache_path() {
        // Reading a file opened for writing only fails with EBADF: an error, not a
        // lack of support.
        let path = std::env::temp_dir().join(format!("tower-range-wo-{}", std::process::id()));
        let write_only = std::fs::File::create(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let file = Arc::new(SharedFile::new(write_only));
        let err = file.read_at(0, 10).await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(Errno::BADF.raw_os_error()));
        assert!(file.try_cached.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn file_without_non_blocking_reads_falls_back_for_good() {
        // A socket has no offsets: preadv2 fails, and so does the blocking read.
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = Arc::new(SharedFile::new(std::fs::File::from(
            std::os::fd::OwnedFd::from(socket),
        )));
        assert!(file.read_at(0, 10).await.is_err());
        assert!(!file.try_cached.load(Ordering::Relaxed));
    }
}
