//! A reference model written from RFC 9110 (§13.1–13.2, §14.1–14.4, §14.6, §15.3.7,
//! §15.4.5, §15.5.13, §15.5.17) and the README's documented choices, without the
//! crate's code: for random methods, lengths, chunkings, `Range` headers (from the
//! grammar, and with noise), preconditions and `If-Range`, the layer's status, headers
//! and bytes equal the model's.
//!
//! Condition values are drawn from tables that say, by hand, what each one means for
//! the inner representation (`ETag: "v1"`, `Last-Modified: DATE`).

mod support;

use std::collections::VecDeque;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use proptest::prelude::*;
use support::{content, Probe, Scripted, Step};
use tower::{service_fn, Layer, ServiceExt};
use tower_range::RangeLayer;

const MAX_RANGES: usize = 64;
const GAP: u64 = 80;
const ETAG: &str = "\"v1\"";
const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// `If-Match` / `If-None-Match` values, and whether each names the representation by
/// strong comparison and by weak comparison. A malformed list names nothing.
const TAG_LISTS: &[(&str, bool, bool)] = &[
    ("\"v1\"", true, true),
    ("\"v2\"", false, false),
    ("W/\"v1\"", false, true),
    ("*", true, true),
    (" * ", true, true),
    ("\"v2\", \"v1\"", true, true),
    ("\"v2\" ,W/\"v1\",", false, true),
    ("\"v2\", \"v3\"", false, false),
    (",,", false, false),
    ("v1", false, false),
    ("\"v1\" x", false, false),
    ("\"v1\", *", false, false),
    ("\"v1", false, false),
];

