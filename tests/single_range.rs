//! One range over real TCP: which requests and responses are ranged, and how.

mod support;

use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, LAST_MODIFIED,
};
use http::StatusCode;
use support::{content, get, request, serve_ranged, Inner};
use tower_range::RangeLayer;

const LEN: usize = 10_000;

async fn ranged(inner: Inner, range: &str) -> support::Reply {
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    get(addr, &[("Range", range)]).await
}

fn assert_partial(reply: &support::Reply, data: &[u8], first: usize, last: usize) {
    assert_eq!(reply.status, 206, "headers: {:?}", reply.headers);
    let expected = format!("bytes {first}-{last}/{}", data.len());
    assert_eq!(reply.header("content-range"), Some(expected.as_str()));
    assert_eq!(reply.content_length(), Some((last - first + 1) as u64));
    assert!(reply.complete);
    assert_eq!(
        reply.body,
        &data[first..=last],
        "body must equal the source slice"
    );
}

fn assert_full(reply: &support::Reply, data: &[u8]) {
    assert_eq!(reply.status, 200, "headers: {:?}", reply.headers);
    assert_eq!(reply.header("content-range"), None);
    assert!(reply.complete);
    assert_eq!(reply.body, data, "body must be the whole source");
}

#[tokio::test]
async fn range_gets_206_with_exact_slice() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()).chunk(333), "bytes=100-2099").await;
    assert_partial(&reply, &data, 100, 2099);
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
}

#[tokio::test]
async fn open_ended_range_runs_to_the_end() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()).chunk(1000), "bytes=9000-").await;
    assert_partial(&reply, &data, 9000, LEN - 1);
}

#[tokio::test]
async fn suffix_range_sends_the_tail() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()).chunk(64), "bytes=-500").await;
    assert_partial(&reply, &data, LEN - 500, LEN - 1);
}

#[tokio::test]
async fn suffix_range_longer_than_body_is_the_whole_body_as_206() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()), "bytes=-20000").await;
    assert_partial(&reply, &data, 0, LEN - 1);
}

#[tokio::test]
async fn end_past_the_last_byte_is_clamped() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()), "bytes=9990-20000").await;
    assert_partial(&reply, &data, 9990, LEN - 1);
}

#[tokio::test]
async fn last_position_beyond_u64_means_to_the_end() {
    let data = content(LEN);
    let reply = ranged(
        Inner::new(data.clone()),
        "bytes=5-99999999999999999999999999",
    )
    .await;
    assert_partial(&reply, &data, 5, LEN - 1);
}

#[tokio::test]
async fn single_byte_ranges_at_both_ends() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()).chunk(1), "bytes=0-0").await;
    assert_partial(&reply, &data, 0, 0);
    let reply = ranged(Inner::new(data.clone()).chunk(7), "bytes=9999-9999").await;
    assert_partial(&reply, &data, LEN - 1, LEN - 1);
}

#[tokio::test]
async fn unit_is_case_insensitive_and_list_noise_is_skipped() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()), "BYTES=, 10-19 ,").await;
    assert_partial(&reply, &data, 10, 19);
}

#[tokio::test]
async fn representation_headers_are_kept_on_206() {
    let data = content(LEN);
    let inner = Inner::new(data.clone())
        .header(CONTENT_TYPE, "video/mp4")
        .header(ETAG, "\"v1\"")
        .header(LAST_MODIFIED, "Sun, 06 Nov 1994 08:49:37 GMT")
        .header(CACHE_CONTROL, "max-age=60")
        .header(CONTENT_ENCODING, "gzip");
    let reply = ranged(inner, "bytes=1-2").await;
    assert_partial(&reply, &data, 1, 2);
    assert_eq!(reply.header("content-type"), Some("video/mp4"));
    assert_eq!(reply.header("etag"), Some("\"v1\""));
    assert_eq!(
        reply.header("last-modified"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT")
    );
    assert_eq!(reply.header("cache-control"), Some("max-age=60"));
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn content_length_header_is_used_when_the_body_size_is_unknown() {
    let data = content(LEN);
    let inner = Inner::new(data.clone())
        .unknown_size()
        .header(CONTENT_LENGTH, "10000");
    let reply = ranged(inner, "bytes=10-19").await;
    assert_partial(&reply, &data, 10, 19);
}

#[tokio::test]
async fn invalid_range_headers_are_ignored() {
    let data = content(LEN);
    for range in [
        "bytes=5-3",
        "bytes=abc",
        "items=0-1",
        "bytes=",
        "bytes=1-2-3",
        "bytes 0-1",
        "bytes=0-1,9-5",
    ] {
        let reply = ranged(Inner::new(data.clone()), range).await;
        assert_full(&reply, &data);
        assert_eq!(reply.header("accept-ranges"), Some("bytes"), "{range}");
    }
}

#[tokio::test]
async fn non_utf8_range_is_ignored() {
    let data = content(LEN);
    let addr = serve_ranged(RangeLayer::new(), Inner::new(data.clone())).await;
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nRange: bytes=\xff\xfe-1\r\n\r\n";
    let reply = support::send_raw(addr, raw, false).await;
    assert_full(&reply, &data);
}

#[tokio::test]
async fn two_range_headers_are_ignored() {
    let data = content(LEN);
    let addr = serve_ranged(RangeLayer::new(), Inner::new(data.clone())).await;
    let reply = get(addr, &[("Range", "bytes=0-1"), ("Range", "bytes=2-3")]).await;
    assert_full(&reply, &data);
}

#[tokio::test]
async fn only_get_and_head_are_ranged() {
    let data = content(LEN);
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"] {
        let inner = Inner::new(data.clone());
        let seen = inner.seen.clone();
        let addr = serve_ranged(RangeLayer::new(), inner).await;
        let reply = request(
            addr,
            method,
            &[("Range", "bytes=0-1"), ("Content-Length", "0")],
        )
        .await;
        assert_full(&reply, &data);
        assert_eq!(reply.header("accept-ranges"), None, "{method} is untouched");
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0].get("range").map(|v| v.to_str().unwrap()),
            Some("bytes=0-1"),
            "{method} reaches the inner service unchanged"
        );
    }
}

