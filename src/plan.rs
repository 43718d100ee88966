//! The decision: from what the request asked and what the inner response is, which
//! response goes out.

use http::header::{
    ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, IF_RANGE, RANGE,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::SizeHint;

use crate::config::{Config, OverLimit};
use crate::field;
use crate::if_range::IfRange;
use crate::preconditions::{Outcome, Preconditions};
use crate::range::{self, ByteRange, List, ParsedRange, RangeSpec};
use crate::validators::Validators;

/// What `call()` keeps of a `GET` or `HEAD` request: all the decision needs later.
#[derive(Clone, Debug)]
pub(crate) struct RangeRequest {
    pub(crate) head: bool,
    /// The precondition fields, when the request has any and the layer evaluates
    /// them; boxed, as the response future that holds them is moved with every poll.
    pub(crate) preconditions: Option<Box<Preconditions>>,
    /// `None` when the request has no `Range`, or one we ignore.
    pub(crate) range: Option<ParsedRange>,
    pub(crate) if_range: Option<IfRange>,
    /// The one range handed on to the inner service, if any.
    pub(crate) forward: Option<RangeSpec>,
}

impl RangeRequest {
    /// Reads what the decision needs from a `GET` or `HEAD` request's `headers`, and
    /// leaves them as the inner service should see them: without the preconditions the
    /// layer evaluates, without `If-Range`, and with `Range` only when one range is
    /// handed on, in canonical form.
    pub(crate) fn take(headers: &mut HeaderMap, head: bool, config: &Config) -> Self {
        let preconditions = (config.preconditions && Preconditions::sent(headers))
            .then(|| Box::new(Preconditions::take(headers)));
        // Most requests carry neither field; only those sent are looked up.
        let [range_sent, if_range_sent] = field::sent(headers, [&RANGE, &IF_RANGE]);
        // The inner service never sees `If-Range`: the layer evaluates it.
        let if_range = if if_range_sent {
            IfRange::take(headers)
        } else {
            None
        };
        // A `Range` sent twice is not a valid single field value: ignore it.
        let sent = if range_sent {
            field::single(headers.get_all(RANGE)).map(HeaderValue::as_bytes)
        } else {
            None
        };
        let range = sent.and_then(|value| range::parse(value, config.max_ranges));
        // A single range without `If-Range` is handed on, so that an inner service that
        // can seek (tower-http's `ServeDir`, a proxy) sends only that range. Its answer is
        // checked against ours in `RangePlan::decide`. With `If-Range` nothing is handed on:
        // not every inner service evaluates it (`ServeDir` does not).
        let forward = match &range {
            Some(ParsedRange::Specs(List::One(spec))) if if_range.is_none() => Some(*spec),
            _ => None,
        };
        // RFC 9110 §13.1.5: If-Range without Range is ignored, so it is only kept with one.
        let if_range = if_range.filter(|_| range.is_some());
        // Most clients already send the canonical form: then the header stays as it is.
        let canonical = forward.is_some_and(|spec| sent == Some(spec.canonical().as_bytes()));
        match forward {
            Some(_) if canonical => {}
            Some(spec) => {
                let value = HeaderValue::from_bytes(spec.canonical().as_bytes());
                headers.insert(RANGE, value.expect("ASCII digits"));
            }
            None if range_sent => {
                headers.remove(RANGE);
            }
            None => {}
        }
        Self {
            head,
            preconditions,
            range,
            if_range,
            forward,
        }
    }
}

/// What the layer decided for one response: the answer, where its bytes come from,
/// and whether it advertises `Accept-Ranges`. The response is written from this alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RangePlan {
    pub(crate) answer: Answer,
    /// Whether to add `Accept-Ranges: bytes`: the response is one the layer could
    /// range, advertising is on, and the inner service did not set the field.
    pub(crate) accept_ranges: bool,
}

