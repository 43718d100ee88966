//! What every module that reads a header field shares: a field that counts only when it
//! is sent exactly once, and which fields a message carries at all. Nothing here
//! depends on another module of the crate.

use http::{HeaderMap, HeaderName};

/// The one value of a field, or `None` when it was sent never or more than once.
///
/// A singleton field (`Range`, `If-Unmodified-Since`, `ETag`, `Content-Range`, …) sent
/// twice is not a valid value (RFC 9110 §5.3): which line would count? Every such field
/// is read through here, so each gets the same answer. Takes any lines, borrowed
/// (`headers.get_all(name)`) or owned (lines already taken off a request).
pub(crate) fn single<I: IntoIterator>(lines: I) -> Option<I::Item> {
    let mut lines = lines.into_iter();
    match (lines.next(), lines.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// Which of `names` `headers` holds, found in one pass over its names.
///
/// A message carries a handful of fields, and most carry none of those the layer
/// reads: comparing names costs a few instructions each, where a hashed lookup of a
/// field that is not there costs about a hundred. Only the fields found are then
/// looked up.
pub(crate) fn sent<const N: usize>(headers: &HeaderMap, names: [&HeaderName; N]) -> [bool; N] {
    let mut found = [false; N];
    for name in headers.keys() {
        if let Some(i) = names.iter().position(|wanted| *wanted == name) {
            found[i] = true;
        }
    }
    found
}

/// Whether `headers` holds `name`: [`sent`] of one name.
pub(crate) fn has(headers: &HeaderMap, name: &HeaderName) -> bool {
    let [found] = sent(headers, [name]);
    found
}

#[cfg(test)]
mod tests {
    use http::header::{IF_RANGE, RANGE};
    use http::{HeaderMap, HeaderName, HeaderValue};

    use super::{has, sent, single};

    #[test]
    fn sent_finds_each_name_present_whatever_else_is_there() {
        let mut headers = HeaderMap::new();
        let custom = HeaderName::from_static("x-range");
        assert_eq!(sent(&headers, [&RANGE, &IF_RANGE, &custom]), [false; 3]);
        headers.append("host", HeaderValue::from_static("a"));
        headers.append(RANGE, HeaderValue::from_static("bytes=0-1"));
        headers.append(RANGE, HeaderValue::from_static("bytes=2-3"));
        assert_eq!(
            sent(&headers, [&RANGE, &IF_RANGE, &custom]),
            [true, false, false]
        );
        headers.append("X-Range", HeaderValue::from_static("b"));
        assert_eq!(
            sent(&headers, [&RANGE, &IF_RANGE, &custom]),
            [true, false, true]
        );
        assert!(has(&headers, &RANGE) && !has(&headers, &IF_RANGE));
    }

    #[test]
    fn a_field_counts_only_when_sent_exactly_once() {
        let mut headers = HeaderMap::new();
        assert_eq!(single(headers.get_all(RANGE)), None, "never sent");
        headers.append(RANGE, HeaderValue::from_static("bytes=0-1"));
        assert_eq!(single(headers.get_all(RANGE)).unwrap(), "bytes=0-1");
        headers.append(RANGE, HeaderValue::from_static("bytes=0-1"));
        assert_eq!(single(headers.get_all(RANGE)), None, "sent twice");
        assert_eq!(single(Vec::<HeaderValue>::new()), None);
        assert_eq!(single(vec![1]), Some(1));
        assert_eq!(single(vec![1, 1]), None);
    }
}
