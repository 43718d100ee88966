//! `416 Range Not Satisfiable` over real TCP.

mod support;

use http::header::{CONTENT_TYPE, ETAG};
use support::{content, get, serve_ranged, Inner};
use tower_range::{OverLimit, RangeLayer};

const LEN: usize = 1000;

async fn assert_416(layer: RangeLayer, inner: Inner, range: &str) {
    let probe = inner.probe.clone();
    let addr = serve_ranged(layer, inner).await;
    let reply = get(addr, &[("Range", range)]).await;
    assert_eq!(reply.status, 416, "{range}: {:?}", reply.headers);
    assert_eq!(reply.header("content-range"), Some("bytes */1000"));
    assert_eq!(reply.content_length(), Some(0));
    assert!(reply.complete && reply.body.is_empty());
    assert_eq!(probe.bytes(), 0, "the inner body is dropped unread");
    assert!(probe.dropped(), "the inner body is dropped");
}

#[tokio::test]
async fn range_starting_at_the_length_is_416() {
    assert_416(RangeLayer::new(), Inner::new(content(LEN)), "bytes=1000-").await;
    assert_416(
        RangeLayer::new(),
        Inner::new(content(LEN)),
        "bytes=1000-2000",
    )
    .await;
}

#[tokio::test]
async fn zero_suffix_is_416() {
    assert_416(RangeLayer::new(), Inner::new(content(LEN)), "bytes=-0").await;
}

#[tokio::test]
async fn first_position_beyond_u64_is_416() {
    let range = "bytes=999999999999999999999999999999-";
    assert_416(RangeLayer::new(), Inner::new(content(LEN)), range).await;
}

#[tokio::test]
async fn every_member_unsatisfiable_is_416() {
    assert_416(
        RangeLayer::new(),
        Inner::new(content(LEN)),
        "bytes=5000-,-0,1000-1001",
    )
    .await;
}

#[tokio::test]
async fn representation_headers_that_describe_the_body_are_dropped() {
    let inner = Inner::new(content(LEN))
        .header(CONTENT_TYPE, "video/mp4")
        .header(ETAG, "\"v1\"");
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    let reply = get(addr, &[("Range", "bytes=2000-")]).await;
    assert_eq!(reply.status, 416);
    assert_eq!(
        reply.header("content-type"),
        None,
        "the empty body is not video"
    );
    assert_eq!(reply.header("etag"), Some("\"v1\""), "validators stay");
}

#[tokio::test]
async fn over_limit_reject_policy_answers_416() {
    let layer = RangeLayer::new()
        .max_ranges(2)
        .over_limit(OverLimit::Reject);
    assert_416(layer, Inner::new(content(LEN)), "bytes=0-1,3-4,6-7").await;
    let layer = RangeLayer::new().over_limit(OverLimit::Reject);
    assert_416(layer, Inner::new(content(LEN)), "bytes=0-,0-").await;
}
