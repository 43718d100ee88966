//! `ObjectService` under `RangeLayer`: the statuses, the fields, the bytes of ranges and
//! multipart responses, `HEAD`, the metadata cache and the prefix, over `InMemory`, a
//! local directory, S3's client and a store that fails on demand.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use object_store::aws::AmazonS3Builder;
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService,
};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions, RetryConfig};
use tower::{Layer, ServiceExt};
use tower_range::{BoxError, ObjectService, RangeLayer, RangeService, ResponseBody, SourceBody};

use support::{content, parse_multipart, TestStore};

type Served = Response<ResponseBody<SourceBody>>;

fn ranged(service: ObjectService) -> RangeService<ObjectService> {
    RangeLayer::new().layer(service)
}

fn service(store: &Arc<TestStore>) -> RangeService<ObjectService> {
    ranged(ObjectService::new(Arc::clone(store) as Arc<dyn ObjectStore>))
}

async fn send(
    svc: &RangeService<ObjectService>,
    method: Method,
    path: &str,
    headers: &[(header::HeaderName, &str)],
) -> Served {
    let mut req = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    svc.clone().oneshot(req.body(()).unwrap()).await.unwrap()
}

async fn get(svc: &RangeService<ObjectService>, path: &str, range: Option<&str>) -> Served {
    let headers: Vec<_> = range.map(|r| (header::RANGE, r)).into_iter().collect();
    send(svc, Method::GET, path, &headers).await
}

async fn body(res: Served) -> Result<Bytes, BoxError> {
    Ok(res.into_body().collect().await?.to_bytes())
}

fn field(res: &Served, name: header::HeaderName) -> &str {
    res.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

/// What object_store's client reports for a failed HTTP request: its message is all
/// that is public, so a store error built from the same words stands for it.
fn http_failure(message: &'static str) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: message.into(),
    }
}

