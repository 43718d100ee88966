//! Read buffers the server has let go, kept for the next file reads on the same thread:
//! a read into one needs no allocation and no zeroing.
//!
//! A ranged body hands each chunk it reads from a file to the server and keeps a handle
//! to it. When the body reads again while the server still holds that chunk, or when
//! the body is done, the handle comes here; once the server has written the chunk and
//! dropped it, the handle is the only one left and its buffer can be read into again.
//! A thread keeps at most [`KEPT`] handles, each of at most the largest read made in
//! place, whatever the number of clients.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};

use crate::file::MAX_IN_PLACE;

/// How many chunks a thread keeps: the newest, each replacing the oldest.
const KEPT: usize = 4;

/// The chunks worth keeping: from a size whose zeroing and allocation cost more than
/// keeping it, to the largest read made in place.
const LENS: std::ops::RangeInclusive<usize> = 4096..=MAX_IN_PLACE;

/// A thread's kept chunks, and the slot of the next one kept.
struct Kept {
    chunks: [Option<Bytes>; KEPT],
    next: usize,
}

thread_local! {
    static KEPT_CHUNKS: RefCell<Kept> = const {
        RefCell::new(Kept {
            chunks: [const { None }; KEPT],
            next: 0,
        })
    };
}

/// Whether a chunk of `len` bytes is worth a handle to keep.
pub(crate) fn worth_keeping(len: usize) -> bool {
    LENS.contains(&len)
}

/// Keeps `chunk` for a later read on this thread.
pub(crate) fn keep(chunk: Bytes) {
    if !worth_keeping(chunk.len()) {
        return;
    }
    // During the thread's exit the chunk is dropped instead.
    let _ = KEPT_CHUNKS.try_with(|kept| {
        let kept = &mut *kept.borrow_mut();
        kept.chunks[kept.next] = Some(chunk);
        kept.next = (kept.next + 1) % KEPT;
    });
}

/// The buffer of a kept chunk of at least `len` bytes that no one else holds any more,
/// if there is one: read into, it needs no zeroing.
pub(crate) fn take(len: usize) -> Option<BytesMut> {
    KEPT_CHUNKS
        .try_with(|kept| {
            let mut kept = kept.borrow_mut();
            let free = kept.chunks.iter_mut().find(|chunk| {
                chunk
                    .as_ref()
                    .is_some_and(|chunk| chunk.len() >= len && chunk.is_unique())
            })?;
            free.take()?.try_into_mut().ok()
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_read_into_again_once_no_one_else_holds_it() {
        let chunk = BytesMut::from(&[7u8; 8192][..]).freeze();
        let held = chunk.clone();
        let at = chunk.as_ptr();
        keep(chunk);
        assert!(take(4096).is_none(), "the server still holds it");
        drop(held);
        assert!(take(8193).is_none(), "too small for the read");
        let buf = take(8192).expect("let go");
        assert_eq!(
            (buf.as_ptr(), buf.len()),
            (at, 8192),
            "the same buffer, initialized"
        );
        assert!(take(4096).is_none(), "taken once");
    }

    #[test]
    fn a_thread_keeps_its_newest_chunks_of_bounded_size() {
        keep(Bytes::from(vec![0; 4095]));
        keep(Bytes::from(vec![0; MAX_IN_PLACE + 1]));
        for len in 1..=2 * KEPT {
            keep(Bytes::from(vec![0; 4096 * len]));
        }
        let mut lens = std::iter::from_fn(|| take(0).map(|buf| buf.len())).collect::<Vec<_>>();
        lens.sort_unstable();
        let newest = (KEPT + 1..=2 * KEPT)
            .map(|len| 4096 * len)
            .collect::<Vec<_>>();
        assert_eq!(lens, newest);
    }
}
