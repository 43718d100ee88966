//! Preconditions (RFC 9110 §13.1.1–13.1.4, in the order of §13.2.2) over real TCP, for
//! an inner service that evaluates none of them.

mod support;

use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LOCATION, CONTENT_TYPE, DATE, ETAG,
    EXPIRES, LAST_MODIFIED, VARY,
};
use http::StatusCode;
use support::{content, get, request, serve_ranged, Inner, Reply};
use tower_range::RangeLayer;

const LEN: usize = 1000;
const TAG: &str = "\"v1\"";
/// The inner representation's `Last-Modified`, and the same instant in the other two
/// HTTP-date formats.
const MODIFIED: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const MODIFIED_RFC850: &str = "Sunday, 06-Nov-94 08:49:37 GMT";
const MODIFIED_ASCTIME: &str = "Sun Nov  6 08:49:37 1994";
const EARLIER: &str = "Sat, 05 Nov 1994 08:49:37 GMT";
const LATER: &str = "Mon, 07 Nov 1994 08:49:37 GMT";

/// A range-unaware inner service with a strong `ETag`, a `Last-Modified`, and the
/// fields a `304` must keep or drop.
fn inner() -> Inner {
    Inner::new(content(LEN))
        .header(ETAG, TAG)
        .header(LAST_MODIFIED, MODIFIED)
        .header(CONTENT_TYPE, "video/mp4")
        .header(CONTENT_LANGUAGE, "en")
        .header(CACHE_CONTROL, "max-age=60")
        .header(EXPIRES, "Thu, 01 Dec 2094 16:00:00 GMT")
        .header(VARY, "Accept-Encoding")
        .header(CONTENT_LOCATION, "/clip.mp4")
        .header(DATE, "Tue, 01 Dec 2026 10:00:00 GMT")
}

/// Sends a `GET` with `headers` to `inner` in the default layer.
async fn send(inner: Inner, headers: &[(&str, &str)]) -> Reply {
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    get(addr, headers).await
}

async fn status(headers: &[(&str, &str)]) -> u16 {
    send(inner(), headers).await.status
}

fn assert_not_modified(reply: &Reply) {
    assert_eq!(reply.status, 304, "{:?}", reply.headers);
    assert!(
        reply.complete && reply.body.is_empty(),
        "a 304 has no content"
    );
    for (name, value) in [
        ("etag", TAG),
        ("last-modified", MODIFIED),
        ("cache-control", "max-age=60"),
        ("expires", "Thu, 01 Dec 2094 16:00:00 GMT"),
        ("vary", "Accept-Encoding"),
        ("content-location", "/clip.mp4"),
        ("date", "Tue, 01 Dec 2026 10:00:00 GMT"),
    ] {
        assert_eq!(reply.header(name), Some(value), "a 304 keeps {name}");
    }
    for name in [
        "content-length",
        "content-type",
        "content-language",
        "content-range",
        "accept-ranges",
        "transfer-encoding",
    ] {
        assert_eq!(reply.header(name), None, "a 304 drops {name}");
    }
}

fn assert_failed(reply: &Reply) {
    assert_eq!(reply.status, 412, "{:?}", reply.headers);
    assert_eq!(reply.content_length(), Some(0));
    assert!(reply.complete && reply.body.is_empty());
    for name in ["content-type", "content-range", "accept-ranges"] {
        assert_eq!(reply.header(name), None, "a 412 drops {name}");
    }
}

fn assert_first_ten(reply: &Reply) {
    assert_eq!(reply.status, 206, "{:?}", reply.headers);
    assert_eq!(reply.header("content-range"), Some("bytes 0-9/1000"));
    assert!(reply.complete);
    assert_eq!(reply.body, &content(LEN)[..10]);
}

#[tokio::test]
async fn if_match_naming_the_representation_is_served() {
    for if_match in [TAG, "\"v0\", \"v1\"", "*", " \"v1\" ,"] {
        let reply = send(inner(), &[("If-Match", if_match), ("Range", "bytes=0-9")]).await;
        assert_first_ten(&reply);
        let reply = send(inner(), &[("If-Match", if_match)]).await;
        assert_eq!(reply.status, 200, "If-Match: {if_match}");
        assert_eq!(reply.body, content(LEN));
    }
}

#[tokio::test]
async fn if_match_not_naming_the_representation_is_412() {
    let weak = Inner::new(content(LEN)).header(ETAG, "W/\"v1\"");
    let no_etag = Inner::new(content(LEN));
    for (inner, if_match) in [
        (inner(), "\"other\""),
        (inner(), "W/\"v1\""),
        (weak, "W/\"v1\""),
        (no_etag, "\"v1\""),
        (inner(), "\"v1\" junk"),
        (inner(), "v1"),
        (inner(), "*, \"v1\""),
    ] {
        let probe = inner.probe.clone();
        let reply = send(inner, &[("If-Match", if_match), ("Range", "bytes=0-4")]).await;
        assert_failed(&reply);
        assert_eq!(probe.polls(), 0, "the inner body is dropped unread");
    }
}