/// HTTP-dates (and non-dates) with how each compares with `DATE`.
const DATES: &[(&str, Option<std::cmp::Ordering>)] = {
    use std::cmp::Ordering::{Equal, Greater, Less};
    &[
        (DATE, Some(Equal)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", Some(Equal)),
        ("Sun Nov  6 08:49:37 1994", Some(Equal)),
        ("Sun, 06 Nov 1994 08:49:36 GMT", Some(Less)),
        ("Sunday, 06-Nov-94 08:49:36 GMT", Some(Less)),
        ("Sun Nov  6 08:49:36 1994", Some(Less)),
        ("Sat, 01 Jan 1994 00:00:00 GMT", Some(Less)),
        ("Sun, 06 Nov 1994 08:49:38 GMT", Some(Greater)),
        ("Sunday, 06-Nov-94 08:49:38 GMT", Some(Greater)),
        ("Sun Nov  6 08:49:38 1994", Some(Greater)),
        ("Wed, 01 Jan 2025 00:00:00 GMT", Some(Greater)),
        ("Sun, 06 Nov 1994 08:49:37 UTC", None),
        ("Mon, 06 Nov 1994 08:49:37 GMT", None),
        ("06 Nov 1994", None),
        ("", None),
    ]
};

/// The precondition fields of one request, as indexes into the tables.
#[derive(Debug, Clone, Default)]
struct Conditions {
    if_match: Option<usize>,
    if_unmodified_since: Option<usize>,
    if_none_match: Option<usize>,
    if_modified_since: Option<usize>,
}

/// What the model says the client gets.
#[derive(Debug, PartialEq)]
enum Expected {
    /// Not a `GET` or `HEAD`: the inner response exactly as it was.
    Untouched,
    Whole,
    Single(u64, u64),
    Multi(Vec<(u64, u64)>),
    Unsatisfiable,
    NotModified,
    PreconditionFailed,
}

/// `Range` per RFC 9110 §14.1.1 with §5.6.1's list rules, read character by character.
/// Returns the (first, last) pairs with `None` for an absent side, or `None` for a header
/// to ignore. Digits beyond `u64` are kept as "infinite" (`u64::MAX`).
#[allow(clippy::type_complexity)]
fn model_parse(value: &[u8]) -> Option<Vec<(Option<u64>, Option<u64>)>> {
    let text = std::str::from_utf8(value).ok()?;
    let (unit, set) = text.split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut out = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches(|c| c == ' ' || c == '\t');
        if element.is_empty() {
            continue;
        }
        let (a, b) = element.split_once('-')?;
        let num = |s: &str| -> Option<Option<u64>> {
            if s.is_empty() {
                return Some(None);
            }
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            Some(Some(s.parse::<u64>().unwrap_or(u64::MAX)))
        };
        let (a, b) = (num(a)?, num(b)?);
        match (a, b) {
            (None, None) => return None,
            (Some(a), Some(b)) if b < a => return None,
            _ => out.push((a, b)),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// RFC 9110 §13.2.2 steps 1 to 4, for the representation `"v1"` of `DATE`.
fn model_preconditions(c: &Conditions) -> Option<Expected> {
    use std::cmp::Ordering::Less;
    if let Some(i) = c.if_match {
        if !TAG_LISTS[i].1 {
            return Some(Expected::PreconditionFailed);
        }
    } else if let Some(i) = c.if_unmodified_since {
        // Modified after the date: the date is before `DATE`.
        if DATES[i].1 == Some(Less) {
            return Some(Expected::PreconditionFailed);
        }
    }
    if let Some(i) = c.if_none_match {
        if TAG_LISTS[i].2 {
            return Some(Expected::NotModified);
        }
    } else if let Some(i) = c.if_modified_since {
        if DATES[i].1.is_some_and(|o| o != Less) {
            return Some(Expected::NotModified);
        }
    }
    None
}

fn model(
    method: &Method,
    len: u64,
    range: Option<&[u8]>,
    conditions: &Conditions,
    if_range: Option<&str>,
) -> Expected {
    if method != Method::GET && method != Method::HEAD {
        return Expected::Untouched;
    }
    if let Some(answer) = model_preconditions(conditions) {
        return answer;
    }
    let Some(specs) = range.and_then(model_parse) else {
        return Expected::Whole;
    };
    if len == 0 {
        return Expected::Whole;
    }
    if let Some(cond) = if_range {
        // A strong tag equal to the ETag, or the instant of `DATE` in any format.
        let ok = if cond.starts_with('"') || cond.starts_with("W/") {
            cond == ETAG
        } else {
            DATES.contains(&(cond, Some(std::cmp::Ordering::Equal)))
        };
        if !ok {
            return Expected::Whole;
        }
    }
    if specs.len() > MAX_RANGES {
        return Expected::Whole;
    }
    let mut spans: Vec<(u64, u64)> = specs
        .iter()
        .filter_map(|&(a, b)| match (a, b) {
            (Some(a), _) if a >= len => None,
            (Some(a), Some(b)) => Some((a, b.min(len - 1))),
            (Some(a), None) => Some((a, len - 1)),
            (None, Some(0)) => None,
            (None, Some(n)) => Some((len - n.min(len), len - 1)),
            (None, None) => unreachable!(),
        })
        .collect();
    if spans.is_empty() {
        return Expected::Unsatisfiable;
    }
    if spans.iter().map(|(a, b)| b - a + 1).sum::<u64>() > len {
        return Expected::Whole;
    }
    spans.sort();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 + 1 + GAP => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    if merged.len() == 1 {
        Expected::Single(merged[0].0, merged[0].1)
    } else {
        Expected::Multi(merged)
    }
}

fn number(len: u64) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0..len + 20).prop_map(|n| n.to_string()),
        1 => Just("99999999999999999999999999".to_owned()),
        1 => Just("0".to_owned()),
        1 => Just(len.to_string()),
    ]
}

fn element(len: u64) -> impl Strategy<Value = String> {
    prop_oneof![
        (number(len), number(len)).prop_map(|(a, b)| format!("{a}-{b}")),
        number(len).prop_map(|a| format!("{a}-")),
        number(len).prop_map(|n| format!("-{n}")),
        Just(String::new()),
    ]
}

/// A `Range` value from the grammar, sometimes damaged.
fn header(len: u64) -> impl Strategy<Value = Vec<u8>> {
    let unit = prop_oneof![Just("bytes"), Just("BYTES"), Just("Bytes"), Just("items")];
    let sep = prop_oneof![Just(","), Just(", "), Just(" ,"), Just(",\t")];
    let set = proptest::collection::vec((element(len), sep), 1..6).prop_map(|v| {
        v.into_iter()
            .map(|(e, s)| format!("{e}{s}"))
            .collect::<String>()
    });
    let noise = proptest::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop_oneof![
                Just(b' '),
                Just(b'-'),
                Just(b','),
                Just(b'='),
                Just(b'x'),
                Just(b'7'),
                Just(0xff)
            ],
        ),
        0..3,
    );
    (unit, set, any::<bool>(), noise).prop_map(|(unit, set, damage, noise)| {
        let mut value = format!("{unit}={set}").into_bytes();
        if damage {
            for (at, byte) in noise {
                let i = at.index(value.len() + 1);
                value.insert(i, byte);
            }
        }
        value
    })
}