#[tokio::test]
async fn inner_service_never_sees_range_or_if_range_of_a_get() {
    let inner = Inner::new(content(100));
    let seen = inner.seen.clone();
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    let reply = get(addr, &[("Range", "bytes=0-1"), ("If-Range", "\"x\"")]).await;
    assert_eq!(reply.status, 200, "If-Range does not match: whole body");
    let seen = seen.lock().unwrap();
    assert!(!seen[0].contains_key("range"));
    assert!(!seen[0].contains_key("if-range"));
}

#[tokio::test]
async fn non_200_responses_pass_through_untouched() {
    let data = content(LEN);
    for status in [
        StatusCode::CREATED,
        StatusCode::NOT_FOUND,
        StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        let reply = ranged(Inner::new(data.clone()).status(status), "bytes=0-1").await;
        assert_eq!(reply.status, status.as_u16());
        assert_eq!(reply.body, data, "{status} keeps its whole body");
        assert_eq!(reply.header("accept-ranges"), None);
        assert_eq!(reply.header("content-range"), None);
    }
}

#[tokio::test]
async fn inner_206_to_a_request_not_handed_a_range_passes_through_untouched() {
    let data = content(LEN);
    let inner = Inner::new(data.clone()).status(StatusCode::PARTIAL_CONTENT);
    let reply = ranged(inner, "bytes=0-1,5-6").await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, data);
    assert_eq!(reply.header("accept-ranges"), None);
}

#[tokio::test]
async fn single_range_is_handed_on_in_canonical_form() {
    for (sent, seen) in [
        ("BYTES= 1-2 ,", Some("bytes=1-2")),
        (
            "bytes=-99999999999999999999999",
            Some("bytes=-18446744073709551615"),
        ),
        ("bytes=0-1,5-6", None),
        ("bytes=5-1", None),
    ] {
        let inner = Inner::new(content(100));
        let log = inner.seen.clone();
        let addr = serve_ranged(RangeLayer::new(), inner).await;
        get(addr, &[("Range", sent)]).await;
        let log = log.lock().unwrap();
        let range = log[0].get("range").map(|v| v.to_str().unwrap());
        assert_eq!(range, seen, "{sent}");
    }
}

#[tokio::test]
async fn inner_answer_to_the_handed_range_goes_out_when_it_agrees() {
    let data = content(LEN);
    let inner = Inner::new(data.slice(100..200))
        .status(StatusCode::PARTIAL_CONTENT)
        .header(CONTENT_RANGE, "bytes 100-199/10000");
    let reply = ranged(inner, "bytes=100-199").await;
    assert_partial(&reply, &data, 100, 199);
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));

    let inner = Inner::new(bytes::Bytes::new())
        .status(StatusCode::RANGE_NOT_SATISFIABLE)
        .header(CONTENT_RANGE, "bytes */10000");
    let reply = ranged(inner, "bytes=20000-").await;
    assert_eq!(reply.status, 416);
}

#[tokio::test]
async fn inner_206_to_the_handed_range_with_other_bytes_is_502() {
    let data = content(LEN);
    for (status, content_range, range) in [
        (
            StatusCode::PARTIAL_CONTENT,
            "bytes 100-198/10000",
            "bytes=100-199",
        ),
        (
            StatusCode::PARTIAL_CONTENT,
            "bytes 0-99/10000",
            "bytes=-100",
        ),
        (StatusCode::PARTIAL_CONTENT, "garbage", "bytes=0-"),
    ] {
        let inner = Inner::new(data.slice(100..199))
            .status(status)
            .header(CONTENT_RANGE, content_range);
        let reply = ranged(inner, range).await;
        assert_eq!(reply.status, 502, "{content_range} for {range}");
        assert!(reply.body.is_empty() && reply.complete);
        assert_eq!(reply.header("content-range"), None);
    }
}

