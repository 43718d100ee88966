//! Preconditions (RFC 9110 §13.1.1–13.1.4) of a `GET` or `HEAD`, evaluated against the
//! inner response's validators in the order of §13.2.2.

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::date;
use crate::field;
use crate::validators::{names_current, Comparison, Validators};

/// The precondition fields of a request, taken off it so that the inner service
/// produces the representation and the layer alone decides.
#[derive(Clone, Debug)]
pub(crate) struct Preconditions {
    /// Every line of `If-Match`: a list may be split over several.
    if_match: Vec<HeaderValue>,
    /// `If-Unmodified-Since`, when sent once: two dates are not a valid HTTP-date.
    if_unmodified_since: Option<HeaderValue>,
    if_none_match: Vec<HeaderValue>,
    if_modified_since: Option<HeaderValue>,
}

/// What the preconditions say the response is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// On to `If-Range` and `Range` (§13.2.2 step 5).
    Proceed,
    /// `304 Not Modified`: the client's copy is current.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

impl Preconditions {
    /// Whether the request carries any of the four fields: most carry none, and then
    /// there is nothing to take or evaluate.
    pub(crate) fn sent(headers: &HeaderMap) -> bool {
        let names = [
            &IF_MATCH,
            &IF_UNMODIFIED_SINCE,
            &IF_NONE_MATCH,
            &IF_MODIFIED_SINCE,
        ];
        field::sent(headers, names).contains(&true)
    }

    /// Removes the four precondition fields from `headers` and keeps them.
    pub(crate) fn take(headers: &mut HeaderMap) -> Self {
        Self {
            if_match: take_lines(headers, IF_MATCH),
            if_unmodified_since: take_single(headers, IF_UNMODIFIED_SINCE),
            if_none_match: take_lines(headers, IF_NONE_MATCH),
            if_modified_since: take_single(headers, IF_MODIFIED_SINCE),
        }
    }

    /// §13.2.2 steps 1 to 4, for a `GET` or `HEAD` whose response would be `2xx`.
    pub(crate) fn evaluate(&self, validators: &Validators<'_>) -> Outcome {
        // Step 1. `*` is true: the inner service answered with a current representation.
        if !self.if_match.is_empty() {
            if !names_current(&self.if_match, validators.etag(), Comparison::Strong) {
                return Outcome::Failed;
            }
        // Step 2, only without `If-Match`; a date that does not parse, or a
        // representation without `Last-Modified`, leaves nothing to evaluate.
        } else if let Some(since) = self.if_unmodified_since.as_ref() {
            if modified_after(since, validators) == Some(true) {
                return Outcome::Failed;
            }
        }
        // Step 3. False for a `GET` or `HEAD` means `304`.
        if !self.if_none_match.is_empty() {
            if names_current(&self.if_none_match, validators.etag(), Comparison::Weak) {
                return Outcome::NotModified;
            }
        // Step 4, only without `If-None-Match`.
        } else if let Some(since) = self.if_modified_since.as_ref() {
            if modified_after(since, validators) == Some(false) {
                return Outcome::NotModified;
            }
        }
        Outcome::Proceed
    }
}

/// Whether the representation was last modified after the date in `since`, compared at
/// the one-second resolution of HTTP-dates; `None` when either date is missing or
/// invalid, and the condition is ignored (§13.1.3, §13.1.4).
fn modified_after(since: &HeaderValue, validators: &Validators<'_>) -> Option<bool> {
    let since = date::parse(since.as_bytes())?;
    Some(validators.last_modified()? > since)
}

/// Removes every line of `name`.
fn take_lines(headers: &mut HeaderMap, name: HeaderName) -> Vec<HeaderValue> {
    // `entry` may grow the map; a lookup does not.
    if !headers.contains_key(&name) {
        return Vec::new();
    }
    match headers.entry(name) {
        http::header::Entry::Occupied(entry) => entry.remove_entry_mult().1.collect(),
        http::header::Entry::Vacant(_) => Vec::new(),
    }
}

