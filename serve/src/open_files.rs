//! Files kept open between requests, as nginx's `open_file_cache` keeps them, but never
//! stale: each request checks the path against the file it named with one `statx`.
//!
//! An entry is served only while `statx` of its path says the same device, inode,
//! size, modification time and change time as when the file was opened. The inode
//! makes it the same file (an open file's inode number cannot be reused), and the
//! change time moves with every change to it: its bytes, length, permissions or links.
//! So a cached response is the response a fresh `open` and `fstat` would have given:
//! a file replaced (renamed over, deleted, a directory of its path moved, a symbolic
//! link swapped) is opened again, one written in place gets fresh validators, one
//! gone is a `404`. What the check costs, one `statx` by path, replaces `openat2`,
//! `statx` and `close`, and the response's headers come formatted.
//!
//! It holds at most `capacity` entries, one descriptor each; a file no request used
//! for one to two [`IDLE`] periods is closed, so a deleted file's space is given back.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustix::fs::{statx, AtFlags, Statx, StatxFlags};

/// How often files that no request used since the last look are closed.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// The longest URL path whose file is kept open: the keys then hold at most `capacity`
/// times this many bytes.
const MAX_KEY: usize = 1024;

/// What `statx` must report for a file to be kept open.
const NEEDED: StatxFlags = StatxFlags::TYPE
    .union(StatxFlags::MODE)
    .union(StatxFlags::INO)
    .union(StatxFlags::SIZE)
    .union(StatxFlags::MTIME)
    .union(StatxFlags::CTIME);

/// Which file a path names, and which version of it: what a cached entry must still
/// match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    dev: (u32, u32),
    ino: u64,
    size: u64,
    modified: (i64, u32),
    changed: (i64, u32),
}

impl Identity {
    /// The identity in `stat`, if the file system reported all of it.
    pub(crate) fn of(stat: &Statx) -> Option<Self> {
        StatxFlags::from_bits_retain(stat.stx_mask)
            .contains(NEEDED)
            .then_some(Self {
                dev: (stat.stx_dev_major, stat.stx_dev_minor),
                ino: stat.stx_ino,
                size: stat.stx_size,
                modified: (stat.stx_mtime.tv_sec, stat.stx_mtime.tv_nsec),
                changed: (stat.stx_ctime.tv_sec, stat.stx_ctime.tv_nsec),
            })
    }
}

/// The `statx` fields a file's identity and its response need.
pub(crate) const fn fields() -> StatxFlags {
    NEEDED
}

/// A bounded map from URL paths to open files and what their responses carry.
pub(crate) struct OpenFiles<T> {
    capacity: usize,
    entries: Mutex<HashMap<Box<str>, Arc<Entry<T>>>>,
}

/// One open file: `value` holds it, with its response's headers.
pub(crate) struct Entry<T> {
    pub(crate) value: T,
    /// Its path beneath the root.
    path: CString,
    id: Identity,
    /// Whether a request used it since the last sweep.
    used: AtomicBool,
}

impl<T> OpenFiles<T> {
    /// A cache of at most `capacity` files; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Arc<Entry<T>>>> {
        // The map is never left half changed: a panic elsewhere cannot spoil it.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry for `key` if its path, beneath `dir`, still names the very file and
    /// version that was opened; otherwise the entry is dropped.
    pub(crate) fn get(&self, dir: impl AsFd, key: &str) -> Option<Arc<Entry<T>>> {
        if self.capacity == 0 {
            return None;
        }
        let entry = self.lock().get(key).cloned()?;
        // Beneath `dir` as when it was opened; a symbolic link on the way that now
        // leads elsewhere leads to another inode, and the entry is dropped.
        let now = statx(dir, entry.path.as_c_str(), AtFlags::empty(), NEEDED);
        if now.ok().as_ref().and_then(Identity::of) == Some(entry.id) {
            entry.used.store(true, Ordering::Relaxed);
            return Some(entry);
        }
        let stale = {
            let mut entries = self.lock();
            let current = entries.get(key).is_some_and(|e| Arc::ptr_eq(e, &entry));
            current.then(|| entries.remove(key))
        };
        // Closed outside the lock.
        drop(stale);
        None
    }

