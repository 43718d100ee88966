//! `If-Range` evaluation (RFC 9110 §13.1.5) against the inner response's validators.

use http::header::{ETAG, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue};

use crate::range::trim_ows;

/// Whether an `If-Range` value lets the `Range` apply to a response with `headers`.
///
/// An entity-tag must equal the response's `ETag` by strong comparison; an HTTP-date
/// must equal its `Last-Modified` exactly. Anything else, including a missing validator,
/// does not match, and the caller then sends the whole representation.
pub(crate) fn matches(if_range: &HeaderValue, headers: &HeaderMap) -> bool {
    let condition = trim_ows(if_range.as_bytes());
    if condition.starts_with(b"\"") || condition.starts_with(b"W/") {
        // RFC 9110 §13.1.5: a weak entity-tag never satisfies If-Range, on either side.
        return is_strong_etag(condition)
            && headers
                .get(ETAG)
                .is_some_and(|etag| trim_ows(etag.as_bytes()) == condition);
    }
    // The date must be an exact match; any other form of the same instant is treated
    // as a mismatch, which costs a full response but can never send wrong bytes.
    !condition.is_empty()
        && headers
            .get(LAST_MODIFIED)
            .is_some_and(|lm| trim_ows(lm.as_bytes()) == condition)
}

/// `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE` without the weak prefix.
fn is_strong_etag(tag: &[u8]) -> bool {
    match tag {
        [b'"', inner @ .., b'"'] => inner.iter().all(|&c| c != b'"'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(etag: Option<&'static str>, last_modified: Option<&'static str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(etag) = etag {
            headers.insert(ETAG, HeaderValue::from_static(etag));
        }
        if let Some(lm) = last_modified {
            headers.insert(LAST_MODIFIED, HeaderValue::from_static(lm));
        }
        headers
    }

    fn check(if_range: &'static str, headers: &HeaderMap) -> bool {
        matches(&HeaderValue::from_static(if_range), headers)
    }

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn strong_etag_matches_equal_strong_etag() {
        assert!(check("\"abc\"", &response(Some("\"abc\""), None)));
        assert!(!check("\"abc\"", &response(Some("\"abd\""), None)));
    }

    #[test]
    fn weak_etag_never_matches() {
        assert!(!check("W/\"abc\"", &response(Some("W/\"abc\""), None)));
        assert!(!check("\"abc\"", &response(Some("W/\"abc\""), None)));
        assert!(!check("W/\"abc\"", &response(Some("\"abc\""), None)));
    }

    #[test]
    fn date_must_equal_last_modified_exactly() {
        assert!(check(DATE, &response(None, Some(DATE))));
        assert!(!check(
            "Sun, 06 Nov 1994 08:49:38 GMT",
            &response(None, Some(DATE))
        ));
        assert!(!check(DATE, &response(Some("\"abc\""), None)));
    }

    #[test]
    fn no_validator_means_no_match() {
        assert!(!check("\"abc\"", &response(None, None)));
        assert!(!check(DATE, &response(None, None)));
        assert!(!check("", &response(None, Some(""))));
    }

    #[test]
    fn malformed_etags_never_match() {
        assert!(!check("\"abc", &response(Some("\"abc"), None)));
        assert!(!check("\"a\"b\"", &response(Some("\"a\"b\""), None)));
    }
}