/// Removes every line of `name`, and keeps the value if there was exactly one.
fn take_single(headers: &mut HeaderMap, name: HeaderName) -> Option<HeaderValue> {
    field::single(take_lines(headers, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ETAG, LAST_MODIFIED};

    const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const EARLIER: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
    const LATER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

    fn evaluate(request: &[(HeaderName, &'static str)]) -> Outcome {
        let mut headers = HeaderMap::new();
        for (name, value) in request {
            headers.append(name, HeaderValue::from_static(value));
        }
        assert_eq!(Preconditions::sent(&headers), !request.is_empty());
        let conditions = Preconditions::take(&mut headers);
        assert!(headers.is_empty(), "every precondition is taken off");
        let mut response = HeaderMap::new();
        response.insert(ETAG, HeaderValue::from_static("\"v1\""));
        response.insert(LAST_MODIFIED, HeaderValue::from_static(DATE));
        conditions.evaluate(&Validators::of(&response))
    }

    use Outcome::{Failed, NotModified, Proceed};

    #[test]
    fn no_preconditions_proceed() {
        assert_eq!(evaluate(&[]), Proceed);
    }

    #[test]
    fn if_match_needs_a_strong_match() {
        assert_eq!(evaluate(&[(IF_MATCH, "\"v1\"")]), Proceed);
        assert_eq!(evaluate(&[(IF_MATCH, "\"v0\", \"v1\"")]), Proceed);
        assert_eq!(
            evaluate(&[(IF_MATCH, "\"v0\""), (IF_MATCH, "\"v1\"")]),
            Proceed
        );
        assert_eq!(evaluate(&[(IF_MATCH, "*")]), Proceed);
        assert_eq!(evaluate(&[(IF_MATCH, "\"v0\"")]), Failed);
        assert_eq!(evaluate(&[(IF_MATCH, "W/\"v1\"")]), Failed);
        assert_eq!(evaluate(&[(IF_MATCH, "v1")]), Failed);
    }

    #[test]
    fn if_unmodified_since_fails_after_the_date() {
        assert_eq!(evaluate(&[(IF_UNMODIFIED_SINCE, DATE)]), Proceed);
        assert_eq!(evaluate(&[(IF_UNMODIFIED_SINCE, LATER)]), Proceed);
        assert_eq!(evaluate(&[(IF_UNMODIFIED_SINCE, EARLIER)]), Failed);
        assert_eq!(evaluate(&[(IF_UNMODIFIED_SINCE, "yesterday")]), Proceed);
        assert_eq!(
            evaluate(&[
                (IF_UNMODIFIED_SINCE, EARLIER),
                (IF_UNMODIFIED_SINCE, EARLIER)
            ]),
            Proceed,
            "two dates are no valid HTTP-date"
        );
        assert_eq!(
            evaluate(&[(IF_MATCH, "\"v1\""), (IF_UNMODIFIED_SINCE, EARLIER)]),
            Proceed,
            "If-Unmodified-Since is ignored beside If-Match"
        );
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison() {
        assert_eq!(evaluate(&[(IF_NONE_MATCH, "\"v1\"")]), NotModified);
        assert_eq!(
            evaluate(&[(IF_NONE_MATCH, "\"v0\", W/\"v1\"")]),
            NotModified
        );
        assert_eq!(evaluate(&[(IF_NONE_MATCH, "*")]), NotModified);
        assert_eq!(evaluate(&[(IF_NONE_MATCH, "\"v0\"")]), Proceed);
        assert_eq!(evaluate(&[(IF_NONE_MATCH, "\"v1\" junk")]), Proceed);
    }

    #[test]
    fn if_modified_since_is_not_modified_at_or_after_the_date() {
        assert_eq!(evaluate(&[(IF_MODIFIED_SINCE, DATE)]), NotModified);
        assert_eq!(evaluate(&[(IF_MODIFIED_SINCE, LATER)]), NotModified);
        assert_eq!(evaluate(&[(IF_MODIFIED_SINCE, EARLIER)]), Proceed);
        assert_eq!(
            evaluate(&[(IF_MODIFIED_SINCE, "Sun Nov  6 08:49:37 1994")]),
            NotModified
        );
        assert_eq!(evaluate(&[(IF_MODIFIED_SINCE, "06 Nov 1994")]), Proceed);
        assert_eq!(
            evaluate(&[(IF_NONE_MATCH, "\"v0\""), (IF_MODIFIED_SINCE, DATE)]),
            Proceed,
            "If-Modified-Since is ignored beside If-None-Match"
        );
    }

    #[test]
    fn failures_come_before_not_modified() {
        assert_eq!(
            evaluate(&[(IF_MATCH, "\"v0\""), (IF_NONE_MATCH, "\"v1\"")]),
            Failed
        );
        assert_eq!(
            evaluate(&[(IF_UNMODIFIED_SINCE, EARLIER), (IF_MODIFIED_SINCE, DATE)]),
            Failed
        );
        assert_eq!(
            evaluate(&[(IF_MATCH, "\"v1\""), (IF_NONE_MATCH, "\"v1\"")]),
            NotModified
        );
    }

    #[test]
    fn without_validators_only_star_matches() {
        let mut headers = HeaderMap::new();
        headers.insert(IF_MATCH, HeaderValue::from_static("*"));
        headers.insert(IF_MODIFIED_SINCE, HeaderValue::from_static(DATE));
        let conditions = Preconditions::take(&mut headers);
        let none = HeaderMap::new();
        assert_eq!(conditions.evaluate(&Validators::of(&none)), Proceed);
        headers.insert(IF_MATCH, HeaderValue::from_static("\"v1\""));
        let conditions = Preconditions::take(&mut headers);
        assert_eq!(conditions.evaluate(&Validators::of(&none)), Failed);
    }
}
