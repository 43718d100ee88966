//! [`SourceReader`]: how a ranged body reads its parts from a [`RangeSource`], only as
//! the client reads.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::access::RandomAccess;
use crate::error::BoxError;
use crate::file::FileRead;
use crate::prefetch::{Part, Prefetch};
use crate::range::ByteRange;
use crate::reader::RangeReader;
use crate::source::{RangeSource, Storage};
use crate::spare;

/// Reads ranges from a [`RangeSource`]: bytes in memory are sliced, a file is read
/// `chunk` bytes at a time with one read in flight, and any other storage gives one
/// [`RandomAccess::read_range`] stream per part, the parts after it read ahead as far
/// as its [`prefetch`](RandomAccess::prefetch) allows.
pub(crate) struct SourceReader {
    source: RangeSource,
    chunk: usize,
    reading: Reading,
    /// The last chunk read from a file, kept to read the next into once the server
    /// has written it and let it go: no allocation and no zeroing per chunk. When the
    /// server still holds it, or the body is done, it goes to this thread's spare
    /// buffers (`spare.rs`).
    last: Option<Bytes>,
    /// The parts read ahead of the current one.
    ahead: Prefetch,
}

/// What is in flight.
enum Reading {
    Nothing,
    /// A file read on the blocking pool.
    File(JoinHandle<io::Result<Bytes>>),
    /// The stream of one part.
    Stream(Part),
}

impl SourceReader {
    pub(crate) fn new(source: RangeSource, chunk: usize) -> Self {
        let window = match source.storage() {
            Storage::Access(access) => access.prefetch(),
            Storage::Bytes(_) | Storage::File(_) => 0,
        };
        Self {
            source,
            chunk,
            reading: Reading::Nothing,
            last: None,
            ahead: Prefetch::new(window),
        }
    }

    /// The next bytes of `want`, at most `want.len()`, never empty; `None` when the
    /// source ended first. `following` are the parts to read ahead.
    fn poll_bytes(
        &mut self,
        cx: &mut Context<'_>,
        want: ByteRange,
        following: impl Iterator<Item = ByteRange>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let limit = usize::try_from(want.len()).unwrap_or(usize::MAX);
        let step = limit.min(self.chunk);
        match self.source.storage() {
            Storage::Bytes(bytes) => {
                let start = usize::try_from(want.start).unwrap_or(usize::MAX);
                let end = start.saturating_add(step).min(bytes.len());
                Poll::Ready((start < end).then(|| Ok(bytes.slice(start..end))))
            }
            Storage::File(file) => {
                let result = match &mut self.reading {
                    Reading::File(read) => {
                        let done = ready!(Pin::new(read).poll(cx));
                        self.reading = Reading::Nothing;
                        done.map_err(io::Error::other).and_then(|read| read)
                    }
                    _ => match file.read(want.start, step, spare(&mut self.last, step)) {
                        FileRead::Done(result) => result,
                        FileRead::Blocking(read) => {
                            self.reading = Reading::File(read);
                            return self.poll_bytes(cx, want, following);
                        }
                    },
                };
                Poll::Ready(match result {
                    Ok(bytes) if bytes.is_empty() => None,
                    Ok(mut bytes) => {
                        bytes.truncate(step);
                        if (bytes.len() as u64) < want.len() || spare::worth_keeping(bytes.len()) {
                            self.last = Some(bytes.clone());
                        }
                        Some(Ok(bytes))
                    }
                    Err(err) => Some(Err(err.into())),
                })
            }
            Storage::Access(access) => {
                if !matches!(&self.reading, Reading::Stream(part) if part.left == want) {
                    // The part before is done: release it before opening another.
                    self.reading = Reading::Nothing;
                    let part = self
                        .ahead
                        .take(want)
                        .unwrap_or_else(|| Part::open(&**access, want));
                    self.reading = Reading::Stream(part);
                }
                // The parts after this one start before it is polled: the wire's order
                // is kept, their round trips overlap this part's.
                self.ahead.poll_ahead(&**access, following, cx);
                let Reading::Stream(part) = &mut self.reading else {
                    unreachable!("opened above")
                };
                Poll::Ready(match ready!(part.poll_next(cx)) {
                    Some(Ok(mut bytes)) => {
                        // A stream that gives more than its range is cut to it.
                        bytes.truncate(limit);
                        part.left.start += bytes.len() as u64;
                        Some(Ok(bytes))
                    }
                    Some(Err(err)) => Some(Err(err)),
                    None => None,
                })
            }
        }
    }

    /// Gives the last chunk's buffer to this thread's spare ones.
    fn give_back_last(&mut self) {
        if let Some(last) = self.last.take() {
            spare::keep(last);
        }
    }
}

/// A buffer to read the next chunk, of `len` bytes, into: the `last` chunk's if the
/// server has let it go, else a spare one of this thread's.
fn spare(last: &mut Option<Bytes>, len: usize) -> Option<BytesMut> {
    if let Some(held) = last.take() {
        match held.try_into_mut() {
            Ok(buf) => return Some(buf),
            Err(held) => spare::keep(held),
        }
    }
    spare::take(len)
}

impl RangeReader for SourceReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        want: ByteRange,
        following: impl Iterator<Item = ByteRange>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        self.get_mut().poll_bytes(cx, want, following)
    }

    fn finish(self: Pin<&mut Self>) {
        let this = self.get_mut();
        this.reading = Reading::Nothing;
        this.give_back_last();
        this.ahead.clear();
    }
}

impl Drop for SourceReader {
    fn drop(&mut self) {
        self.give_back_last();
    }
}

impl fmt::Debug for SourceReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceReader")
            .field("source", &self.source)
            .field("chunk", &self.chunk)
            .field("ahead", &self.ahead)
            .finish_non_exhaustive()
    }
}
