//! `Range` header parsing (RFC 9110 §14.1.1–14.1.2) and resolution against a length.

use std::ops::Range;

/// A half-open span of bytes, `start..end`, within a representation.
///
/// Inclusive positions only appear when a `Content-Range` header is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteRange {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

impl ByteRange {
    pub(crate) const fn len(self) -> u64 {
        self.end - self.start
    }

    /// The inclusive last position, as `Content-Range` writes it.
    pub(crate) const fn last(self) -> u64 {
        self.end - 1
    }
}

impl From<Range<u64>> for ByteRange {
    fn from(r: Range<u64>) -> Self {
        Self {
            start: r.start,
            end: r.end,
        }
    }
}

/// One `range-spec` of a `Range` header, before the length is known.
///
/// Positions that do not fit in a `u64` are saturated to `u64::MAX`, which keeps their
/// meaning: a first position that large is past any end, a last position that large
/// means "to the end", a suffix that large means "everything".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RangeSpec {
    /// `first-last` or `first-`.
    FromTo { first: u64, last: Option<u64> },
    /// `-length`.
    Suffix(u64),
}

impl RangeSpec {
    /// Resolves this spec against a representation of `len` bytes; `None` when it is
    /// unsatisfiable (RFC 9110 §14.1.2).
    pub(crate) fn resolve(self, len: u64) -> Option<ByteRange> {
        match self {
            Self::FromTo { first, .. } if first >= len => None,
            Self::FromTo { first, last } => {
                let end = last.map_or(len, |last| last.saturating_add(1).min(len));
                Some((first..end).into())
            }
            Self::Suffix(0) => None,
            Self::Suffix(n) => Some((len.saturating_sub(n)..len).into()),
        }
    }
}

impl RangeSpec {
    /// The spec as a `Range` header value in its one canonical form, for an inner
    /// service whose parser may be stricter than ours.
    pub(crate) fn canonical(self) -> Canonical {
        let mut out = Canonical {
            buf: [0; Canonical::MAX],
            len: 0,
        };
        let write = |out: &mut Canonical, text: &[u8]| {
            out.buf[out.len..out.len + text.len()].copy_from_slice(text);
            out.len += text.len();
        };
        let number = |out: &mut Canonical, n: u64| write(out, decimal(n, &mut [0; 20]));
        write(&mut out, b"bytes=");
        match self {
            Self::FromTo { first, last } => {
                number(&mut out, first);
                write(&mut out, b"-");
                if let Some(last) = last {
                    number(&mut out, last);
                }
            }
            Self::Suffix(n) => {
                write(&mut out, b"-");
                number(&mut out, n);
            }
        }
        out
    }
}

/// A `Range` value in canonical form, written without the heap.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Canonical {
    buf: [u8; Canonical::MAX],
    len: usize,
}

impl Canonical {
    /// `bytes=` and two numbers of up to 20 digits around a dash.
    const MAX: usize = 6 + 20 + 1 + 20;

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Parses a `Content-Range` value: `bytes first-last/len` gives `Some((first, last))`
/// and `len`, `bytes */len` gives `None` and `len` (RFC 9110 §14.4).
pub(crate) fn parse_content_range(value: &[u8]) -> Option<(Option<(u64, u64)>, u64)> {
    let rest = value.strip_prefix(b"bytes ")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (span, len) = (&rest[..slash], parse_exact(&rest[slash + 1..])?);
    if span == b"*" {
        return Some((None, len));
    }
    let dash = span.iter().position(|&b| b == b'-')?;
    let first = parse_exact(&span[..dash])?;
    let last = parse_exact(&span[dash + 1..])?;
    Some((Some((first, last)), len))
}

/// Parses `1*DIGIT` that must fit in a `u64`, as in `Content-Length` and
/// `Content-Range`.
pub(crate) fn parse_exact(digits: &[u8]) -> Option<u64> {
    fold_digits(digits, |n, digit| n.checked_mul(10)?.checked_add(digit))
}

/// One item, or several: nearly every `Range` names one range, which needs no heap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum List<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> List<T> {
    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            Self::One(item) => std::slice::from_ref(item),
            Self::Many(items) => items,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// `list` with `item` appended; `None` is the empty list.
    fn push(list: Option<Self>, item: T) -> Self {
        match list {
            None => Self::One(item),
            Some(Self::One(first)) => Self::Many(vec![first, item]),
            Some(Self::Many(mut items)) => {
                items.push(item);
                Self::Many(items)
            }
        }
    }
}

impl<T> FromIterator<T> for List<T> {
    /// Panics on an empty iterator: a list holds at least one item.
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut items = items.into_iter();
        let first = items.next().expect("a list holds at least one item");
        match items.next() {
            None => Self::One(first),
            Some(second) => Self::Many([first, second].into_iter().chain(items).collect()),
        }
    }
}

