//! `If-Range` evaluation (RFC 9110 §13.1.5) against the inner response's validators.

use std::time::{Duration, SystemTime};

use http::header::IF_RANGE;
use http::{HeaderMap, HeaderValue};

use crate::date;
use crate::range::trim_ows;
use crate::validators::{Comparison, EntityTag, Validators};

/// The `If-Range` field of a request, taken off it: the layer alone evaluates it.
#[derive(Clone, Debug)]
pub(crate) enum IfRange {
    /// Sent once.
    One(HeaderValue),
    /// Sent on more than one line: a singleton field with two values has no valid
    /// value, and an invalid `If-Range` is never true.
    Repeated,
}

impl IfRange {
    /// Removes every `If-Range` line from `headers`.
    pub(crate) fn take(headers: &mut HeaderMap) -> Option<Self> {
        let mut lines = headers.get_all(IF_RANGE).iter();
        let repeated = match (lines.next(), lines.next()) {
            (None, _) => return None,
            (Some(_), more) => more.is_some(),
        };
        let first = headers.remove(IF_RANGE)?;
        Some(if repeated {
            Self::Repeated
        } else {
            Self::One(first)
        })
    }

    /// Whether the condition lets the `Range` apply to a response with `validators`.
    ///
    /// An entity-tag must equal the response's `ETag` by strong comparison. An
    /// HTTP-date, in any of its three formats, must be the instant of its
    /// `Last-Modified`, and that date must be a strong validator: at least one second
    /// before the response's `Date`, or before the clock when the response has none
    /// (hyper writes `Date` after the layer, from the same clock). Anything else,
    /// including a missing validator, is false, and the caller then sends the whole
    /// representation.
    pub(crate) fn matches(&self, validators: &Validators<'_>) -> bool {
        self.matches_at(validators, SystemTime::now)
    }

    /// [`IfRange::matches`], with the clock that stands in for a missing `Date`.
    fn matches_at(&self, validators: &Validators<'_>, now: impl FnOnce() -> SystemTime) -> bool {
        let Self::One(value) = self else {
            return false;
        };
        let condition = trim_ows(value.as_bytes());
        if condition.starts_with(b"\"") || condition.starts_with(b"W/") {
            // RFC 9110 §13.1.5: a weak entity-tag never satisfies If-Range, on either side.
            let (Some(tag), Some(etag)) = (EntityTag::parse(condition), validators.etag()) else {
                return false;
            };
            return tag.matches(etag, Comparison::Strong);
        }
        // §13.1.5 asks the date to match `Last-Modified` exactly; §5.6.7 makes the three
        // formats of one instant the same date.
        let (Some(date), Some(last_modified)) =
            (date::parse(condition), validators.last_modified())
        else {
            return false;
        };
        date == last_modified && is_strong(last_modified, validators.date().unwrap_or_else(now))
    }
}

/// Whether a `Last-Modified` of `last_modified` is a strong validator in a response
/// sent at `sent` (RFC 9110 §8.8.2.2).
///
/// Two versions stored within one second share their `Last-Modified`. A response sent
/// within that second may be followed by another version with the same date, so its
/// date is weak; once a full second has passed, a client that holds the date was also
/// sent it at least a second later (the client's rule in §8.8.2.2), and the date names
/// one version. Whether the representation changed twice within its last second is
/// the origin's knowledge, not the layer's: it assumes clients follow that rule.
fn is_strong(last_modified: SystemTime, sent: SystemTime) -> bool {
    last_modified
        .checked_add(Duration::from_secs(1))
        .is_some_and(|strong_from| strong_from <= sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{DATE, ETAG, LAST_MODIFIED};

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
        IfRange::One(HeaderValue::from_static(if_range)).matches(&Validators::of(headers))
    }

    const DATE_1994: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

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
        assert!(check(DATE_1994, &response(None, Some(DATE_1994))));
        assert!(!check(
            "Sun, 06 Nov 1994 08:49:38 GMT",
            &response(None, Some(DATE_1994))
        ));
        assert!(!check(
            "Sun, 06 Nov 1994 08:49:36 GMT",
            &response(None, Some(DATE_1994))
        ));
        assert!(!check(DATE_1994, &response(Some("\"abc\""), None)));
    }

    #[test]
    fn date_matches_in_any_of_the_three_formats() {
        let headers = response(None, Some(DATE_1994));
        assert!(check("Sunday, 06-Nov-94 08:49:37 GMT", &headers));
        assert!(check("Sun Nov  6 08:49:37 1994", &headers));
        let asctime_last_modified = response(None, Some("Sun Nov  6 08:49:37 1994"));
        assert!(check(DATE_1994, &asctime_last_modified));
    }

    #[test]
    fn date_is_strong_only_a_second_after_last_modified() {
        let mut headers = response(None, Some(DATE_1994));
        headers.insert(DATE, HeaderValue::from_static(DATE_1994));
        assert!(!check(DATE_1994, &headers), "same second: weak");
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:38 GMT"),
        );
        assert!(check(DATE_1994, &headers), "a second later: strong");
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:30 GMT"),
        );
        assert!(!check(DATE_1994, &headers), "modified after it was sent");
    }

    #[test]
    fn without_a_date_field_the_clock_decides() {
        let headers = response(None, Some(DATE_1994));
        let condition = IfRange::One(HeaderValue::from_static(DATE_1994));
        let last_modified = date::parse(DATE_1994.as_bytes()).unwrap();
        let at = |secs| move || last_modified + Duration::from_millis(secs);
        let validators = Validators::of(&headers);
        assert!(!condition.matches_at(&validators, at(999)));
        assert!(condition.matches_at(&validators, at(1000)));
        // A `Date` that is no HTTP-date is no date: the clock stands in for it.
        let mut headers = headers.clone();
        headers.insert(DATE, HeaderValue::from_static("yesterday"));
        assert!(condition.matches_at(&Validators::of(&headers), at(1000)));
        assert!(!condition.matches_at(&Validators::of(&headers), at(0)));
    }

    #[test]
    fn no_validator_means_no_match() {
        assert!(!check("\"abc\"", &response(None, None)));
        assert!(!check(DATE_1994, &response(None, None)));
        assert!(!check("", &response(None, Some(""))));
        assert!(!check("garbage", &response(None, Some("garbage"))));
    }

    #[test]
    fn malformed_etags_never_match() {
        assert!(!check("\"abc", &response(Some("\"abc"), None)));
        assert!(!check("\"a\"b\"", &response(Some("\"a\"b\""), None)));
        assert!(!check("\"a\", \"b\"", &response(Some("\"a\""), None)));
    }

    #[test]
    fn a_repeated_field_never_matches() {
        let mut request = HeaderMap::new();
        request.append(IF_RANGE, HeaderValue::from_static("\"abc\""));
        request.append(IF_RANGE, HeaderValue::from_static("\"abc\""));
        let condition = IfRange::take(&mut request).unwrap();
        assert!(request.is_empty(), "every line is taken off");
        assert!(!condition.matches(&Validators::of(&response(Some("\"abc\""), None))));
        request.insert(IF_RANGE, HeaderValue::from_static("\"abc\""));
        let condition = IfRange::take(&mut request).unwrap();
        assert!(condition.matches(&Validators::of(&response(Some("\"abc\""), None))));
        assert!(IfRange::take(&mut request).is_none());
    }
}
