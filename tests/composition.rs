//! The layer in a tower-http stack, over real TCP: compression in both orders, CORS,
//! tracing and timeouts. Every body is compared byte for byte with the representation
//! its `Content-Encoding` names (RFC 9110 §14.1.2: ranges count the encoded bytes).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, LAST_MODIFIED,
    RANGE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use support::{content, get, parse_multipart, request, serve, Inner, Reply};
use tower::{service_fn, Layer};
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::{ResponseBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use tower_range::RangeLayer;

const LEN: usize = 10_000;
const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

/// A compressible representation with both validators.
fn text() -> Inner {
    Inner::new(content(LEN))
        .chunk(1000)
        .header(CONTENT_TYPE, "text/plain")
        .header(ETAG, "\"v1\"")
        .header(LAST_MODIFIED, DATE)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// The coding a reply's `Content-Encoding` names.
fn coding(reply: &Reply) -> &str {
    reply.header("content-encoding").unwrap_or("identity")
}

/// `bytes first-last/len`, read.
fn content_range(value: &str) -> (usize, usize, usize) {
    let (span, len) = value
        .strip_prefix("bytes ")
        .unwrap()
        .split_once('/')
        .unwrap();
    let (first, last) = span.split_once('-').unwrap();
    (
        first.parse().unwrap(),
        last.parse().unwrap(),
        len.parse().unwrap(),
    )
}

// === compression ===

/// Where tower-http's `CompressionLayer` sits relative to the range layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// `RangeLayer` outside: the layer sees what compression made of the response.
    RangeOutside,
    /// `CompressionLayer` outside, with the predicate the README gives for this order.
    CompressionOutside,
}

/// What compression outside the range layer needs: tower-http skips a response with
/// `Content-Range`, which a `multipart/byteranges` 206 has only in its parts.
fn skip_multipart() -> impl Predicate {
    DefaultPredicate::new().and(NotForContentType::const_new("multipart/byteranges"))
}

async fn stack(order: Order, inner: Inner) -> SocketAddr {
    match order {
        Order::RangeOutside => {
            serve(RangeLayer::new().layer(CompressionLayer::new().layer(inner))).await
        }
        Order::CompressionOutside => {
            let compression = CompressionLayer::new().compress_when(skip_multipart());
            serve(compression.layer(RangeLayer::new().layer(inner))).await
        }
    }
}

/// The representations a stack sends whole: identity is the source; gzip is whatever
/// bytes the stack's compression makes of it.
struct Representations {
    identity: Vec<u8>,
    gzip: Vec<u8>,
}

impl Representations {
    async fn of(addr: SocketAddr) -> Self {
        let gzip = get(addr, &[("Accept-Encoding", "gzip")]).await;
        assert_eq!((gzip.status, coding(&gzip)), (200, "gzip"));
        assert_eq!(gunzip(&gzip.body), content(LEN));
        Self {
            identity: content(LEN).to_vec(),
            gzip: gzip.body,
        }
    }

    fn named(&self, coding: &str) -> &[u8] {
        match coding {
            "identity" => &self.identity,
            "gzip" => &self.gzip,
            other => panic!("unexpected coding {other}"),
        }
    }
}

/// Checks that `reply` is a correct answer: a `200` whose body decodes to the source,
/// or a `206` whose ranges are `asked` and whose bytes are slices of the representation
/// its `Content-Encoding` names.
fn assert_correct(reply: &Reply, asked: &[(usize, usize)], reps: &Representations, what: &str) {
    assert!(reply.complete, "{what}: the body must be complete");
    if let Some(len) = reply.content_length() {
        assert_eq!(len, reply.body.len() as u64, "{what}: Content-Length");
    }
    match reply.status {
        200 => {
            let decoded = match coding(reply) {
                "identity" => reply.body.clone(),
                "gzip" => gunzip(&reply.body),
                other => panic!("{what}: unexpected coding {other}"),
            };
            assert_eq!(decoded, content(LEN), "{what}: the whole representation");
        }
        206 => {
            let representation = reps.named(coding(reply));
            let mut slices = Vec::new();
            if let Some(value) = reply.header("content-range") {
                slices.push((content_range(value), reply.body.clone()));
            } else {
                let content_type = reply.header("content-type").unwrap();
                for (headers, bytes) in parse_multipart(content_type, &reply.body) {
                    let (_, value) = headers.iter().find(|(n, _)| n == "content-range").unwrap();
                    slices.push((content_range(value), bytes));
                }
                assert!(slices.len() > 1, "{what}: multipart has several parts");
            }
            let mut ranges = Vec::new();
            for ((first, last, len), bytes) in slices {
                assert_eq!(len, representation.len(), "{what}: complete length");
                assert_eq!(
                    bytes,
                    &representation[first..=last],
                    "{what}: bytes {first}-{last} of the {} representation",
                    coding(reply)
                );
                ranges.push((first, last));
            }
            assert_eq!(ranges, asked, "{what}: the ranges asked for");
        }
        other => panic!("{what}: status {other}"),
    }
}

/// A case of the matrix: its name, its `Range`, and the ranges a 206 must hold.
type Case = (
    &'static str,
    Option<&'static str>,
    &'static [(usize, usize)],
);

const CASES: [Case; 3] = [
    ("no Range", None, &[]),
    ("one range", Some("bytes=100-199"), &[(100, 199)]),
    (
        "several ranges",
        Some("bytes=0-99,5000-5099"),
        &[(0, 99), (5000, 5099)],
    ),
];

/// The status and coding each cell of the matrix gets.
fn expected(order: Order, accept: &str, range: Option<&str>) -> (u16, &'static str) {
    let accept = if accept == "gzip" { "gzip" } else { "identity" };
    match (order, range) {
        (_, None) => (200, accept),
        // A coding applied as it streams has no length, and no bytes the same twice:
        // the layer has nothing to range, and sends it whole.
        (Order::RangeOutside, Some(_)) if accept == "gzip" => (200, "gzip"),
        // The layer ranges the unencoded representation; compression leaves the 206.
        (_, Some(_)) => (206, "identity"),
    }
}

#[tokio::test]
async fn compression_in_either_order_sends_slices_of_the_named_representation() {
    for order in [Order::RangeOutside, Order::CompressionOutside] {
        let addr = stack(order, text()).await;
        let reps = Representations::of(addr).await;
        let mut codings_of_strong_tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for accept in ["gzip", "identity"] {
            for (name, range, asked) in CASES {
                let what = format!("{order:?}, Accept-Encoding: {accept}, {name}");
                let mut headers = vec![("Accept-Encoding", accept)];
                headers.extend(range.map(|r| ("Range", r)));
                let reply = get(addr, &headers).await;
                let asked = if reply.status == 206 { asked } else { &[] };
                assert_correct(&reply, asked, &reps, &what);
                assert_eq!(
                    (reply.status, coding(&reply)),
                    expected(order, accept, range),
                    "{what}"
                );
                if coding(&reply) != "identity" {
                    assert_eq!(
                        reply.header("accept-ranges"),
                        None,
                        "{what}: a coding applied as it streams cannot be ranged"
                    );
                }
                let etag = reply.header("etag").unwrap().to_owned();
                if !etag.starts_with("W/") {
                    let codings = codings_of_strong_tags.entry(etag).or_default();
                    codings.insert(coding(&reply).to_owned());
                }
            }
        }
        if order == Order::RangeOutside {
            // RFC 9110 §8.8.1: the same validator for a gzip and an unencoded
            // representation is weak; the layer sees the gzip response and says so.
            for (etag, codings) in &codings_of_strong_tags {
                assert_eq!(
                    codings.len(),
                    1,
                    "{order:?}: strong {etag} names {codings:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn compression_outside_without_the_predicate_gzips_a_multipart_206() {
    // Why the README gives compression outside the layer a predicate: tower-http 0.7
    // skips a response only for `Content-Encoding`, `Content-Range` or its predicate
    // (images, gRPC, SSE, under 32 bytes), and a multipart 206 has none of these. If
    // this test fails, tower-http skips such responses itself, and the README's advice
    // can say so.
    let addr = serve(CompressionLayer::new().layer(RangeLayer::new().layer(text()))).await;
    let reply = get(
        addr,
        &[
            ("Accept-Encoding", "gzip"),
            ("Range", "bytes=0-99,5000-5099"),
        ],
    )
    .await;
    assert_eq!(reply.status, 206);
    assert_eq!(coding(&reply), "gzip");
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("multipart/byteranges"));
    // Its parts count unencoded bytes, while `Content-Encoding` says they are ranges
    // of the gzip representation.
    let framing = gunzip(&reply.body);
    let parts = parse_multipart(reply.header("content-type").unwrap(), &framing);
    assert_eq!(parts[0].1, &content(LEN)[..100]);
}

#[tokio::test]
async fn compression_outside_keeps_the_strong_etag_on_its_gzip_200() {
    // The limit of compression outside the layer, which the layer cannot see: tower-http
    // keeps the `ETag` of the unencoded response on its gzip `200`, so a client that
    // resumes a gzip download with `If-Range` gets unencoded bytes after gzip ones. If
    // this test fails, tower-http changes the tag, and the README's advice can say so.
    let addr = stack(Order::CompressionOutside, text()).await;
    let gzip = get(addr, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(
        (coding(&gzip), gzip.header("etag")),
        ("gzip", Some("\"v1\""))
    );
    let resumed = get(
        addr,
        &[
            ("Accept-Encoding", "gzip"),
            ("Range", "bytes=100-"),
            ("If-Range", "\"v1\""),
        ],
    )
    .await;
    assert_eq!((resumed.status, coding(&resumed)), (206, "identity"));
    assert_ne!(
        resumed.body,
        &gzip.body[100..],
        "the bytes that follow are of another representation"
    );
}

#[tokio::test]
async fn range_outside_weakens_the_tag_a_compressor_kept() {
    let addr = stack(Order::RangeOutside, text()).await;
    let gzip = get(addr, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(
        (coding(&gzip), gzip.header("etag")),
        ("gzip", Some("W/\"v1\""))
    );
    // A client holding gzip bytes has only a weak tag, which If-Range never matches
    // (and a date it must not send beside a tag, §13.1.5): it gets the whole 200.
    let resumed = get(addr, &[("Range", "bytes=100-"), ("If-Range", "W/\"v1\"")]).await;
    assert_eq!((resumed.status, coding(&resumed)), (200, "identity"));
    assert_eq!(resumed.body, content(LEN));
    // The other way round: unencoded bytes, resumed by a client that accepts gzip,
    // get the whole gzip 200, never a 206 of it.
    let first = get(addr, &[("Range", "bytes=0-99")]).await;
    assert_eq!((first.status, first.header("etag")), (206, Some("\"v1\"")));
    let resumed = get(
        addr,
        &[
            ("Accept-Encoding", "gzip"),
            ("Range", "bytes=100-"),
            ("If-Range", "\"v1\""),
        ],
    )
    .await;
    assert_eq!((resumed.status, coding(&resumed)), (200, "gzip"));
    assert_eq!(gunzip(&resumed.body), content(LEN));
}

#[tokio::test]
async fn range_outside_still_revalidates_a_gzip_copy() {
    // A weak tag revalidates: If-None-Match compares weakly (RFC 9110 §13.1.2).
    let addr = stack(Order::RangeOutside, text()).await;
    for tag in ["W/\"v1\"", "\"v1\""] {
        let reply = get(addr, &[("Accept-Encoding", "gzip"), ("If-None-Match", tag)]).await;
        assert_eq!(reply.status, 304, "If-None-Match: {tag}");
        assert_eq!(reply.header("etag"), Some("W/\"v1\""));
    }
    // If-Match compares strongly, and the gzip representation is not "v1".
    let reply = get(addr, &[("Accept-Encoding", "gzip"), ("If-Match", "\"v1\"")]).await;
    assert_eq!(reply.status, 412);
    let reply = get(addr, &[("If-Match", "\"v1\""), ("Range", "bytes=0-9")]).await;
    assert_eq!(reply.status, 206, "the unencoded representation is");
}

#[tokio::test]
async fn range_outside_ranges_what_compression_leaves_alone() {
    // Compression skips images (its default predicate): the layer ranges them, and
    // keeps their tag strong.
    let image = Inner::new(content(LEN))
        .header(CONTENT_TYPE, "image/png")
        .header(ETAG, "\"v1\"");
    let addr = stack(Order::RangeOutside, image).await;
    let reply = get(
        addr,
        &[
            ("Accept-Encoding", "gzip"),
            ("Range", "bytes=0-99,5000-5099"),
        ],
    )
    .await;
    assert_eq!((reply.status, coding(&reply)), (206, "identity"));
    assert_eq!(reply.header("etag"), Some("\"v1\""));
    let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts[1].1, &content(LEN)[5000..5100]);
}

// === CORS ===

/// A handler whose body has a `Default`, as tower-http's CORS and timeout layers need
/// of the body they wrap.
async fn video(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    assert_ne!(
        req.method(),
        Method::OPTIONS,
        "preflights never reach the handler"
    );
    let mut res = Response::new(Full::new(content(LEN)));
    res.headers_mut()
        .insert(ETAG, HeaderValue::from_static("\"v1\""));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    Ok(res)
}

/// The README's CORS settings for a `fetch()`-based player (hls.js, pdf.js).
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        // `Range` is CORS-safelisted only as one `bytes=first-` or `bytes=first-last`:
        // a suffix, several ranges or `If-Range` make the browser ask first.
        .allow_headers([RANGE, IF_RANGE])
        // `Content-Length` is safelisted in current browsers; older ones need it listed.
        .expose_headers([CONTENT_RANGE, ACCEPT_RANGES, CONTENT_LENGTH, ETAG])
}

async fn cors_stack(cors_outside: bool) -> SocketAddr {
    if cors_outside {
        serve(cors().layer(RangeLayer::new().layer(service_fn(video)))).await
    } else {
        serve(RangeLayer::new().layer(cors().layer(service_fn(video)))).await
    }
}

fn assert_exposed(reply: &Reply, what: &str) {
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("*"),
        "{what}"
    );
    let exposed: Vec<String> = reply
        .header("access-control-expose-headers")
        .unwrap_or_else(|| panic!("{what}: no Access-Control-Expose-Headers"))
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    for name in ["content-range", "accept-ranges", "content-length", "etag"] {
        assert!(
            exposed.iter().any(|n| n == name),
            "{what}: {name} not in {exposed:?}"
        );
    }
}

#[tokio::test]
async fn cors_exposes_the_range_fields_of_every_ranged_answer() {
    const ORIGIN: (&str, &str) = ("Origin", "https://player.example");
    for cors_outside in [true, false] {
        let addr = cors_stack(cors_outside).await;
        let what = |case| format!("CORS outside: {cors_outside}, {case}");
        let reply = get(addr, &[ORIGIN, ("Range", "bytes=100-199")]).await;
        assert_exposed(&reply, &what("206"));
        assert_eq!(reply.header("content-range"), Some("bytes 100-199/10000"));
        assert_eq!(reply.body, &content(LEN)[100..200]);
        let reply = get(addr, &[ORIGIN, ("Range", "bytes=0-99,5000-5099")]).await;
        assert_exposed(&reply, &what("multipart 206"));
        let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
        assert_eq!(parts[1].1, &content(LEN)[5000..5100]);
        // A player learns the length from a 416's Content-Range.
        let reply = get(addr, &[ORIGIN, ("Range", "bytes=20000-")]).await;
        assert_eq!(reply.status, 416);
        assert_exposed(&reply, &what("416"));
        assert_eq!(reply.header("content-range"), Some("bytes */10000"));
        let reply = get(addr, &[ORIGIN]).await;
        assert_exposed(&reply, &what("200"));
        assert_eq!(reply.header("accept-ranges"), Some("bytes"));
        assert_eq!(reply.body, content(LEN));
    }
}

#[tokio::test]
async fn cors_preflight_allows_range_and_if_range() {
    for cors_outside in [true, false] {
        let addr = cors_stack(cors_outside).await;
        for asked in ["range", "range, if-range"] {
            let reply = request(
                addr,
                "OPTIONS",
                &[
                    ("Origin", "https://player.example"),
                    ("Access-Control-Request-Method", "GET"),
                    ("Access-Control-Request-Headers", asked),
                ],
            )
            .await;
            let what = format!("CORS outside: {cors_outside}, asked: {asked}");
            assert_eq!(reply.status, 200, "{what}");
            let allowed = reply.header("access-control-allow-headers").unwrap();
            for name in asked.split(", ") {
                assert!(allowed.contains(name), "{what}: {allowed}");
            }
            let methods = reply.header("access-control-allow-methods").unwrap();
            assert!(methods.contains("GET"), "{what}: {methods}");
            assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        }
    }
}

// === tracing and timeouts ===

#[tokio::test]
async fn tracing_on_either_side_keeps_bodies_exact() {
    let outside = serve(TraceLayer::new_for_http().layer(RangeLayer::new().layer(text()))).await;
    let inside = serve(RangeLayer::new().layer(TraceLayer::new_for_http().layer(text()))).await;
    for addr in [outside, inside] {
        let reply = get(addr, &[("Range", "bytes=100-199")]).await;
        assert_eq!(reply.header("content-range"), Some("bytes 100-199/10000"));
        assert_eq!(reply.body, &content(LEN)[100..200]);
        let reply = get(addr, &[("Range", "bytes=0-99,5000-5099")]).await;
        let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
        assert_eq!(parts[0].1, &content(LEN)[..100]);
        assert_eq!(parts[1].1, &content(LEN)[5000..5100]);
    }
}

#[tokio::test]
async fn timeouts_on_either_side_keep_bodies_exact() {
    let timeout =
        || TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(10));
    let outside = serve(timeout().layer(RangeLayer::new().layer(service_fn(video)))).await;
    let inside = serve(RangeLayer::new().layer(timeout().layer(service_fn(video)))).await;
    let body_outside = serve(
        ResponseBodyTimeoutLayer::new(Duration::from_secs(10))
            .layer(RangeLayer::new().layer(service_fn(video))),
    )
    .await;
    for addr in [outside, inside, body_outside] {
        let reply = get(addr, &[("Range", "bytes=-100")]).await;
        assert_eq!(reply.header("content-range"), Some("bytes 9900-9999/10000"));
        assert_eq!(reply.body, &content(LEN)[9900..]);
        let reply = get(addr, &[("Range", "bytes=0-99,5000-5099")]).await;
        let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
        assert_eq!(parts[1].1, &content(LEN)[5000..5100]);
    }
}

#[tokio::test]
async fn a_timeout_answer_is_never_ranged() {
    let slow = service_fn(|_req: Request<Incoming>| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, Infallible>(Response::new(Full::new(content(LEN))))
    });
    let timeout =
        || TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_millis(50));
    let outside = serve(timeout().layer(RangeLayer::new().layer(slow))).await;
    let inside = serve(RangeLayer::new().layer(timeout().layer(slow))).await;
    for addr in [outside, inside] {
        let reply = get(addr, &[("Range", "bytes=0-99")]).await;
        assert_eq!(reply.status, 408);
        assert_eq!(reply.header("content-range"), None);
        assert!(reply.complete && reply.body.is_empty());
    }
}