/// What a `Range` header asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParsedRange {
    /// A valid `bytes` range set, in the order requested.
    Specs(List<RangeSpec>),
    /// A valid set with more members than the configured maximum; only the count up to
    /// the limit was read.
    TooMany,
}

/// Parses a `Range` header value.
///
/// Returns `None` for anything RFC 9110 says to ignore: another unit, a syntax error, a
/// reversed `first-last`, an empty set. Stores at most `max_ranges` members, so a header
/// with thousands of ranges costs one linear scan and bounded memory.
pub(crate) fn parse(value: &[u8], max_ranges: usize) -> Option<ParsedRange> {
    let eq = value.iter().position(|&b| b == b'=')?;
    let (unit, set) = (&value[..eq], &value[eq + 1..]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let mut specs: Option<List<RangeSpec>> = None;
    let mut too_many = false;
    // RFC 9110 §5.6.1: a list may hold empty elements, with optional whitespace
    // around the commas; recipients accept and skip them.
    for element in set.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        // Every member is still checked: an invalid set is ignored whatever its size.
        let spec = parse_spec(element)?;
        if specs.as_ref().map_or(0, List::len) < max_ranges {
            specs = Some(List::push(specs, spec));
        } else {
            too_many = true;
        }
    }
    if too_many {
        return Some(ParsedRange::TooMany);
    }
    specs.map(ParsedRange::Specs)
}

fn parse_spec(element: &[u8]) -> Option<RangeSpec> {
    let dash = element.iter().position(|&b| b == b'-')?;
    let (first, last) = (&element[..dash], &element[dash + 1..]);
    if first.is_empty() {
        return Some(RangeSpec::Suffix(parse_digits(last)?));
    }
    let first = parse_digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(parse_digits(last)?)
    };
    // RFC 9110 §14.1.1: a last-pos below its first-pos makes the whole set invalid.
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(RangeSpec::FromTo { first, last })
}

/// Parses `1*DIGIT`, saturating at `u64::MAX` instead of overflowing.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    fold_digits(digits, |n, digit| {
        Some(n.saturating_mul(10).saturating_add(digit))
    })
}