/// The response that goes out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Not ours to range: the inner response goes out as it is.
    Untouched,
    /// The whole representation as `200`.
    Full { len: u64, bytes: BytesFrom },
    /// `206` with these ranges, in the order they go out; one range is a plain `206`,
    /// several are `multipart/byteranges`.
    Partial {
        len: u64,
        ranges: List<ByteRange>,
        bytes: BytesFrom,
    },
    /// `416` with `Content-Range: bytes */len`.
    Unsatisfiable { len: u64 },
    /// The inner service answered the range it was handed, as we would have: its
    /// `206` or `416` goes out as it is.
    Answered,
    /// The inner service answered the range it was handed with other bytes than RFC
    /// 9110 asks for: `502 Bad Gateway`, never wrong bytes.
    Misanswered,
    /// The inner service answered the range it was handed for an empty
    /// representation: an empty `200`.
    Empty,
    /// `304 Not Modified` (RFC 9110 §15.4.5).
    NotModified,
    /// `412 Precondition Failed` (RFC 9110 §15.5.13).
    PreconditionFailed,
}

/// Where the bytes of a `200` or `206` come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BytesFrom {
    /// The inner body: as it is for a `200`, cut for a `206`.
    Inner,
    /// The response's [`RangeSource`](crate::RangeSource), which has the
    /// representation's length; the inner body is dropped unread.
    Source,
    /// Nowhere: a `206` to `HEAD` has no body.
    Nothing,
}

impl RangePlan {
    /// Decides from the request, the inner response's head, and whether a
    /// [`RangeSource`](crate::RangeSource) of `source_len` bytes came with it, in the
    /// order of RFC 9110 §13.2.2.
    pub(crate) fn decide(
        request: &RangeRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body_hint: &SizeHint,
        source_len: Option<u64>,
        config: &Config,
    ) -> Self {
        let answer = Answer::decide(request, status, headers, body_hint, source_len, config);
        let rangeable = matches!(
            answer,
            Answer::Full { .. }
                | Answer::Partial { .. }
                | Answer::Unsatisfiable { .. }
                | Answer::Answered
                | Answer::Empty
        );
        Self {
            answer,
            accept_ranges: config.accept_ranges
                && rangeable
                && !field::has(headers, &ACCEPT_RANGES),
        }
    }
}