#[tokio::test]
async fn get_serves_the_whole_object_with_its_fields() {
    let store = Arc::new(TestStore::new());
    let data = content(10_000);
    let meta = store.put_bytes("docs/notes.txt", data.clone()).await;
    let svc = service(&store);

    let res = get(&svc, "/docs/notes.txt", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(field(&res, header::CONTENT_TYPE), "text/plain");
    assert_eq!(field(&res, header::CONTENT_LENGTH), "10000");
    assert_eq!(field(&res, header::ETAG), meta.e_tag.as_deref().unwrap());
    let modified = httpdate::fmt_http_date(SystemTime::from(meta.last_modified));
    assert_eq!(field(&res, header::LAST_MODIFIED), modified);
    assert_eq!(field(&res, header::ACCEPT_RANGES), "bytes");
    assert_eq!(body(res).await.unwrap(), data);
    assert_eq!(store.gets().len(), 1, "one GET for the whole object");
}

#[tokio::test]
async fn the_objects_own_fields_win_over_guesses() {
    let store = Arc::new(TestStore::new());
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/x-custom".into());
    attributes.insert(Attribute::CacheControl, "max-age=600".into());
    attributes.insert(Attribute::ContentDisposition, "attachment".into());
    let options = PutOptions {
        attributes,
        ..PutOptions::default()
    };
    let key = Path::from("a.txt");
    store.put_opts(&key, "hello".into(), options).await.unwrap();
    store.put_bytes("blob", Bytes::from("x")).await;
    let svc = service(&store);

    let res = get(&svc, "/a.txt", None).await;
    assert_eq!(field(&res, header::CONTENT_TYPE), "application/x-custom");
    assert_eq!(field(&res, header::CACHE_CONTROL), "max-age=600");
    assert_eq!(field(&res, header::CONTENT_DISPOSITION), "attachment");
    let res = get(&svc, "/blob", None).await;
    assert_eq!(
        field(&res, header::CONTENT_TYPE),
        "application/octet-stream"
    );
}

#[tokio::test]
async fn a_range_is_one_get_of_exactly_its_bytes() {
    let store = Arc::new(TestStore::with_chunk(1000));
    let data = content(100_000);
    store.put_bytes("v.mp4", data.clone()).await;
    let svc = service(&store);

    for (range, want) in [
        ("bytes=0-0", 0..1),
        ("bytes=12345-54320", 12_345..54_321),
        ("bytes=-7", 99_993..100_000),
        ("bytes=99000-", 99_000..100_000),
    ] {
        let before = store.gets().len();
        let res = get(&svc, "/v.mp4", Some(range)).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let content_range = format!("bytes {}-{}/100000", want.start, want.end - 1);
        assert_eq!(field(&res, header::CONTENT_RANGE), content_range);
        assert_eq!(body(res).await.unwrap(), data[want.clone()], "{range}");
        let gets = store.gets();
        assert_eq!(gets.len(), before + 1, "{range}: one GET");
        assert_eq!(gets[before].range, want.start as u64..want.end as u64);
    }
}

#[tokio::test]
async fn multipart_parts_are_byte_exact_and_in_the_order_asked() {
    let store = Arc::new(TestStore::with_chunk(700));
    let data = content(1 << 20);
    store.put_bytes("big.bin", data.clone()).await;
    let svc = service(&store);

    // Out of order, so that the order on the wire is the request's, not the offsets'.
    let asked = [
        (900_000, 909_999),
        (0, 99),
        (500_000, 520_000),
        (1_048_000, 1_048_575),
        (300, 4_000),
    ];
    let header = asked
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",");
    let res = get(&svc, "/big.bin", Some(&format!("bytes={header}"))).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    let content_type = field(&res, header::CONTENT_TYPE).to_owned();
    let length: usize = field(&res, header::CONTENT_LENGTH).parse().unwrap();
    let wire = body(res).await.unwrap();
    assert_eq!(wire.len(), length);
    let parts = parse_multipart(&content_type, &wire);
    assert_eq!(parts.len(), asked.len());
    for ((headers, bytes), &(first, last)) in parts.iter().zip(&asked) {
        let range = headers.iter().find(|(n, _)| n == "content-range").unwrap();
        assert_eq!(range.1, format!("bytes {first}-{last}/1048576"));
        assert!(bytes[..] == data[first..=last], "part {first}-{last}");
    }
}