#[tokio::test]
async fn if_unmodified_since_before_last_modified_is_412() {
    let reply = send(
        inner(),
        &[("If-Unmodified-Since", EARLIER), ("Range", "bytes=0-4")],
    )
    .await;
    assert_failed(&reply);
    for since in [MODIFIED, MODIFIED_RFC850, MODIFIED_ASCTIME, LATER] {
        let reply = send(
            inner(),
            &[("If-Unmodified-Since", since), ("Range", "bytes=0-9")],
        )
        .await;
        assert_first_ten(&reply);
    }
}

#[tokio::test]
async fn if_unmodified_since_is_ignored_when_it_cannot_be_evaluated() {
    // Not a date; no Last-Modified; beside If-Match, which decides alone.
    assert_eq!(status(&[("If-Unmodified-Since", "yesterday")]).await, 200);
    assert_eq!(status(&[("If-Unmodified-Since", "1994-11-05")]).await, 200);
    let undated = Inner::new(content(LEN)).header(ETAG, TAG);
    assert_eq!(
        send(undated, &[("If-Unmodified-Since", EARLIER)])
            .await
            .status,
        200
    );
    assert_eq!(
        status(&[("If-Match", TAG), ("If-Unmodified-Since", EARLIER)]).await,
        200
    );
}

#[tokio::test]
async fn if_none_match_naming_the_representation_is_304() {
    let weak = || Inner::new(content(LEN)).header(ETAG, "W/\"v1\"");
    for if_none_match in [TAG, "\"other\", W/\"v1\"", "W/\"v1\"", "*"] {
        let inner = inner();
        let probe = inner.probe.clone();
        let reply = send(
            inner,
            &[("If-None-Match", if_none_match), ("Range", "bytes=0-4")],
        )
        .await;
        assert_not_modified(&reply);
        assert_eq!(probe.polls(), 0, "the inner body is dropped unread");
    }
    assert_eq!(send(weak(), &[("If-None-Match", TAG)]).await.status, 304);
    assert_eq!(send(weak(), &[("If-None-Match", "*")]).await.status, 304);
}

#[tokio::test]
async fn if_none_match_not_naming_the_representation_is_served() {
    for if_none_match in ["\"other\"", "\"v1\" junk", "v1", "\"v2\", \"v3\"", ""] {
        let reply = send(
            inner(),
            &[("If-None-Match", if_none_match), ("Range", "bytes=0-9")],
        )
        .await;
        assert_first_ten(&reply);
    }
    let no_etag = Inner::new(content(LEN)).header(LAST_MODIFIED, MODIFIED);
    assert_eq!(send(no_etag, &[("If-None-Match", TAG)]).await.status, 200);
}

#[tokio::test]
async fn if_modified_since_at_or_after_last_modified_is_304() {
    for since in [MODIFIED, MODIFIED_RFC850, MODIFIED_ASCTIME, LATER] {
        let reply = send(
            inner(),
            &[("If-Modified-Since", since), ("Range", "bytes=0-4")],
        )
        .await;
        assert_not_modified(&reply);
    }
    let reply = send(
        inner(),
        &[("If-Modified-Since", EARLIER), ("Range", "bytes=0-9")],
    )
    .await;
    assert_first_ten(&reply);
}

