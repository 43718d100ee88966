//! `If-Range` (RFC 9110 §13.1.5) over real TCP: each rule of the section, and of
//! §8.8.2.2 for dates, has a test here.

mod support;

use std::time::{Duration, SystemTime};

use http::header::{self, ETAG, LAST_MODIFIED};
use support::{content, get, parse_multipart, serve_ranged, Inner};
use tower_range::RangeLayer;

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

async fn status_for(inner: Inner, if_range: &str) -> (u16, Vec<u8>) {
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    let reply = get(addr, &[("Range", "bytes=0-9"), ("If-Range", if_range)]).await;
    assert!(reply.complete);
    (reply.status, reply.body)
}

fn tagged(etag: &'static str) -> Inner {
    Inner::new(content(100)).header(ETAG, etag)
}

#[tokio::test]
async fn matching_strong_etag_gets_206() {
    let (status, body) = status_for(tagged("\"v1\""), "\"v1\"").await;
    assert_eq!(status, 206);
    assert_eq!(body, &content(100)[..10]);
}

#[tokio::test]
async fn different_etag_gets_the_whole_200() {
    let (status, body) = status_for(tagged("\"v2\""), "\"v1\"").await;
    assert_eq!(status, 200);
    assert_eq!(body, content(100));
}

#[tokio::test]
async fn weak_etags_never_match() {
    assert_eq!(status_for(tagged("W/\"v1\""), "W/\"v1\"").await.0, 200);
    assert_eq!(status_for(tagged("W/\"v1\""), "\"v1\"").await.0, 200);
    assert_eq!(status_for(tagged("\"v1\""), "W/\"v1\"").await.0, 200);
}

#[tokio::test]
async fn equal_date_gets_206_and_other_dates_get_200() {
    let inner = || Inner::new(content(100)).header(LAST_MODIFIED, DATE);
    assert_eq!(status_for(inner(), DATE).await.0, 206);
    assert_eq!(
        status_for(inner(), "Sun, 06 Nov 1994 08:49:38 GMT").await.0,
        200
    );
}

#[tokio::test]
async fn no_validator_gets_the_whole_200() {
    assert_eq!(status_for(Inner::new(content(100)), "\"v1\"").await.0, 200);
    assert_eq!(status_for(Inner::new(content(100)), DATE).await.0, 200);
}