#[derive(Debug, Clone)]
struct Case {
    len: usize,
    chunk: usize,
    method: Method,
    range: Option<Vec<u8>>,
    conditions: Conditions,
    if_range: Option<&'static str>,
}

/// Each precondition field absent two times in three, else drawn from its table.
fn conditions() -> impl Strategy<Value = Conditions> {
    let tags = || proptest::option::weighted(0.3, 0..TAG_LISTS.len());
    let dates = || proptest::option::weighted(0.3, 0..DATES.len());
    (tags(), dates(), tags(), dates()).prop_map(|(a, b, c, d)| Conditions {
        if_match: a,
        if_unmodified_since: b,
        if_none_match: c,
        if_modified_since: d,
    })
}

fn case() -> impl Strategy<Value = Case> {
    (0usize..2000).prop_flat_map(|len| {
        let if_range = prop_oneof![
            3 => Just(None),
            1 => Just(Some(ETAG)),
            1 => Just(Some("\"v2\"")),
            1 => Just(Some("W/\"v1\"")),
            1 => Just(Some(DATE)),
            1 => Just(Some("Sunday, 06-Nov-94 08:49:37 GMT")),
            1 => Just(Some("Sun Nov  6 08:49:37 1994")),
            1 => Just(Some("Sun, 06 Nov 1994 08:49:38 GMT")),
        ];
        let method = prop_oneof![
            4 => Just(Method::GET),
            2 => Just(Method::HEAD),
            1 => Just(Method::POST),
        ];
        (
            1usize..500,
            method,
            proptest::option::weighted(0.9, header(len as u64)),
            conditions(),
            if_range,
        )
            .prop_map(move |(chunk, method, range, conditions, if_range)| Case {
                len,
                chunk,
                method,
                range,
                conditions,
                if_range,
            })
    })
}

