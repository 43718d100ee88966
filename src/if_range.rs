//! `If-Range` evaluation (RFC 9110 §13.1.5) against the inner response's validators.

use http::HeaderValue;

use crate::date;
use crate::range::trim_ows;
use crate::validators::{Comparison, EntityTag, Validators};

/// Whether an `If-Range` value lets the `Range` apply to a response with `validators`.
///
/// An entity-tag must equal the response's `ETag` by strong comparison; an HTTP-date,
/// in any of its three formats, must be the instant of its `Last-Modified`. Anything
/// else, including a missing validator, does not match, and the caller then sends the
/// whole representation.
pub(crate) fn matches(if_range: &HeaderValue, validators: &Validators<'_>) -> bool {
    let condition = trim_ows(if_range.as_bytes());
    if condition.starts_with(b"\"") || condition.starts_with(b"W/") {
        // RFC 9110 §13.1.5: a weak entity-tag never satisfies If-Range, on either side.
        let (Some(tag), Some(etag)) = (EntityTag::parse(condition), validators.etag()) else {
            return false;
        };
        return tag.matches(etag, Comparison::Strong);
    }
    // §13.1.5 asks the date to match `Last-Modified` exactly; §5.6.7 makes the three
    // formats of one instant the same date.
    date::parse(condition).is_some_and(|date| validators.last_modified() == Some(date))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ETAG, LAST_MODIFIED};
    use http::HeaderMap;

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
        matches(
            &HeaderValue::from_static(if_range),
            &Validators::of(headers),
        )
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
    fn date_must_be_the_instant_of_last_modified() {
        assert!(check(DATE, &response(None, Some(DATE))));
        assert!(!check(
            "Sun, 06 Nov 1994 08:49:38 GMT",
            &response(None, Some(DATE))
        ));
        assert!(!check(DATE, &response(Some("\"abc\""), None)));
    }

    #[test]
    fn date_matches_in_any_of_the_three_formats() {
        let headers = response(None, Some(DATE));
        assert!(check("Sunday, 06-Nov-94 08:49:37 GMT", &headers));
        assert!(check("Sun Nov  6 08:49:37 1994", &headers));
        let asctime_last_modified = response(None, Some("Sun Nov  6 08:49:37 1994"));
        assert!(check(DATE, &asctime_last_modified));
    }

    #[test]
    fn no_validator_means_no_match() {
        assert!(!check("\"abc\"", &response(None, None)));
        assert!(!check(DATE, &response(None, None)));
        assert!(!check("", &response(None, Some(""))));
        assert!(!check("garbage", &response(None, Some("garbage"))));
    }

    #[test]
    fn malformed_etags_never_match() {
        assert!(!check("\"abc", &response(Some("\"abc"), None)));
        assert!(!check("\"a\"b\"", &response(Some("\"a\"b\""), None)));
    }
}