#[tokio::test]
async fn a_body_timeout_inside_the_layer_hides_the_length() {
    // tower-http's `TimeoutBody` reports no size: without `Content-Length` the layer
    // cannot know which bytes are which, and sends the whole 200. Outside the layer
    // (as in `timeouts_on_either_side_keep_bodies_exact`) it costs nothing.
    let hidden = serve(
        RangeLayer::new()
            .layer(ResponseBodyTimeoutLayer::new(Duration::from_secs(10)).layer(service_fn(video))),
    )
    .await;
    let reply = get(hidden, &[("Range", "bytes=0-99")]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, content(LEN));
    let with_length = service_fn(|req: Request<Incoming>| async move {
        let mut res = video(req).await?;
        res.headers_mut().insert(CONTENT_LENGTH, LEN.into());
        Ok::<_, Infallible>(res)
    });
    let told = serve(
        RangeLayer::new()
            .layer(ResponseBodyTimeoutLayer::new(Duration::from_secs(10)).layer(with_length)),
    )
    .await;
    let reply = get(told, &[("Range", "bytes=0-99")]).await;
    assert_eq!(reply.status, 206);
    assert_eq!(reply.body, &content(LEN)[..100]);
}

#[tokio::test]
async fn a_precompressed_representation_keeps_its_strong_tag() {
    // A coding with a known length is a representation of its own, as a server of
    // precompressed files sends it, with its own tag: the layer ranges its bytes.
    let gz = Inner::new(content(LEN))
        .header(http::header::CONTENT_ENCODING, "gzip")
        .header(ETAG, "\"v1-gz\"");
    let addr = serve(RangeLayer::new().layer(gz)).await;
    let reply = get(
        addr,
        &[("Range", "bytes=100-199"), ("If-Range", "\"v1-gz\"")],
    )
    .await;
    assert_eq!((reply.status, coding(&reply)), (206, "gzip"));
    assert_eq!(reply.header("etag"), Some("\"v1-gz\""));
    assert_eq!(reply.body, &content(LEN)[100..200]);
}