impl Answer {
    fn decide(
        request: &RangeRequest,
        status: StatusCode,
        headers: &HeaderMap,
        body_hint: &SizeHint,
        source_len: Option<u64>,
        config: &Config,
    ) -> Self {
        let handed_on = request.forward.filter(|_| {
            status == StatusCode::PARTIAL_CONTENT || status == StatusCode::RANGE_NOT_SATISFIABLE
        });
        // §13.2.1: preconditions apply only where the response to the request without
        // them would be 2xx: the inner `200`, or its answer to the range it was handed.
        if status != StatusCode::OK && handed_on.is_none() {
            return Self::Untouched;
        }
        let validators = Validators::of(headers);
        // Steps 1 to 4: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
        let outcome = match &request.preconditions {
            Some(preconditions) => preconditions.evaluate(&validators),
            None => Outcome::Proceed,
        };
        match outcome {
            Outcome::Proceed => {}
            Outcome::NotModified => return Self::NotModified,
            Outcome::Failed => return Self::PreconditionFailed,
        }
        // Step 5: If-Range and Range.
        if let Some(spec) = handed_on {
            return Self::check_answer(spec, headers);
        }
        let [content_range, accept_ranges] = field::sent(headers, [&CONTENT_RANGE, &ACCEPT_RANGES]);
        if content_range
            || accept_ranges
                && headers
                    .get(ACCEPT_RANGES)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"none"))
        {
            return Self::Untouched;
        }
        let Some(len) = representation_len(headers, body_hint, request.head) else {
            return Self::Untouched;
        };
        // The source is read only when it has the representation's length: another
        // length means it holds other bytes.
        let from_source = source_len == Some(len);
        let full = Self::Full {
            len,
            bytes: if from_source && !request.head && len > 0 {
                BytesFrom::Source
            } else {
                BytesFrom::Inner
            },
        };
        let partial_bytes = if request.head {
            BytesFrom::Nothing
        } else if from_source {
            BytesFrom::Source
        } else {
            BytesFrom::Inner
        };
        // RFC 9110 §14.1.2 leaves no valid `Content-Range` for an empty representation,
        // so it is sent whole.
        let Some(range) = request.range.as_ref().filter(|_| len > 0) else {
            return full;
        };
        if let Some(condition) = &request.if_range {
            if !condition.matches(&validators) {
                return full;
            }
        }
        let specs = match range {
            // One range, the common case: resolved, with nothing to merge or check.
            ParsedRange::Specs(List::One(spec)) => {
                return match spec.resolve(len) {
                    Some(range) => Self::Partial {
                        len,
                        ranges: List::One(range),
                        bytes: partial_bytes,
                    },
                    None => Self::Unsatisfiable { len },
                };
            }
            ParsedRange::Specs(List::Many(specs)) => specs,
            ParsedRange::TooMany => return config.over_limit.answer(len, full),
        };
        let ranges: Vec<ByteRange> = specs.iter().filter_map(|s| s.resolve(len)).collect();
        if ranges.is_empty() {
            return Self::Unsatisfiable { len };
        }
        // Go and nginx treat a set that asks for more bytes than the representation
        // holds as abuse (`bytes=0-,0-,0-`): it can only serve to amplify.
        let requested = ranges
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.len()));
        if requested > len {
            return config.over_limit.answer(len, full);
        }
        // A forward-only body can only give the parts in ascending order; a source that
        // seeks gives them in the order requested (RFC 9110 §14.6 SHOULD).
        let ranges = coalesce(ranges, config.coalesce_gap, from_source);
        if ranges.len() > 1 && headers.contains_key(CONTENT_ENCODING) {
            // A `Content-Encoding` would wrongly claim the multipart framing is encoded.
            return full;
        }
        Self::Partial {
            len,
            ranges: ranges.into_iter().collect(),
            bytes: partial_bytes,
        }
    }

    /// Checks an inner `206` or `416` to a range we handed on against our own reading.
    fn check_answer(spec: RangeSpec, headers: &HeaderMap) -> Self {
        let answer = field::single(headers.get_all(CONTENT_RANGE))
            .and_then(|value| range::parse_content_range(value.as_bytes()));
        match answer {
            // An empty representation goes out as an empty `200`, whatever the inner
            // service said (`ServeDir` sends `206` with `bytes 0-0/0`).
            Some((_, 0)) => Self::Empty,
            Some((Some((first, last)), len)) => {
                let ours = spec.resolve(len);
                if ours.is_some_and(|r| r.start == first && r.last() == last) {
                    Self::Answered
                } else {
                    Self::Misanswered
                }
            }
            // A refusal carries no bytes, so it cannot be wrong bytes: it goes out even
            // where we would have answered (`ServeDir` refuses a suffix longer than the
            // file, which RFC 9110 §14.1.2 says is the whole representation).
            Some((None, _)) => Self::Answered,
            None => Self::Misanswered,
        }
    }
}

impl OverLimit {
    /// The answer to a set past a limit: the `full` representation, or `416`.
    fn answer(self, len: u64, full: Answer) -> Answer {
        match self {
            Self::Ignore => full,
            Self::Reject => Answer::Unsatisfiable { len },
        }
    }
}

/// Whether a response is a `200` whose content coding is applied as it streams: a
/// `Content-Encoding` and no known length, as a compressing layer (tower-http's
/// `CompressionLayer`) leaves it. Such a layer keeps the `ETag` of what it was given,
/// which names the unencoded representation.
pub(crate) fn coded_as_it_streams(
    status: StatusCode,
    headers: &HeaderMap,
    hint: &SizeHint,
    head: bool,
) -> bool {
    if status != StatusCode::OK || !field::has(headers, &CONTENT_ENCODING) {
        return false;
    }
    let coded = headers.get_all(CONTENT_ENCODING).iter().any(|value| {
        value.as_bytes().split(|&b| b == b',').any(|coding| {
            let coding = range::trim_ows(coding);
            !coding.is_empty() && !coding.eq_ignore_ascii_case(b"identity")
        })
    });
    coded && representation_len(headers, hint, head).is_none()
}