#[tokio::test]
async fn head_answers_the_fields_and_never_gets() {
    let store = Arc::new(TestStore::new());
    let meta = store.put_bytes("a.json", content(500)).await;
    let svc = service(&store);

    let res = send(&svc, Method::HEAD, "/a.json", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(field(&res, header::CONTENT_LENGTH), "500");
    assert_eq!(field(&res, header::CONTENT_TYPE), "application/json");
    assert_eq!(field(&res, header::ETAG), meta.e_tag.as_deref().unwrap());
    assert!(body(res).await.unwrap().is_empty());

    let res = send(
        &svc,
        Method::HEAD,
        "/a.json",
        &[(header::RANGE, "bytes=10-19")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(field(&res, header::CONTENT_RANGE), "bytes 10-19/500");
    assert!(body(res).await.unwrap().is_empty());
    assert!(store.gets().is_empty(), "HEAD must not read the object");
}

#[tokio::test]
async fn the_layer_answers_conditionals_from_the_objects_validators() {
    let store = Arc::new(TestStore::new());
    let meta = store.put_bytes("a", content(50)).await;
    let etag = meta.e_tag.unwrap();
    let svc = service(&store);

    let res = send(&svc, Method::GET, "/a", &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let stale = [
        (header::IF_MATCH, "\"other\""),
        (header::RANGE, "bytes=0-1"),
    ];
    let res = send(&svc, Method::GET, "/a", &stale).await;
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let old = [(header::IF_RANGE, "\"old\""), (header::RANGE, "bytes=0-1")];
    let res = send(&svc, Method::GET, "/a", &old).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "If-Range with another tag: whole"
    );
    assert_eq!(body(res).await.unwrap(), content(50));
    assert_eq!(store.gets().len(), 1, "304 and 412 read nothing");
}

#[tokio::test]
async fn a_missing_object_or_a_path_that_is_no_key_is_not_found() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("dir/a", content(5)).await;
    let svc = service(&store);

    for path in [
        "/nothing",
        "/",
        "/dir",
        "/dir/",
        "/dir/a/",
        "/dir//a",
        "/dir/../dir/a",
        "/dir/%2e%2e/dir/a",
        "/%ff",
    ] {
        let res = get(&svc, path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(field(&res, header::CONTENT_LENGTH), "0", "{path}");
        assert!(body(res).await.unwrap().is_empty());
    }
    let res = get(&svc, "/dir/a", None).await;
    assert_eq!(res.status(), StatusCode::OK, "the key itself is served");
}

#[tokio::test]
async fn percent_encoded_keys_are_decoded() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("my files/été.txt", content(5)).await;
    let svc = service(&store);
    let res = get(&svc, "/my%20files/%C3%A9t%C3%A9.txt", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await.unwrap(), content(5));
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", content(5)).await;
    let svc = service(&store);
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let res = send(&svc, method.clone(), "/a", &[]).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(field(&res, header::ALLOW), "GET, HEAD");
    }
    assert_eq!(store.heads(), 0, "refused before the store is asked");
}

#[tokio::test]
async fn a_failing_store_is_a_bad_gateway_with_its_error_attached() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", content(5)).await;
    store.fail_heads(Some(Box::new(|| {
        http_failure("Server returned non-2xx status code: 500 Internal Server Error: ")
    })));
    let svc = service(&store);
    let res = get(&svc, "/a", None).await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert!(res.headers().get(header::RETRY_AFTER).is_none());
    let err = res.extensions().get::<Arc<object_store::Error>>().unwrap();
    assert!(err.to_string().contains("500"), "{err}");
}

#[tokio::test]
async fn an_overloaded_store_is_service_unavailable_with_retry_after() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", content(5)).await;
    store.fail_heads(Some(Box::new(|| {
        http_failure("Server returned non-2xx status code: 503 Service Unavailable: SlowDown")
    })));
    let svc = service(&store);
    let res = get(&svc, "/a", None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(field(&res, header::RETRY_AFTER), "1");

    let store_dyn = Arc::clone(&store) as Arc<dyn ObjectStore>;
    let patient = ranged(ObjectService::new(store_dyn).retry_after(Duration::from_millis(2500)));
    let res = get(&patient, "/a", None).await;
    assert_eq!(
        field(&res, header::RETRY_AFTER),
        "3",
        "whole seconds, rounded up"
    );

    store.fail_heads(None);
    let res = get(&svc, "/a", None).await;
    assert_eq!(res.status(), StatusCode::OK, "failures are not cached");
}

/// An HTTP transport for object_store's clients that answers every request with one
/// status, so that S3's client reports it as it would a real server's.
#[derive(Debug, Clone, Copy)]
struct Answers(StatusCode);

impl HttpConnector for Answers {
    fn connect(&self, _: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(*self))
    }
}

#[async_trait]
impl HttpService for Answers {
    async fn call(&self, _req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let body =
            "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>";
        let mut res = HttpResponse::new(body.to_owned().into());
        *res.status_mut() = self.0;
        Ok(res)
    }
}

fn s3_answering(status: StatusCode) -> Arc<dyn ObjectStore> {
    let s3 = AmazonS3Builder::new()
        .with_bucket_name("bucket")
        .with_region("us-east-1")
        .with_access_key_id("key")
        .with_secret_access_key("secret")
        .with_endpoint("http://127.0.0.1:1")
        .with_allow_http(true)
        .with_retry(RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        })
        .with_http_connector(Answers(status))
        .build()
        .unwrap();
    Arc::new(s3)
}