#[tokio::test]
async fn not_modified_passes_through_untouched() {
    let inner = Inner::new(bytes::Bytes::new()).status(StatusCode::NOT_MODIFIED);
    let reply = ranged(inner, "bytes=0-1").await;
    assert_eq!(reply.status, 304);
    assert_eq!(reply.header("accept-ranges"), None);
}

#[tokio::test]
async fn inner_content_range_passes_through_untouched() {
    let data = content(LEN);
    let inner = Inner::new(data.clone()).header(CONTENT_RANGE, "bytes 0-9999/20000");
    let reply = ranged(inner, "bytes=0-1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-range"), Some("bytes 0-9999/20000"));
    assert_eq!(reply.body, data);
}

#[tokio::test]
async fn accept_ranges_none_passes_through_untouched() {
    let data = content(LEN);
    let inner = Inner::new(data.clone()).header(ACCEPT_RANGES, "none");
    let reply = ranged(inner, "bytes=0-1").await;
    assert_full(&reply, &data);
    assert_eq!(reply.header("accept-ranges"), Some("none"));
}

#[tokio::test]
async fn unknown_length_passes_through_untouched() {
    let data = content(LEN);
    let reply = ranged(Inner::new(data.clone()).unknown_size(), "bytes=0-1").await;
    assert_full(&reply, &data);
    assert_eq!(reply.header("accept-ranges"), None);
}

#[tokio::test]
async fn content_length_disagreeing_with_the_body_passes_through_untouched() {
    let inner = Inner::new(content(LEN)).header(CONTENT_LENGTH, "20000");
    let layer = RangeLayer::new();
    let svc = tower::Layer::layer(&layer, inner);
    let req = http::Request::get("/")
        .header("range", "bytes=0-1")
        .body(())
        .unwrap();
    let res = tower::ServiceExt::oneshot(svc, req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key(ACCEPT_RANGES));
}

#[tokio::test]
async fn empty_representation_is_200_never_an_invalid_content_range() {
    let reply = ranged(Inner::new(bytes::Bytes::new()), "bytes=0-0").await;
    assert_full(&reply, b"");
    assert_eq!(reply.content_length(), Some(0));
    let reply = ranged(Inner::new(bytes::Bytes::new()), "bytes=-5").await;
    assert_full(&reply, b"");
}

#[tokio::test]
async fn accept_ranges_is_advertised_on_200() {
    let data = content(LEN);
    let addr = serve_ranged(RangeLayer::new(), Inner::new(data.clone())).await;
    let reply = get(addr, &[]).await;
    assert_full(&reply, &data);
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
}

#[tokio::test]
async fn accept_ranges_can_be_turned_off() {
    let data = content(LEN);
    let addr = serve_ranged(
        RangeLayer::new().accept_ranges(false),
        Inner::new(data.clone()),
    )
    .await;
    let reply = get(addr, &[]).await;
    assert_eq!(reply.header("accept-ranges"), None);
    let reply = get(addr, &[("Range", "bytes=0-1")]).await;
    assert_partial(&reply, &data, 0, 1);
    assert_eq!(reply.header("accept-ranges"), None);
}

#[tokio::test]
async fn head_with_range_gets_the_206_headers_and_no_body() {
    let data = content(LEN);
    for inner in [
        Inner::new(data.clone()),
        Inner::new(data.clone()).empty_head(),
    ] {
        let addr = serve_ranged(RangeLayer::new(), inner).await;
        let reply = request(addr, "HEAD", &[("Range", "bytes=100-199")]).await;
        assert_eq!(reply.status, 206);
        assert_eq!(reply.header("content-range"), Some("bytes 100-199/10000"));
        assert_eq!(reply.content_length(), Some(100));
        assert_eq!(reply.header("accept-ranges"), Some("bytes"));
        assert!(reply.complete && reply.body.is_empty(), "HEAD has no body");
    }
}

#[tokio::test]
async fn head_with_unsatisfiable_range_gets_416_headers() {
    let data = content(LEN);
    let addr = serve_ranged(RangeLayer::new(), Inner::new(data.clone()).empty_head()).await;
    let reply = request(addr, "HEAD", &[("Range", "bytes=20000-")]).await;
    assert_eq!(reply.status, 416);
    assert_eq!(reply.header("content-range"), Some("bytes */10000"));
}

#[tokio::test]
async fn head_without_range_keeps_the_full_length() {
    let addr = serve_ranged(RangeLayer::new(), Inner::new(content(LEN)).empty_head()).await;
    let reply = request(addr, "HEAD", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_length(), Some(LEN as u64));
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
}