#[tokio::test]
async fn if_range_without_range_is_ignored() {
    let addr = serve_ranged(RangeLayer::new(), tagged("\"v1\"")).await;
    let reply = get(addr, &[("If-Range", "\"v2\"")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(100));
}

#[tokio::test]
async fn if_range_mismatch_beats_an_unsatisfiable_range() {
    // RFC 9110 §13.1.5: a failed condition means the Range is ignored, so no 416.
    let addr = serve_ranged(RangeLayer::new(), tagged("\"v2\"")).await;
    let reply = get(addr, &[("Range", "bytes=500-"), ("If-Range", "\"v1\"")]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn date_in_any_of_the_three_formats_gets_206() {
    // RFC 9110 §5.6.7: a recipient accepts all three formats of an HTTP-date.
    let inner = || Inner::new(content(100)).header(LAST_MODIFIED, DATE);
    for same_instant in [
        DATE,
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        let (status, body) = status_for(inner(), same_instant).await;
        assert_eq!(status, 206, "If-Range: {same_instant}");
        assert_eq!(body, &content(100)[..10]);
    }
    for other in [
        "Sunday, 06-Nov-94 08:49:38 GMT",
        "Sun Nov  6 08:49:36 1994",
        "Sun, 06 Nov 1994 08:49:37 UTC",
    ] {
        assert_eq!(status_for(inner(), other).await.0, 200, "If-Range: {other}");
    }
}

/// An inner response with `Last-Modified: DATE` and the given `Date`.
fn dated(date: &'static str) -> Inner {
    Inner::new(content(100))
        .header(LAST_MODIFIED, DATE)
        .header(header::DATE, date)
}

#[tokio::test]
async fn date_sent_within_its_own_second_is_weak() {
    // RFC 9110 §8.8.2.2: a Last-Modified less than a second before the response's
    // Date may name two versions; §13.1.5: a date that is not strong is false.
    assert_eq!(status_for(dated(DATE), DATE).await.0, 200);
    let (status, body) = status_for(dated("Sun, 06 Nov 1994 08:49:38 GMT"), DATE).await;
    assert_eq!(status, 206, "a second later the date is strong");
    assert_eq!(body, &content(100)[..10]);
}

#[tokio::test]
async fn last_modified_after_the_response_date_is_weak() {
    assert_eq!(
        status_for(dated("Sun, 06 Nov 1994 08:49:27 GMT"), DATE)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn without_a_date_field_the_clock_judges_the_date() {
    // hyper writes `Date` after the layer: the layer reads the same clock.
    let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let mut inner = Inner::new(content(100));
    inner.headers.insert(LAST_MODIFIED, future.parse().unwrap());
    assert_eq!(
        status_for(inner, &future).await.0,
        200,
        "modified in the future"
    );
    // Modified in the very second the response goes out: weak. The reply's `Date`,
    // written by hyper after the layer decided, tells which second that was.
    for _ in 0..5 {
        let now = httpdate::fmt_http_date(SystemTime::now());
        let mut inner = Inner::new(content(100));
        inner.headers.insert(LAST_MODIFIED, now.parse().unwrap());
        let addr = serve_ranged(RangeLayer::new(), inner).await;
        let reply = get(addr, &[("Range", "bytes=0-9"), ("If-Range", &now)]).await;
        if reply.header("date") == Some(now.as_str()) {
            assert_eq!(reply.status, 200, "sent in the second of Last-Modified");
            return;
        }
    }
    panic!("five requests in a row crossed a second");
}

#[tokio::test]
async fn date_is_compared_with_last_modified_and_a_tag_with_the_etag() {
    let both = || {
        Inner::new(content(100))
            .header(ETAG, "\"v1\"")
            .header(LAST_MODIFIED, DATE)
    };
    assert_eq!(status_for(both(), DATE).await.0, 206);
    assert_eq!(status_for(both(), "\"v1\"").await.0, 206);
    let date_only = Inner::new(content(100)).header(LAST_MODIFIED, DATE);
    assert_eq!(status_for(date_only, "\"v1\"").await.0, 200);
    let tag_only = tagged("\"v1\"");
    assert_eq!(status_for(tag_only, DATE).await.0, 200);
}

#[tokio::test]
async fn an_invalid_if_range_gets_the_whole_200() {
    // §13.1.5: a condition that is neither a valid entity-tag nor an HTTP-date is
    // never true, so the Range is ignored.
    for invalid in [
        "v1",
        "\"v1",
        "\"v1\" \"v1\"",
        "\"v1\", \"v1\"",
        "*",
        "",
        "06 Nov 1994",
    ] {
        let (status, body) = status_for(tagged("\"v1\""), invalid).await;
        assert_eq!(status, 200, "If-Range: {invalid:?}");
        assert_eq!(body, content(100));
    }
}

#[tokio::test]
async fn an_if_range_sent_twice_gets_the_whole_200() {
    // A singleton field on two lines has no valid value, even when both agree.
    let addr = serve_ranged(RangeLayer::new(), tagged("\"v1\"")).await;
    let reply = get(
        addr,
        &[
            ("Range", "bytes=0-9"),
            ("If-Range", "\"v1\""),
            ("If-Range", "\"v1\""),
        ],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(100));
}

#[tokio::test]
async fn a_true_if_range_serves_several_ranges_and_refuses_unsatisfiable_ones() {
    let addr = serve_ranged(RangeLayer::new(), tagged("\"v1\"")).await;
    // Farther apart than the layer's coalescing gap.
    let reply = get(
        addr,
        &[("Range", "bytes=0-9,95-99"), ("If-Range", "\"v1\"")],
    )
    .await;
    assert_eq!(reply.status, 206);
    let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].1, &content(100)[..10]);
    assert_eq!(parts[1].1, &content(100)[95..]);
    let reply = get(addr, &[("Range", "bytes=500-"), ("If-Range", "\"v1\"")]).await;
    assert_eq!(reply.status, 416);
    assert_eq!(reply.header("content-range"), Some("bytes */100"));
}

#[tokio::test]
async fn the_inner_service_sees_neither_if_range_nor_the_range_it_guards() {
    // An inner service that answers ranges itself but ignores If-Range (ServeDir)
    // must not get the chance to send a range the condition refused.
    let inner = tagged("\"v2\"");
    let seen = inner.seen.clone();
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    let reply = get(addr, &[("Range", "bytes=0-9"), ("If-Range", "\"v1\"")]).await;
    assert_eq!(reply.status, 200);
    let seen = seen.lock().unwrap();
    assert!(!seen[0].contains_key("if-range"));
    assert!(!seen[0].contains_key("range"));
}
