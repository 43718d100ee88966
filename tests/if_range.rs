//! `If-Range` (RFC 9110 §13.1.5) over real TCP.

mod support;

use http::header::{ETAG, LAST_MODIFIED};
use support::{content, get, serve_ranged, Inner};
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
