//! The parts a ranged body sends, and their `multipart/byteranges` framing (RFC 9110 §14.6).

use std::collections::hash_map::RandomState;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderValue;

use crate::range::{ByteRange, List};

/// The schedule of one ranged body: for each part, its framing then its bytes; after the
/// last part, the closing delimiter. A single range is one part with no framing.
#[derive(Debug)]
pub(crate) struct Parts {
    parts: List<(Bytes, ByteRange)>,
    /// Index of the part being sent.
    current: usize,
    /// Whether the current part's framing has gone out.
    head_sent: bool,
    /// Bytes of the current part's range already sent.
    sent: u64,
    closing: Bytes,
    /// Bytes still to send, framing included: the exact `size_hint`.
    remaining: u64,
}

/// The next thing a ranged body must send.
#[derive(Debug)]
pub(crate) enum Step {
    /// Framing bytes, ready to go.
    Frame(Bytes),
    /// Bytes of the source, starting at this range's start, at most its length.
    Read(ByteRange),
    /// Everything has been sent.
    Done,
}

impl Parts {
    /// One range, no framing: the body of a plain `206`.
    pub(crate) fn single(range: ByteRange) -> Self {
        Self::new(List::One((Bytes::new(), range)), Bytes::new())
    }

    /// Several ranges framed as `multipart/byteranges`, each part labelled with
    /// `content_type` (when there is one) and its own `Content-Range`.
    pub(crate) fn multipart(
        ranges: &[ByteRange],
        len: u64,
        content_type: Option<&HeaderValue>,
        boundary: &Boundary,
    ) -> Self {
        // All the framing in one buffer, each part's head a slice of it.
        let mut framing = BytesMut::with_capacity(ranges.len() * 128 + 64);
        let parts = ranges
            .iter()
            .enumerate()
            .map(|(i, &range)| {
                // Each delimiter but the first is preceded by a CRLF that ends the part
                // before it (RFC 2046 §5.1.1).
                if i > 0 {
                    framing.put_slice(b"\r\n");
                }
                framing.put_slice(b"--");
                framing.put_slice(boundary.as_bytes());
                framing.put_slice(b"\r\n");
                if let Some(content_type) = content_type {
                    framing.put_slice(b"Content-Type: ");
                    framing.put_slice(content_type.as_bytes());
                    framing.put_slice(b"\r\n");
                }
                let (first, last) = (range.start, range.last());
                write!(framing, "Content-Range: bytes {first}-{last}/{len}\r\n\r\n")
                    .expect("writing to memory");
                (framing.split().freeze(), range)
            })
            .collect();
        framing.put_slice(b"\r\n--");
        framing.put_slice(boundary.as_bytes());
        framing.put_slice(b"--\r\n");
        Self::new(parts, framing.freeze())
    }

    fn new(parts: List<(Bytes, ByteRange)>, closing: Bytes) -> Self {
        let remaining = parts
            .as_slice()
            .iter()
            .map(|(head, range)| head.len() as u64 + range.len())
            .sum::<u64>()
            + closing.len() as u64;
        Self {
            parts,
            current: 0,
            head_sent: false,
            sent: 0,
            closing,
            remaining,
        }
    }

    /// Bytes still to send, framing included.
    pub(crate) const fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Bytes of the source still to send: what is missing if the source ends now.
    pub(crate) fn remaining_data(&self) -> u64 {
        let parts = self.parts.as_slice();
        parts[self.current.min(parts.len())..]
            .iter()
            .map(|(_, range)| range.len())
            .sum::<u64>()
            - self.sent
    }

