//! For any length, any chunking of the inner body and any valid range set, the bytes
//! received equal the source sliced by those ranges (after the documented coalescing),
//! and `Content-Length` equals the bytes sent.

mod support;

use std::collections::VecDeque;

use http::{header, Request, Response};
use http_body_util::BodyExt;
use proptest::prelude::*;
use support::{content, parse_multipart, Probe, Scripted, Step};
use tower::{service_fn, Layer, ServiceExt};
use tower_range::RangeLayer;

/// Ranges closer than this are merged, as the README documents.
const COALESCE_GAP: u64 = 80;

#[derive(Clone, Debug)]
enum Spec {
    FromTo(u64, Option<u64>),
    Suffix(u64),
}

impl Spec {
    fn header(&self) -> String {
        match self {
            Self::FromTo(a, Some(b)) => format!("{a}-{b}"),
            Self::FromTo(a, None) => format!("{a}-"),
            Self::Suffix(n) => format!("-{n}"),
        }
    }

    /// RFC 9110 §14.1.2, written out again for the test.
    fn resolve(&self, len: u64) -> Option<(u64, u64)> {
        match *self {
            Self::FromTo(a, _) if a >= len => None,
            Self::FromTo(a, b) => Some((a, b.map_or(len, |b| (b + 1).min(len)))),
            Self::Suffix(0) => None,
            Self::Suffix(n) => Some((len - n.min(len), len)),
        }
    }
}

/// A valid range-spec for a representation of about `len` bytes: mostly short spans,
/// so that sets of several stay under the amplification limit; sometimes past the end.
fn spec(len: u64) -> impl Strategy<Value = Spec> {
    let max = len + len / 8 + 2;
    prop_oneof![
        4 => (0..max, 0..max / 6 + 1).prop_map(|(a, d)| Spec::FromTo(a, Some(a + d))),
        1 => (0..max, 0..max).prop_map(|(a, d)| Spec::FromTo(a, Some(a + d))),
        1 => (0..max).prop_map(|a| Spec::FromTo(a, None)),
        1 => (0..max / 4 + 1).prop_map(Spec::Suffix),
    ]
}

/// A length, a chunk size, and `count` range-specs for that length.
fn case(count: std::ops::Range<usize>) -> impl Strategy<Value = (usize, usize, Vec<Spec>)> {
    (0usize..3000).prop_flat_map(move |len| {
        (
            Just(len),
            1usize..700,
            proptest::collection::vec(spec(len as u64), count.clone()),
        )
    })
}

/// What the response should be: `None` for the whole 200, else the ranges sent.
fn expected(len: u64, specs: &[Spec]) -> Option<Vec<(u64, u64)>> {
    if len == 0 {
        return None;
    }
    let mut ranges: Vec<(u64, u64)> = specs.iter().filter_map(|s| s.resolve(len)).collect();
    if ranges.is_empty() {
        return Some(Vec::new());
    }
    if ranges.iter().map(|(a, b)| b - a).sum::<u64>() > len {
        return None;
    }
    ranges.sort();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 + COALESCE_GAP => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    Some(merged)
}

async fn run(len: usize, chunk: usize, specs: Vec<Spec>) -> Result<(), TestCaseError> {
    let source = content(len);
    let body_source = source.clone();
    let inner = service_fn(move |_req: Request<()>| {
        let steps: VecDeque<Step> = support::chunks(&body_source, chunk)
            .into_iter()
            .map(Step::Data)
            .collect();
        let body = Scripted::new(steps, Some(len as u64), &Probe::default());
        let mut res = Response::new(body);
        res.headers_mut()
            .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        async move { Ok::<_, std::convert::Infallible>(res) }
    });
    let set: Vec<String> = specs.iter().map(Spec::header).collect();
    let req = Request::get("/")
        .header(header::RANGE, format!("bytes={}", set.join(",")))
        .body(())
        .unwrap();
    let res = RangeLayer::new().layer(inner).oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let declared: Option<usize> = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    if let Some(declared) = declared {
        prop_assert_eq!(declared, body.len(), "Content-Length equals the bytes sent");
    }
    match expected(len as u64, &specs) {
        None => {
            prop_assert_eq!(status, 200);
            prop_assert_eq!(&body[..], &source[..]);
        }
        Some(ranges) if ranges.is_empty() => prop_assert_eq!(status, 416),
        Some(ranges) if ranges.len() == 1 => {
            let (a, b) = ranges[0];
            prop_assert_eq!(status, 206);
            prop_assert_eq!(&body[..], &source[a as usize..b as usize]);
        }
        Some(ranges) => {
            prop_assert_eq!(status, 206);
            let ct = headers[header::CONTENT_TYPE].to_str().unwrap();
            let parts = parse_multipart(ct, &body);
            prop_assert_eq!(parts.len(), ranges.len());
            for ((_, bytes), (a, b)) in parts.iter().zip(ranges) {
                prop_assert_eq!(&bytes[..], &source[a as usize..b as usize]);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn single_range_equals_the_source_slice((len, chunk, specs) in case(1..2)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(run(len, chunk, specs))?;
    }

    #[test]
    fn range_sets_equal_the_coalesced_source_slices((len, chunk, specs) in case(1..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(run(len, chunk, specs))?;
    }
}