async fn check(case: Case) -> Result<(), TestCaseError> {
    let source = content(case.len);
    let body_source = source.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let steps: VecDeque<Step> = support::chunks(&body_source, case.chunk)
            .into_iter()
            .map(Step::Data)
            .collect();
        let mut res = Response::new(Scripted::new(
            steps,
            Some(body_source.len() as u64),
            &Probe::default(),
        ));
        let headers = res.headers_mut();
        headers.insert(header::ETAG, ETAG.parse().unwrap());
        headers.insert(header::LAST_MODIFIED, DATE.parse().unwrap());
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let method = case.method.clone();
    let head = method == Method::HEAD;
    let mut req = Request::builder().method(method.clone()).uri("/");
    if let Some(range) = &case.range {
        req = req.header(header::RANGE, http::HeaderValue::from_bytes(range).unwrap());
    }
    if let Some(cond) = case.if_range {
        req = req.header(header::IF_RANGE, cond);
    }
    let c = &case.conditions;
    for (name, value) in [
        (header::IF_MATCH, c.if_match.map(|i| TAG_LISTS[i].0)),
        (
            header::IF_UNMODIFIED_SINCE,
            c.if_unmodified_since.map(|i| DATES[i].0),
        ),
        (
            header::IF_NONE_MATCH,
            c.if_none_match.map(|i| TAG_LISTS[i].0),
        ),
        (
            header::IF_MODIFIED_SINCE,
            c.if_modified_since.map(|i| DATES[i].0),
        ),
    ] {
        if let Some(value) = value {
            req = req.header(name, value);
        }
    }
    let res = RangeLayer::new()
        .layer(inner)
        .oneshot(req.body(()).unwrap())
        .await
        .unwrap();
    let expected = model(
        &method,
        case.len as u64,
        case.range.as_deref(),
        &case.conditions,
        case.if_range,
    );
    let status = res.status().as_u16();
    let headers: HeaderMap = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let get = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let declared: u64 = get(header::CONTENT_LENGTH)
        .unwrap_or_else(|| body.len().to_string())
        .parse()
        .unwrap();
    if !head {
        prop_assert_eq!(
            declared,
            body.len() as u64,
            "Content-Length equals the bytes sent"
        );
    }
    let len = case.len;
    if expected == Expected::Untouched {
        prop_assert_eq!(status, 200);
        prop_assert_eq!(get(header::ACCEPT_RANGES), None);
        prop_assert_eq!(get(header::CONTENT_RANGE), None);
        prop_assert_eq!(&body, &source);
        return Ok(());
    }
    match expected {
        Expected::NotModified | Expected::PreconditionFailed => {
            prop_assert!(body.is_empty(), "no content");
            prop_assert_eq!(get(header::ACCEPT_RANGES), None);
            prop_assert_eq!(get(header::CONTENT_RANGE), None);
            prop_assert_eq!(get(header::CONTENT_TYPE), None);
            prop_assert_eq!(get(header::ETAG), Some(ETAG.to_owned()));
        }
        _ => prop_assert_eq!(get(header::ACCEPT_RANGES), Some("bytes".to_owned())),
    }
    match expected {
        Expected::Untouched => unreachable!(),
        Expected::NotModified => {
            prop_assert_eq!(status, 304);
            prop_assert_eq!(get(header::CONTENT_LENGTH), None);
            prop_assert_eq!(get(header::LAST_MODIFIED), Some(DATE.to_owned()));
        }
        Expected::PreconditionFailed => {
            prop_assert_eq!(status, 412);
            prop_assert_eq!(get(header::CONTENT_LENGTH), Some("0".to_owned()));
        }
        Expected::Whole => {
            prop_assert_eq!(status, 200);
            prop_assert_eq!(get(header::CONTENT_RANGE), None);
            if !head {
                prop_assert_eq!(&body, &source);
            }
        }
        Expected::Unsatisfiable => {
            prop_assert_eq!(status, 416);
            prop_assert_eq!(get(header::CONTENT_RANGE), Some(format!("bytes */{len}")));
            prop_assert!(body.is_empty());
        }
        Expected::Single(a, b) => {
            prop_assert_eq!(status, 206);
            prop_assert_eq!(
                get(header::CONTENT_RANGE),
                Some(format!("bytes {a}-{b}/{len}"))
            );
            prop_assert_eq!(declared, b - a + 1);
            if !head {
                prop_assert_eq!(&body[..], &source[a as usize..=b as usize]);
            }
        }
        Expected::Multi(spans) => {
            prop_assert_eq!(status, 206);
            let ct = get(header::CONTENT_TYPE).unwrap();
            prop_assert!(ct.starts_with("multipart/byteranges; boundary="));
            if !head {
                let parts = support::parse_multipart(&ct, &body);
                prop_assert_eq!(parts.len(), spans.len());
                for ((headers, bytes), (a, b)) in parts.iter().zip(spans) {
                    let cr = format!("bytes {a}-{b}/{len}");
                    prop_assert!(headers.contains(&("content-range".to_owned(), cr)));
                    prop_assert!(
                        headers.contains(&("content-type".to_owned(), "text/plain".to_owned()))
                    );
                    prop_assert_eq!(&bytes[..], &source[a as usize..=b as usize]);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn layer_matches_the_reference_model(case in case()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(check(case))?;
    }
}

#[test]
fn the_model_itself_reads_the_rfc_examples() {
    // RFC 9110 §14.1.2's examples, for a 10,000-byte representation.
    let none = Conditions::default();
    let m = |h: &str| model(&Method::GET, 10_000, Some(h.as_bytes()), &none, None);
    assert_eq!(m("bytes=0-499"), Expected::Single(0, 499));
    assert_eq!(m("bytes=500-999"), Expected::Single(500, 999));
    assert_eq!(m("bytes=-500"), Expected::Single(9500, 9999));
    assert_eq!(m("bytes=9500-"), Expected::Single(9500, 9999));
    assert_eq!(
        m("bytes=0-0,-1"),
        Expected::Multi(vec![(0, 0), (9999, 9999)])
    );
    assert_eq!(m("bytes=10000-"), Expected::Unsatisfiable);
    assert_eq!(m("bytes=5-3"), Expected::Whole);
    let _ = Bytes::new();
}
