//! What every module that reads a header field shares: a field that counts only when it
//! is sent exactly once. Nothing here depends on another module of the crate.

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

#[cfg(test)]
mod tests {
    use http::header::RANGE;
    use http::{HeaderMap, HeaderValue};

    use super::single;

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