#[tokio::test]
async fn s3_saying_slow_down_is_service_unavailable() {
    for (answer, want) in [
        (
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY),
        (StatusCode::FORBIDDEN, StatusCode::BAD_GATEWAY),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
    ] {
        let svc = ranged(ObjectService::new(s3_answering(answer)));
        let res = get(&svc, "/clip.mp4", Some("bytes=0-9")).await;
        assert_eq!(res.status(), want, "S3 answering {answer}");
        let retry_after = res.headers().get(header::RETRY_AFTER);
        assert_eq!(
            retry_after.is_some(),
            want == StatusCode::SERVICE_UNAVAILABLE
        );
    }
}

#[tokio::test]
async fn a_second_request_costs_no_head() {
    let store = Arc::new(TestStore::new());
    let data = content(1000);
    store.put_bytes("a", data.clone()).await;
    let svc = service(&store);
    for range in ["bytes=0-9", "bytes=500-", "bytes=1-2,900-909"] {
        let res = get(&svc, "/a", Some(range)).await;
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
        body(res).await.unwrap();
    }
    let res = send(&svc, Method::HEAD, "/a", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(store.heads(), 1, "the metadata is reused");
    assert_eq!(store.gets().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn metadata_is_asked_again_once_its_ttl_is_over() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", content(10)).await;
    let store_dyn = Arc::clone(&store) as Arc<dyn ObjectStore>;
    let svc = ranged(ObjectService::new(store_dyn).metadata_ttl(Duration::from_secs(10)));

    send(&svc, Method::HEAD, "/a", &[]).await;
    tokio::time::advance(Duration::from_millis(9_900)).await;
    send(&svc, Method::HEAD, "/a", &[]).await;
    assert_eq!(store.heads(), 1, "within the TTL");
    tokio::time::advance(Duration::from_millis(200)).await;
    send(&svc, Method::HEAD, "/a", &[]).await;
    assert_eq!(store.heads(), 2, "past the TTL");
    send(&svc, Method::HEAD, "/a", &[]).await;
    assert_eq!(store.heads(), 2, "kept again");
}

#[tokio::test]
async fn no_ttl_or_no_capacity_asks_every_time() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", content(10)).await;
    let store_dyn = || Arc::clone(&store) as Arc<dyn ObjectStore>;
    for svc in [
        ObjectService::new(store_dyn()).metadata_ttl(Duration::ZERO),
        ObjectService::new(store_dyn()).metadata_capacity(0),
    ] {
        let svc = ranged(svc);
        let before = store.heads();
        send(&svc, Method::HEAD, "/a", &[]).await;
        send(&svc, Method::HEAD, "/a", &[]).await;
        assert_eq!(store.heads(), before + 2);
    }
}

#[tokio::test]
async fn a_replaced_object_fails_its_stale_response_then_is_served_anew() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", Bytes::from("version one")).await;
    let svc = service(&store);
    let res = get(&svc, "/a", None).await;
    assert_eq!(body(res).await.unwrap(), "version one");

    let new = store.put_bytes("a", Bytes::from("second version")).await;
    // The cached metadata describes the old version: the response starts as its
    // `206`, and its `GET`, pinned to the old `ETag`, fails it.
    let res = get(&svc, "/a", Some("bytes=0-6")).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(field(&res, header::CONTENT_RANGE), "bytes 0-6/11");
    let err = body(res).await.unwrap_err();
    assert!(
        matches!(
            err.downcast_ref::<object_store::Error>(),
            Some(object_store::Error::Precondition { .. })
        ),
        "{err:?}"
    );
    // The failure dropped the metadata: the next request asks, and gets the new one.
    let res = get(&svc, "/a", Some("bytes=0-5")).await;
    assert_eq!(store.heads(), 2);
    assert_eq!(field(&res, header::ETAG), new.e_tag.as_deref().unwrap());
    assert_eq!(field(&res, header::CONTENT_RANGE), "bytes 0-5/14");
    assert_eq!(body(res).await.unwrap(), "second");
}

