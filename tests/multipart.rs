//! Several ranges: `multipart/byteranges` (RFC 9110 §14.6), coalescing and limits, over
//! real TCP, parsed with an independent reader.

mod support;

use http::header::{CONTENT_ENCODING, CONTENT_TYPE, ETAG};
use support::{content, get, parse_multipart, request, serve_ranged, Inner, Reply};
use tower_range::RangeLayer;

const LEN: usize = 10_000;

fn video() -> Inner {
    Inner::new(content(LEN))
        .chunk(777)
        .header(CONTENT_TYPE, "video/mp4")
}

/// Checks a multipart reply against the source, part by part, and returns the ranges
/// of its parts in the order they came.
fn assert_parts(reply: &Reply, source: &[u8], content_type: Option<&str>) -> Vec<(usize, usize)> {
    assert_eq!(reply.status, 206, "headers: {:?}", reply.headers);
    assert!(reply.complete);
    assert_eq!(reply.content_length(), Some(reply.body.len() as u64));
    assert_eq!(reply.header("content-range"), None, "ranges are per part");
    let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    parts
        .iter()
        .map(|(headers, bytes)| {
            let find = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(find("content-type"), content_type);
            let cr = find("content-range").unwrap();
            let (span, total) = cr.strip_prefix("bytes ").unwrap().split_once('/').unwrap();
            assert_eq!(total.parse::<usize>().unwrap(), source.len());
            let (a, b) = span.split_once('-').unwrap();
            let (a, b) = (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap());
            assert_eq!(
                bytes.as_slice(),
                &source[a..=b],
                "part {a}-{b} must equal the source"
            );
            (a, b)
        })
        .collect()
}

#[tokio::test]
async fn two_ranges_get_multipart_byteranges() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=0-99,200-299")]).await;
    let parts = assert_parts(&reply, &content(LEN), Some("video/mp4"));
    assert_eq!(parts, [(0, 99), (200, 299)]);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("multipart/byteranges; boundary="));
    assert_eq!(reply.header("accept-ranges"), Some("bytes"));
}

#[tokio::test]
async fn parts_without_a_content_type_have_none() {
    let addr = serve_ranged(RangeLayer::new(), Inner::new(content(LEN))).await;
    let reply = get(addr, &[("Range", "bytes=0-0,-1,5000-5009")]).await;
    let parts = assert_parts(&reply, &content(LEN), None);
    assert_eq!(parts, [(0, 0), (5000, 5009), (9999, 9999)]);
}

#[tokio::test]
async fn parts_go_out_in_one_ascending_pass_over_a_forward_only_body() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=9000-9099,-10,100-199")]).await;
    let parts = assert_parts(&reply, &content(LEN), Some("video/mp4"));
    assert_eq!(parts, [(100, 199), (9000, 9099), (9990, 9999)]);
}

#[tokio::test]
async fn unsatisfiable_members_are_dropped() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=0-9,20000-,500-509")]).await;
    assert_eq!(
        assert_parts(&reply, &content(LEN), Some("video/mp4")),
        [(0, 9), (500, 509)]
    );
}

#[tokio::test]
async fn one_range_left_is_a_plain_206() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=20000-,10-19")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("content-range"), Some("bytes 10-19/10000"));
    assert_eq!(reply.header("content-type"), Some("video/mp4"));
    assert_eq!(reply.body, &content(LEN)[10..20]);
}

#[tokio::test]
async fn overlapping_ranges_are_coalesced() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=0-99,50-149,140-199")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("content-range"), Some("bytes 0-199/10000"));
    assert_eq!(reply.body, &content(LEN)[..200]);
}

#[tokio::test]
async fn ranges_closer_than_a_parts_framing_are_coalesced() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=0-9,20-29,1000-1009")]).await;
    let parts = assert_parts(&reply, &content(LEN), Some("video/mp4"));
    assert_eq!(parts, [(0, 29), (1000, 1009)]);
}

#[tokio::test]
async fn multipart_response_is_never_larger_than_the_representation_plus_framing() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    // Sixty tiny overlapping ranges collapse into one.
    let set: Vec<String> = (0..60)
        .map(|i| format!("{}-{}", i * 10, i * 10 + 15))
        .collect();
    let reply = get(addr, &[("Range", &format!("bytes={}", set.join(",")))]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.header("content-range"), Some("bytes 0-605/10000"));
    // Every other 1000 bytes: 10 parts, each framed once.
    let set: Vec<String> = (0..10)
        .map(|i| format!("{}-{}", i * 1000, i * 1000 + 499))
        .collect();
    let reply = get(addr, &[("Range", &format!("bytes={}", set.join(",")))]).await;
    let parts = assert_parts(&reply, &content(LEN), Some("video/mp4"));
    assert_eq!(parts.len(), 10);
    let framing = reply.body.len() - 5000;
    assert!(
        framing < 10 * 200,
        "framing is {framing} bytes for 10 parts"
    );
}

#[tokio::test]
async fn head_gets_the_multipart_headers_and_exact_length() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let range = [("Range", "bytes=0-99,200-299")];
    let head = request(addr, "HEAD", &range).await;
    let get = get(addr, &range).await;
    assert_eq!(head.status, 206);
    assert!(head.body.is_empty());
    assert_eq!(head.content_length(), get.content_length());
    assert!(head
        .header("content-type")
        .unwrap()
        .starts_with("multipart/byteranges; boundary="));
}

#[tokio::test]
async fn each_response_draws_a_fresh_boundary() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let range = [("Range", "bytes=0-9,100-109")];
    let a = get(addr, &range).await;
    let b = get(addr, &range).await;
    assert_ne!(a.header("content-type"), b.header("content-type"));
}

#[tokio::test]
async fn ten_thousand_ranges_are_ignored_by_default() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let set: Vec<String> = (0..10_000).map(|i| format!("{i}-{i}")).collect();
    let reply = get(addr, &[("Range", &format!("bytes={}", set.join(",")))]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(LEN));
}

#[tokio::test]
async fn amplifying_sets_are_ignored_by_default() {
    let addr = serve_ranged(RangeLayer::new(), video()).await;
    let reply = get(addr, &[("Range", "bytes=0-,0-,0-")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(LEN));
}

#[tokio::test]
async fn max_ranges_is_configurable() {
    let addr = serve_ranged(RangeLayer::new().max_ranges(2), video()).await;
    let reply = get(addr, &[("Range", "bytes=0-9,100-109,200-209")]).await;
    assert_eq!(reply.status, 200, "three ranges pass a limit of two");
    let reply = get(addr, &[("Range", "bytes=0-9,100-109")]).await;
    assert_eq!(reply.status, 206);
}

#[tokio::test]
async fn if_range_mismatch_sends_the_whole_200() {
    let addr = serve_ranged(RangeLayer::new(), video().header(ETAG, "\"v2\"")).await;
    let reply = get(
        addr,
        &[("Range", "bytes=0-9,100-109"), ("If-Range", "\"v1\"")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(LEN));
}

#[tokio::test]
async fn encoded_representation_gets_the_whole_200_for_several_ranges() {
    let addr = serve_ranged(RangeLayer::new(), video().header(CONTENT_ENCODING, "gzip")).await;
    let reply = get(addr, &[("Range", "bytes=0-9,100-109")]).await;
    assert_eq!(
        reply.status, 200,
        "Content-Encoding cannot describe multipart framing"
    );
    assert_eq!(reply.body, content(LEN));
}