/// Parses `1*DIGIT`, each digit added to the number so far by `push`, which may refuse
/// it. One loop checks and reads each digit: checking them all first, then reading,
/// cost five times as much.
fn fold_digits(digits: &[u8], push: impl Fn(u64, u64) -> Option<u64>) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0, |n, &d| {
        if d.is_ascii_digit() {
            push(n, u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// Strips optional whitespace (`OWS`: spaces and tabs) from both ends.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `n` in decimal digits, written into the end of `digits` without `fmt`, which costs
/// more than the rest of a header's work; two digits per division.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    &digits[at..]
}

/// `00` to `99`, two bytes each.
const PAIRS: [u8; 200] = {
    let mut pairs = [0; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(value: &str) -> Option<Vec<RangeSpec>> {
        match parse(value.as_bytes(), 100)? {
            ParsedRange::Specs(specs) => Some(specs.as_slice().to_vec()),
            ParsedRange::TooMany => panic!("unexpected TooMany for {value}"),
        }
    }

    fn from_to(first: u64, last: Option<u64>) -> RangeSpec {
        RangeSpec::FromTo { first, last }
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(specs("bytes=0-499"), Some(vec![from_to(0, Some(499))]));
        assert_eq!(specs("bytes=9500-"), Some(vec![from_to(9500, None)]));
        assert_eq!(specs("bytes=-500"), Some(vec![RangeSpec::Suffix(500)]));
    }

    #[test]
    fn unit_is_case_insensitive() {
        assert_eq!(specs("BYTES=1-2"), Some(vec![from_to(1, Some(2))]));
        assert_eq!(specs("Bytes=1-2"), Some(vec![from_to(1, Some(2))]));
    }

    #[test]
    fn whitespace_around_commas_and_empty_elements_are_accepted() {
        assert_eq!(
            specs("bytes=0-1 , 3-4,\t,, -5 ,"),
            Some(vec![
                from_to(0, Some(1)),
                from_to(3, Some(4)),
                RangeSpec::Suffix(5)
            ])
        );
    }

    #[test]
    fn invalid_headers_are_ignored() {
        for value in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=5-3",
            "bytes=0-1,5-3",
            "bytes=abc",
            "bytes=-",
            "bytes=1",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1 - 2",
            "bytes=0x10-",
            "items=0-1",
            "bytes =0-1",
            "=0-1",
            "bytes=--1",
            "bytes=1--2",
        ] {
            assert_eq!(
                parse(value.as_bytes(), 100),
                None,
                "{value:?} must be ignored"
            );
        }
    }

    #[test]
    fn numbers_beyond_u64_saturate_and_keep_their_meaning() {
        let huge = "99999999999999999999999999999999";
        assert_eq!(
            specs(&format!("bytes=0-{huge}")),
            Some(vec![from_to(0, Some(u64::MAX))])
        );
        assert_eq!(
            specs(&format!("bytes={huge}-")),
            Some(vec![from_to(u64::MAX, None)])
        );
        assert_eq!(
            specs(&format!("bytes=-{huge}")),
            Some(vec![RangeSpec::Suffix(u64::MAX)])
        );
        let last_to_end = from_to(0, Some(u64::MAX)).resolve(10);
        assert_eq!(last_to_end, Some((0..10).into()));
        assert_eq!(from_to(u64::MAX, None).resolve(10), None);
        assert_eq!(
            RangeSpec::Suffix(u64::MAX).resolve(10),
            Some((0..10).into())
        );
    }

    #[test]
    fn resolution_clamps_and_rejects() {
        assert_eq!(from_to(2, Some(4)).resolve(10), Some((2..5).into()));
        assert_eq!(from_to(2, Some(40)).resolve(10), Some((2..10).into()));
        assert_eq!(from_to(9, None).resolve(10), Some((9..10).into()));
        assert_eq!(from_to(10, None).resolve(10), None);
        assert_eq!(from_to(10, Some(12)).resolve(10), None);
        assert_eq!(RangeSpec::Suffix(3).resolve(10), Some((7..10).into()));
        assert_eq!(RangeSpec::Suffix(30).resolve(10), Some((0..10).into()));
        assert_eq!(RangeSpec::Suffix(0).resolve(10), None);
    }

    #[test]
    fn too_many_ranges_stop_storage_but_still_need_valid_syntax() {
        assert_eq!(parse(b"bytes=0-1,2-3,4-5", 2), Some(ParsedRange::TooMany));
        assert_eq!(parse(b"bytes=0-1,2-3,5-4", 2), None);
        assert!(matches!(parse(b"bytes=0-1,2-3", 2), Some(ParsedRange::Specs(s)) if s.len() == 2));
        assert!(matches!(
            parse(b"bytes=0-1", 2),
            Some(ParsedRange::Specs(List::One(_)))
        ));
    }

    #[test]
    fn canonical_header_round_trips() {
        for value in [
            "bytes=0-5",
            "bytes=7-",
            "bytes=-3",
            "bytes=0-18446744073709551615",
        ] {
            let parsed = specs(value).unwrap();
            assert_eq!(parsed[0].canonical().as_bytes(), value.as_bytes());
        }
        let odd = specs("BYTES= 1-2 ,").unwrap()[0].canonical();
        assert_eq!(odd.as_bytes(), b"bytes=1-2");
    }

    #[test]
    fn content_range_parses_both_forms() {
        assert_eq!(
            parse_content_range(b"bytes 0-4/10"),
            Some((Some((0, 4)), 10))
        );
        assert_eq!(parse_content_range(b"bytes */10"), Some((None, 10)));
        assert_eq!(parse_content_range(b"bytes 0-4/*"), None);
        assert_eq!(parse_content_range(b"bytes 0-4"), None);
        assert_eq!(parse_content_range(b"items 0-4/10"), None);
    }

    #[test]
    fn ten_thousand_ranges_parse_within_the_limit() {
        let header = format!("bytes={}", vec!["0-"; 10_000].join(","));
        assert_eq!(parse(header.as_bytes(), 64), Some(ParsedRange::TooMany));
    }

    #[test]
    fn decimal_writes_every_count_of_digits() {
        let mut n = 1u64;
        let edges = std::iter::from_fn(|| {
            let this = n;
            n = n.checked_mul(10)?;
            Some(this)
        })
        .flat_map(|p| [p - 1, p, p + 1, 2 * p - 1]);
        for n in edges.chain([0, 7, 42, 99, 100, 4096, 65_535, u64::MAX - 1, u64::MAX]) {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn exact_numbers_refuse_what_does_not_fit_or_is_not_digits() {
        assert_eq!(parse_exact(b"0"), Some(0));
        assert_eq!(parse_exact(b"007"), Some(7));
        assert_eq!(parse_exact(b"18446744073709551615"), Some(u64::MAX));
        for refused in [
            &b""[..],
            b"18446744073709551616",
            b"+1",
            b"-1",
            b"1 ",
            b" 1",
            b"1_0",
        ] {
            assert_eq!(parse_exact(refused), None, "{refused:?}");
        }
        assert_eq!(parse_digits(b"99999999999999999999999"), Some(u64::MAX));
        assert_eq!(parse_digits(b"12a"), None);
    }
}