/// The length of the representation: `Content-Length` when the inner response sets it,
/// else the body's exact size. A `Content-Length` that disagrees with the body means we
/// cannot know which bytes are which, so the response is left alone.
fn representation_len(headers: &HeaderMap, hint: &SizeHint, head: bool) -> Option<u64> {
    if !field::has(headers, &CONTENT_LENGTH) {
        return hint.exact();
    }
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let declared = match values.next() {
        None => None,
        Some(first) => {
            let len = range::parse_exact(first.as_bytes())?;
            if values.any(|other| range::parse_exact(other.as_bytes()) != Some(len)) {
                return None;
            }
            Some(len)
        }
    };
    match declared {
        // A response to `HEAD` carries no body, so its size says nothing.
        Some(len) if head => Some(len),
        Some(len) if hint.lower() <= len && hint.upper().is_none_or(|upper| len <= upper) => {
            Some(len)
        }
        Some(_) => None,
        None => hint.exact(),
    }
}

/// Merges the ranges that overlap or lie closer than `gap` bytes: sending the gap costs
/// less than the framing of another part (RFC 9110 §14.6). The result is disjoint, so
/// its total never exceeds the length. It is ascending, or with `in_request_order`, in
/// the order of each merged range's first request.
pub(crate) fn coalesce(ranges: Vec<ByteRange>, gap: u64, in_request_order: bool) -> Vec<ByteRange> {
    let mut indexed: Vec<(usize, ByteRange)> = ranges.into_iter().enumerate().collect();
    indexed.sort_unstable_by_key(|(_, r)| r.start);
    let mut merged: Vec<(usize, ByteRange)> = Vec::with_capacity(indexed.len());
    for (i, r) in indexed {
        match merged.last_mut() {
            Some((first, last)) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
                *first = (*first).min(i);
            }
            _ => merged.push((i, r)),
        }
    }
    if in_request_order {
        merged.sort_unstable_by_key(|(i, _)| *i);
    }
    merged.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use http::header::{ETAG, IF_RANGE, RANGE};

    fn config() -> Config {
        Config::default()
    }

    /// The plan for a `GET` (or a `HEAD`) with `range`, of an inner `200` of `len`
    /// bytes with `response` headers and perhaps a source of `source_len` bytes.
    fn plan(
        range: Option<&str>,
        head: bool,
        len: u64,
        response: &HeaderMap,
        source_len: Option<u64>,
    ) -> RangePlan {
        let mut req = HeaderMap::new();
        if let Some(range) = range {
            req.insert(RANGE, HeaderValue::from_str(range).unwrap());
        }
        let request = RangeRequest::take(&mut req, head, &config());
        RangePlan::decide(
            &request,
            StatusCode::OK,
            response,
            &SizeHint::with_exact(len),
            source_len,
            &config(),
        )
    }

    fn decide(range: Option<&str>, len: u64, response: HeaderMap) -> Answer {
        plan(range, false, len, &response, None).answer
    }

    fn full(len: u64) -> Answer {
        Answer::Full {
            len,
            bytes: BytesFrom::Inner,
        }
    }

    fn partial(len: u64, ranges: &[std::ops::Range<u64>]) -> Answer {
        Answer::Partial {
            len,
            ranges: ranges.iter().cloned().map(ByteRange::from).collect(),
            bytes: BytesFrom::Inner,
        }
    }

    #[test]
    fn a_source_of_the_representations_length_gives_the_bytes() {
        let none = &HeaderMap::new();
        let bytes = |range, head, source_len| match plan(range, head, 10, none, source_len).answer {
            Answer::Full { bytes, .. } | Answer::Partial { bytes, .. } => bytes,
            other => panic!("{other:?}"),
        };
        assert_eq!(bytes(None, false, Some(10)), BytesFrom::Source);
        assert_eq!(bytes(Some("bytes=1-2"), false, Some(10)), BytesFrom::Source);
        assert_eq!(
            bytes(Some("bytes=1-2,5-6"), false, Some(10)),
            BytesFrom::Source
        );
        assert_eq!(bytes(Some("bytes=1-2"), false, Some(9)), BytesFrom::Inner);
        assert_eq!(bytes(None, false, Some(11)), BytesFrom::Inner);
        assert_eq!(bytes(Some("bytes=1-2"), false, None), BytesFrom::Inner);
        assert_eq!(bytes(Some("bytes=1-2"), true, Some(10)), BytesFrom::Nothing);
        assert_eq!(
            bytes(None, true, Some(10)),
            BytesFrom::Inner,
            "a 200 to HEAD passes the inner body on"
        );
    }

    #[test]
    fn accept_ranges_is_decided_with_the_answer() {
        let advertised = |range, response: &HeaderMap, config: &Config| {
            let mut req = HeaderMap::new();
            if let Some(range) = range {
                req.insert(RANGE, HeaderValue::from_static(range));
            }
            let request = RangeRequest::take(&mut req, false, config);
            let hint = SizeHint::with_exact(10);
            RangePlan::decide(&request, StatusCode::OK, response, &hint, None, config).accept_ranges
        };
        let none = HeaderMap::new();
        assert!(advertised(None, &none, &config()));
        assert!(advertised(Some("bytes=1-2"), &none, &config()));
        assert!(advertised(Some("bytes=20-"), &none, &config()), "416");
        let mut set = HeaderMap::new();
        set.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        assert!(!advertised(None, &set, &config()), "the inner field stays");
        let mut ranged = HeaderMap::new();
        ranged.insert(CONTENT_RANGE, HeaderValue::from_static("bytes 0-9/20"));
        assert!(!advertised(None, &ranged, &config()), "untouched");
        let off = Config {
            accept_ranges: false,
            ..config()
        };
        assert!(!advertised(None, &none, &off));
    }

    #[test]
    fn no_range_is_full() {
        assert_eq!(decide(None, 10, HeaderMap::new()), full(10));
    }

    #[test]
    fn single_range_is_partial() {
        assert_eq!(
            decide(Some("bytes=2-4"), 10, HeaderMap::new()),
            partial(10, &[2..5])
        );
    }

    #[test]
    fn empty_representation_is_full() {
        assert_eq!(decide(Some("bytes=0-0"), 0, HeaderMap::new()), full(0));
    }

    #[test]
    fn unsatisfiable_set_is_416() {
        assert_eq!(
            decide(Some("bytes=10-,20-30,-0"), 10, HeaderMap::new()),
            Answer::Unsatisfiable { len: 10 }
        );
    }

    #[test]
    fn unsatisfiable_members_are_dropped() {
        assert_eq!(
            decide(Some("bytes=20-,2-3"), 10, HeaderMap::new()),
            partial(10, &[2..4])
        );
    }

    #[test]
    fn amplifying_sets_are_ignored() {
        assert_eq!(decide(Some("bytes=0-,0-"), 10, HeaderMap::new()), full(10));
    }

    #[test]
    fn content_length_must_agree_with_the_body() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("11"));
        assert_eq!(decide(Some("bytes=0-1"), 10, headers), Answer::Untouched);
    }

    #[test]
    fn if_range_mismatch_is_full() {
        let mut req = HeaderMap::new();
        req.insert(RANGE, HeaderValue::from_static("bytes=0-1"));
        req.insert(IF_RANGE, HeaderValue::from_static("\"a\""));
        let mut res = HeaderMap::new();
        res.insert(ETAG, HeaderValue::from_static("\"b\""));
        let request = RangeRequest::take(&mut req, false, &config());
        let plan = RangePlan::decide(
            &request,
            StatusCode::OK,
            &res,
            &SizeHint::with_exact(10),
            None,
            &config(),
        );
        assert_eq!(plan.answer, full(10));
    }

    #[test]
    fn coalescing_merges_overlaps_and_small_gaps() {
        let r = |v: &[std::ops::Range<u64>]| v.iter().cloned().map(ByteRange::from).collect();
        assert_eq!(coalesce(r(&[5..8, 0..2, 1..3]), 0, false), r(&[0..3, 5..8]));
        assert_eq!(coalesce(r(&[5..8, 0..2]), 3, false), r(&[0..8]));
        assert_eq!(coalesce(r(&[5..8, 0..2]), 2, false), r(&[0..2, 5..8]));
    }

    #[test]
    fn coalescing_can_keep_the_request_order() {
        let r = |v: &[std::ops::Range<u64>]| v.iter().cloned().map(ByteRange::from).collect();
        assert_eq!(
            coalesce(r(&[50..60, 0..2, 20..30, 1..3]), 0, true),
            r(&[50..60, 0..3, 20..30])
        );
    }
}