#[tokio::test]
async fn if_modified_since_is_ignored_when_it_cannot_be_evaluated() {
    assert_eq!(status(&[("If-Modified-Since", "tomorrow")]).await, 200);
    assert_eq!(
        status(&[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 UTC")]).await,
        200
    );
    // Two dates are not one valid HTTP-date.
    let twice = format!("GET /file HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIf-Modified-Since: {MODIFIED}\r\nIf-Modified-Since: {MODIFIED}\r\n\r\n");
    let addr = serve_ranged(RangeLayer::new(), inner()).await;
    assert_eq!(
        support::send_raw(addr, twice.as_bytes(), false)
            .await
            .status,
        200
    );
    let undated = Inner::new(content(LEN)).header(ETAG, TAG);
    assert_eq!(
        send(undated, &[("If-Modified-Since", LATER)]).await.status,
        200
    );
    // RFC 9110 §13.1.3: If-None-Match, even one that does not match, decides alone.
    assert_eq!(
        status(&[("If-None-Match", "\"other\""), ("If-Modified-Since", LATER)]).await,
        200
    );
}

#[tokio::test]
async fn preconditions_are_evaluated_in_the_rfc_order() {
    // Steps 1 and 2 (412) come before steps 3 and 4 (304), which come before Range.
    let reply = send(
        inner(),
        &[("If-Match", "\"other\""), ("If-None-Match", TAG)],
    )
    .await;
    assert_failed(&reply);
    let reply = send(
        inner(),
        &[
            ("If-Unmodified-Since", EARLIER),
            ("If-Modified-Since", MODIFIED),
        ],
    )
    .await;
    assert_failed(&reply);
    let reply = send(inner(), &[("If-Match", TAG), ("If-None-Match", TAG)]).await;
    assert_not_modified(&reply);
    // A 304 or 412 beats an unsatisfiable range's 416, and a failed If-Range.
    let reply = send(inner(), &[("If-None-Match", TAG), ("Range", "bytes=5000-")]).await;
    assert_not_modified(&reply);
    let reply = send(
        inner(),
        &[("If-Match", "\"other\""), ("Range", "bytes=5000-")],
    )
    .await;
    assert_failed(&reply);
    let reply = send(
        inner(),
        &[
            ("If-Modified-Since", MODIFIED),
            ("If-Range", "\"stale\""),
            ("Range", "bytes=0-4"),
        ],
    )
    .await;
    assert_not_modified(&reply);
}

#[tokio::test]
async fn head_gets_the_status_and_headers_get_gets() {
    for headers in [
        &[("If-None-Match", TAG)][..],
        &[("If-Match", "\"other\"")],
        &[("If-Modified-Since", MODIFIED), ("Range", "bytes=0-4")],
        &[("If-None-Match", "\"other\""), ("Range", "bytes=0-4")],
    ] {
        let addr = serve_ranged(RangeLayer::new(), inner()).await;
        let get = get(addr, headers).await;
        for inner in [inner(), inner().empty_head()] {
            let addr = serve_ranged(RangeLayer::new(), inner).await;
            let head = request(addr, "HEAD", headers).await;
            assert_eq!(head.status, get.status, "{headers:?}");
            let sorted = |reply: &Reply| {
                let mut fields = reply.headers.clone();
                fields.sort();
                fields
            };
            assert_eq!(sorted(&head), sorted(&get), "{headers:?}");
            assert!(head.body.is_empty() && head.complete);
        }
    }
}

#[tokio::test]
async fn the_inner_service_never_sees_the_preconditions() {
    let inner = inner();
    let seen = inner.seen.clone();
    let addr = serve_ranged(RangeLayer::new(), inner).await;
    let reply = get(
        addr,
        &[
            ("If-Match", TAG),
            ("If-Unmodified-Since", MODIFIED),
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", EARLIER),
        ],
    )
    .await;
    assert_eq!(reply.status, 200);
    let seen = seen.lock().unwrap();
    for name in [
        "if-match",
        "if-unmodified-since",
        "if-none-match",
        "if-modified-since",
    ] {
        assert!(!seen[0].contains_key(name), "the inner service saw {name}");
    }
}

#[tokio::test]
async fn preconditions_can_be_left_to_the_inner_service() {
    let inner = inner();
    let seen = inner.seen.clone();
    let addr = serve_ranged(RangeLayer::new().preconditions(false), inner).await;
    let reply = get(addr, &[("If-None-Match", TAG), ("Range", "bytes=0-9")]).await;
    assert_first_ten(&reply);
    assert_eq!(seen.lock().unwrap()[0]["if-none-match"], TAG);
    let reply = get(addr, &[("If-Match", "\"other\"")]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn only_2xx_inner_responses_are_subject_to_preconditions() {
    for status in [
        StatusCode::NOT_FOUND,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::NOT_MODIFIED,
        StatusCode::PRECONDITION_FAILED,
    ] {
        let reply = send(inner().status(status), &[("If-Match", "\"other\"")]).await;
        assert_eq!(reply.status, status.as_u16(), "untouched");
        let reply = send(inner().status(status), &[("If-None-Match", TAG)]).await;
        assert_eq!(reply.status, status.as_u16(), "untouched");
    }
    // An inner 304 goes out as it is, with the headers the inner service chose.
    let inner = Inner::new(bytes::Bytes::new())
        .status(StatusCode::NOT_MODIFIED)
        .header(ETAG, TAG)
        .header(CONTENT_ENCODING, "gzip");
    let reply = send(inner, &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(reply.status, 304);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
}

#[tokio::test]
async fn other_methods_keep_their_preconditions() {
    for method in ["POST", "PUT", "DELETE"] {
        let inner = inner();
        let seen = inner.seen.clone();
        let addr = serve_ranged(RangeLayer::new(), inner).await;
        let reply = request(addr, method, &[("If-Match", "\"other\"")]).await;
        assert_eq!(
            reply.status, 200,
            "{method} is the inner service's to check"
        );
        assert_eq!(seen.lock().unwrap()[0]["if-match"], "\"other\"");
    }
}

#[tokio::test]
async fn inner_answer_to_the_handed_range_is_subject_to_preconditions() {
    let data = content(LEN);
    let answer = || {
        Inner::new(data.slice(0..5))
            .status(StatusCode::PARTIAL_CONTENT)
            .header(http::header::CONTENT_RANGE, "bytes 0-4/1000")
            .header(ETAG, TAG)
    };
    let reply = send(answer(), &[("If-None-Match", TAG), ("Range", "bytes=0-4")]).await;
    assert_eq!(reply.status, 304);
    let reply = send(answer(), &[("If-Match", "\"v0\""), ("Range", "bytes=0-4")]).await;
    assert_failed(&reply);
    let reply = send(answer(), &[("If-Match", TAG), ("Range", "bytes=0-4")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, &data[..5]);
}
