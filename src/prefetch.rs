//! [`Prefetch`]: the parts of a multipart response read ahead of the one being sent,
//! for storage whose every read starts with a round trip (see
//! [`RandomAccess::prefetch`]).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::access::{RandomAccess, RangeStream};
use crate::error::BoxError;
use crate::range::ByteRange;

/// One part's stream, and the range it has left to give.
pub(crate) struct Part {
    /// What the stream has left: its start moves as bytes are handed out.
    pub(crate) left: ByteRange,
    stream: RangeStream,
    /// An item the stream produced before the part was sent: a part read ahead holds
    /// its first item and is polled no further.
    held: Option<Option<Result<Bytes, BoxError>>>,
}

impl Part {
    /// The stream of `range`, not yet polled.
    pub(crate) fn open(access: &dyn RandomAccess, range: ByteRange) -> Self {
        Self {
            left: range,
            stream: access.read_range(range.start..range.end),
            held: None,
        }
    }

    /// The next item: the one held first, then the stream's. Empty items are skipped.
    pub(crate) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        if let Some(item) = self.held.take() {
            return Poll::Ready(item);
        }
        loop {
            match Pin::new(&mut self.stream).poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) if bytes.is_empty() => {}
                other => return other,
            }
        }
    }

    /// Polls a part read ahead until it holds an item, and not after.
    fn poll_hold(&mut self, cx: &mut Context<'_>) {
        if self.held.is_none() {
            if let Poll::Ready(item) = self.poll_next(cx) {
                self.held = Some(item);
            }
        }
    }
}

/// The parts after the one being sent, opened and polled ahead of it: at most `window`
/// of them, in the order they will be sent.
pub(crate) struct Prefetch {
    window: usize,
    parts: VecDeque<Part>,
}

impl Prefetch {
    /// Reads up to `window` parts ahead; 0 reads none, and allocates nothing.
    pub(crate) const fn new(window: usize) -> Self {
        Self {
            window,
            parts: VecDeque::new(),
        }
    }

    /// The part read ahead for `want`, when it is the next in line. Anything else read
    /// ahead no longer lines up with the parts to send, and is dropped.
    pub(crate) fn take(&mut self, want: ByteRange) -> Option<Part> {
        match self.parts.pop_front() {
            Some(part) if part.left == want => Some(part),
            Some(_) => {
                self.parts.clear();
                None
            }
            None => None,
        }
    }

    /// Opens the parts of `following` (the parts after the current one, in order) that
    /// the window allows and are not open yet, and polls each one that holds nothing.
    pub(crate) fn poll_ahead(
        &mut self,
        access: &dyn RandomAccess,
        following: impl Iterator<Item = ByteRange>,
        cx: &mut Context<'_>,
    ) {
        if self.window == 0 {
            return;
        }
        let open = self.parts.len();
        for range in following.take(self.window).skip(open) {
            self.parts.push_back(Part::open(access, range));
        }
        for part in &mut self.parts {
            part.poll_hold(cx);
        }
    }

    /// Drops every part read ahead, unread.
    pub(crate) fn clear(&mut self) {
        self.parts.clear();
    }
}

impl fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prefetch")
            .field("window", &self.window)
            .field("open", &self.parts.len())
            .finish()
    }
}