    /// The ranges of the parts after the current one, in the order they will be sent:
    /// what a reader may read ahead.
    pub(crate) fn following(&self) -> impl Iterator<Item = ByteRange> + '_ {
        let parts = self.parts.as_slice();
        parts[(self.current + 1).min(parts.len())..]
            .iter()
            .map(|&(_, range)| range)
    }

    /// What to send next. Framing is handed out here and counted as sent; source bytes
    /// are counted by [`Parts::advance`] once they have been read.
    pub(crate) fn next(&mut self) -> Step {
        while let Some((head, range)) = self.parts.as_slice().get(self.current) {
            if !self.head_sent {
                self.head_sent = true;
                if !head.is_empty() {
                    let head = head.clone();
                    self.remaining -= head.len() as u64;
                    return Step::Frame(head);
                }
            }
            if self.sent < range.len() {
                return Step::Read(ByteRange {
                    start: range.start + self.sent,
                    end: range.end,
                });
            }
            self.current += 1;
            self.head_sent = false;
            self.sent = 0;
        }
        if self.closing.is_empty() {
            return Step::Done;
        }
        let closing = std::mem::take(&mut self.closing);
        self.remaining -= closing.len() as u64;
        Step::Frame(closing)
    }

    /// Records `n` source bytes of the current part as sent.
    pub(crate) fn advance(&mut self, n: u64) {
        self.sent += n;
        self.remaining -= n;
    }

    /// Stops the schedule: nothing more is sent.
    pub(crate) fn abort(&mut self) {
        self.current = self.parts.len();
        self.closing = Bytes::new();
        self.remaining = 0;
    }
}

/// A fresh boundary for one response: 32 hex digits from 128 unpredictable bits.
///
/// The content is fixed before the boundary is drawn and nobody outside the process can
/// predict it, so the chance that it occurs in the content is 2^-128 per position: the
/// boundary is not checked against the content (the content has not been read yet, and
/// `Content-Length` must be known first).
pub(crate) fn boundary() -> Boundary {
    // `RandomState` keys SipHash from the OS's randomness once per thread and changes
    // the keys for each instance, which makes its output unpredictable without a
    // dependency on a random number crate.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let word = |salt: u64| {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(n);
        hasher.write_u64(salt);
        hasher.finish()
    };
    let mut digits = [0; 32];
    let words = u128::from(word(0)) << 64 | u128::from(word(1));
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(words >> (124 - 4 * i) & 0xf) as usize];
    }
    Boundary(digits)
}

/// A multipart boundary: 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Boundary([u8; 32]);

impl Boundary {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Boundary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.0).expect("hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut parts: Parts, source: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            match parts.next() {
                Step::Frame(bytes) => out.extend_from_slice(&bytes),
                Step::Read(range) => {
                    // Read in small steps to exercise partial progress.
                    let n = range.len().min(3);
                    out.extend_from_slice(&source[range.start as usize..][..n as usize]);
                    parts.advance(n);
                }
                Step::Done => return out,
            }
        }
    }

    #[test]
    fn single_part_has_no_framing() {
        let parts = Parts::single((2..7).into());
        assert_eq!(parts.remaining(), 5);
        assert_eq!(drain(parts, b"0123456789"), b"23456");
    }

    #[test]
    fn multipart_length_is_exact_and_framing_is_rfc_shaped() {
        let ct = HeaderValue::from_static("text/plain");
        let ranges = [ByteRange::from(0..2), ByteRange::from(5..8)];
        let parts = Parts::multipart(
            &ranges,
            10,
            Some(&ct),
            &Boundary(*b"0123456789abcdef0123456789abcdef"),
        );
        let promised = parts.remaining();
        let body = drain(parts, b"0123456789");
        assert_eq!(promised, body.len() as u64);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--0123456789abcdef0123456789abcdef\r\nContent-Type: text/plain\r\n\
             Content-Range: bytes 0-1/10\r\n\r\n01\
             \r\n--0123456789abcdef0123456789abcdef\r\nContent-Type: text/plain\r\n\
             Content-Range: bytes 5-7/10\r\n\r\n567\
             \r\n--0123456789abcdef0123456789abcdef--\r\n"
        );
    }

    #[test]
    fn boundaries_differ() {
        let a = boundary();
        assert_eq!(a.to_string().len(), 32);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, boundary());
    }
}