    /// Keeps `value`, the file at `path` beneath the root whose identity is `id`, for
    /// the requests of `key`; makes room first when full.
    pub(crate) fn insert(&self, key: &str, path: &Path, id: Identity, value: T) {
        if self.capacity == 0 || key.len() > MAX_KEY {
            return;
        }
        let Ok(path) = CString::new(path.as_os_str().as_bytes()) else {
            return;
        };
        let entry = Arc::new(Entry {
            value,
            path,
            id,
            used: AtomicBool::new(true),
        });
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            // What no request used since the last look goes first; then any one.
            entries.retain(|_, entry| entry.used.swap(false, Ordering::Relaxed));
            if entries.len() >= self.capacity {
                let victim = entries.keys().next().cloned();
                if let Some(victim) = victim {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(key.into(), entry);
    }

    /// Closes the files that no request used since the last call.
    pub(crate) fn close_idle(&self) {
        self.lock()
            .retain(|_, entry| entry.used.swap(false, Ordering::Relaxed));
    }

    /// Closes every file: the process ran out of descriptors.
    pub(crate) fn clear(&self) -> bool {
        let mut entries = self.lock();
        let had = !entries.is_empty();
        entries.clear();
        had
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::path::PathBuf;

    use super::*;

    /// A fresh directory under the target's temporary directory.
    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("open-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn identity(path: &Path) -> Identity {
        let file = File::open(path).unwrap();
        Identity::of(&statx(&file, c"", AtFlags::EMPTY_PATH, NEEDED).unwrap()).unwrap()
    }

    /// A cache of `capacity` holding `name` (written with `bytes`) under its own name.
    fn cached(dir: &Path, capacity: usize, name: &str, bytes: &[u8]) -> OpenFiles<String> {
        let files = OpenFiles::new(capacity);
        std::fs::write(dir.join(name), bytes).unwrap();
        files.insert(
            name,
            Path::new(name),
            identity(&dir.join(name)),
            name.into(),
        );
        files
    }

    #[test]
    fn an_unchanged_file_is_served_from_the_cache() {
        let dir = dir("same");
        let files = cached(&dir, 4, "a", b"one");
        let root = File::open(&dir).unwrap();
        assert_eq!(files.get(&root, "a").unwrap().value, "a");
        assert!(files.get(&root, "b").is_none());
    }

    #[test]
    fn a_file_written_in_place_is_not() {
        let dir = dir("written");
        let files = cached(&dir, 4, "a", b"one");
        let root = File::open(&dir).unwrap();
        // Same length, same inode: only the times can tell. Past a clock tick, for
        // kernels whose file times are coarse (before 6.13's fine-grained ones).
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(dir.join("a"), b"two").unwrap();
        assert!(files.get(&root, "a").is_none(), "a write must be seen");
        assert_eq!(files.len(), 0, "the stale entry is dropped");
    }

    #[test]
    fn a_file_renamed_over_or_deleted_is_not() {
        let dir = dir("replaced");
        let files = cached(&dir, 4, "a", b"one");
        let root = File::open(&dir).unwrap();
        std::fs::write(dir.join("new"), b"one").unwrap();
        std::fs::rename(dir.join("new"), dir.join("a")).unwrap();
        assert!(files.get(&root, "a").is_none(), "another inode");

        let files = cached(&dir, 4, "a", b"one");
        std::fs::remove_file(dir.join("a")).unwrap();
        assert!(files.get(&root, "a").is_none(), "no file");
    }

    #[test]
    fn a_changed_directory_on_the_path_is_seen() {
        let dir = dir("parent");
        std::fs::create_dir(dir.join("d")).unwrap();
        let files = cached(&dir, 4, "d/a", b"one");
        let root = File::open(&dir).unwrap();
        std::fs::rename(dir.join("d"), dir.join("old")).unwrap();
        std::fs::create_dir(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/a"), b"one").unwrap();
        assert!(files.get(&root, "d/a").is_none());
    }

    #[test]
    fn a_full_cache_drops_what_went_unused() {
        let dir = dir("full");
        let files = cached(&dir, 2, "a", b"a");
        let root = File::open(&dir).unwrap();
        for name in ["b", "c"] {
            std::fs::write(dir.join(name), name).unwrap();
        }
        files.insert("b", Path::new("b"), identity(&dir.join("b")), "b".into());
        files.close_idle();
        // Both were new: both survive a first look, unused since.
        assert_eq!(files.len(), 2);
        assert!(files.get(&root, "a").is_some());
        files.insert("c", Path::new("c"), identity(&dir.join("c")), "c".into());
        assert_eq!(files.len(), 2, "bounded");
        assert!(files.get(&root, "a").is_some(), "the file used stays");
        assert!(files.get(&root, "b").is_none(), "the file unused goes");
    }

    #[test]
    fn idle_files_are_closed_after_two_looks() {
        let dir = dir("idle");
        let files = cached(&dir, 4, "a", b"a");
        let root = File::open(&dir).unwrap();
        files.close_idle();
        assert!(files.get(&root, "a").is_some(), "used since the first look");
        files.close_idle();
        files.close_idle();
        assert_eq!(files.len(), 0, "unused for a whole period");
    }

    #[test]
    fn nothing_is_kept_with_no_capacity_or_a_long_path() {
        let dir = dir("none");
        let files = cached(&dir, 0, "a", b"a");
        assert_eq!(files.len(), 0);
        let files = OpenFiles::new(4);
        let long = "x".repeat(MAX_KEY + 1);
        files.insert(
            &long,
            Path::new("a"),
            identity(&dir.join("a")),
            String::new(),
        );
        assert_eq!(files.len(), 0);
    }
}