#[tokio::test]
async fn a_deleted_object_fails_its_stale_response_then_is_not_found() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("a", content(10)).await;
    let svc = service(&store);
    send(&svc, Method::HEAD, "/a", &[]).await;
    store.delete(&Path::from("a")).await.unwrap();

    let res = get(&svc, "/a", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await.is_err(), "the object is gone");
    let res = get(&svc, "/a", None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_prefix_roots_the_paths_under_it() {
    let store = Arc::new(TestStore::new());
    store.put_bytes("videos/2024/a.mp4", content(100)).await;
    store.put_bytes("secret", content(7)).await;
    let store_dyn = Arc::clone(&store) as Arc<dyn ObjectStore>;
    let svc = ranged(ObjectService::new(store_dyn).prefix("videos/2024"));

    let res = get(&svc, "/a.mp4", Some("bytes=90-")).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(field(&res, header::CONTENT_TYPE), "video/mp4");
    assert_eq!(body(res).await.unwrap(), content(100).slice(90..));
    for path in [
        "/secret",
        "/videos/2024/a.mp4",
        "/../secret",
        "/%2e%2e/secret",
    ] {
        let res = get(&svc, path, None).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{path} is outside the prefix"
        );
    }
}

#[tokio::test]
async fn objects_of_a_local_directory_are_served() {
    let dir = std::env::temp_dir().join(format!("tower-range-objects-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("media")).unwrap();
    let data = content(300_000);
    std::fs::write(dir.join("media/song.mp3"), &data).unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir).unwrap());
    let svc = ranged(ObjectService::new(store));

    let res = get(&svc, "/media/song.mp3", Some("bytes=100-199,250000-250099")).await;
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    // The store's ETag, a valid entity-tag, is the validator the layer compares.
    let etag = field(&res, header::ETAG).to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let content_type = field(&res, header::CONTENT_TYPE).to_owned();
    let parts = parse_multipart(&content_type, &body(res).await.unwrap());
    assert_eq!(parts[0].1, data[100..200]);
    assert_eq!(parts[1].1, data[250_000..250_100]);
    let res = send(
        &svc,
        Method::GET,
        "/media/song.mp3",
        &[(header::IF_NONE_MATCH, &etag)],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_MODIFIED,
        "the quoted tag is the validator"
    );
    let res = get(&svc, "/media", None).await;
    assert_eq!(
        res.status(),
        StatusCode::NOT_FOUND,
        "a directory is no object"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn served_over_http_the_lengths_agree() {
    let store = Arc::new(TestStore::with_chunk(4096));
    let data = content(200_000);
    store.put_bytes("file", data.clone()).await;
    // hyper checks in debug builds that the body's length is the one announced.
    let addr = support::serve(service(&store)).await;
    let reply = support::get(addr, &[("range", "bytes=10-20,100000-150000")]).await;
    assert_eq!(reply.status, 206);
    assert!(reply.complete);
    let parts = parse_multipart(reply.header("content-type").unwrap(), &reply.body);
    assert_eq!(parts[1].1, data[100_000..=150_000]);
    let reply = support::get(addr, &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.complete && reply.body == data[..]);
    let reply = support::request(addr, "HEAD", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_length(), Some(200_000));
}

/// Compile-time: the service and its future can cross threads, as servers need.
#[allow(dead_code)]
fn the_service_is_send_sync_and_clone() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send<T: Send>(_: &T) {}
    send_sync_clone::<ObjectService>();
    send_sync_clone::<RangeService<ObjectService>>();
    let mut svc = ObjectService::new(Arc::new(TestStore::new()));
    send(&tower::Service::call(
        &mut svc,
        Request::get("/").body(()).unwrap(),
    ));
}
