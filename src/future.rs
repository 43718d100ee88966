//! [`ResponseFuture`]: waits for the inner response, decides, and rewrites it.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, BytesMut};
use http::header::{
    HeaderName, HeaderValue, ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_LOCATION, CONTENT_RANGE, CONTENT_TYPE, TRANSFER_ENCODING,
};
use http::{HeaderMap, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::config::Config;
use crate::error::BoxError;
use crate::field;
use crate::multipart::{self, Parts};
use crate::plan::{self, Answer, BytesFrom, RangePlan, RangeRequest};
use crate::range::{self, ByteRange};
use crate::source::RangeSource;
use crate::source_reader::SourceReader;
use crate::validators;

pin_project! {
    /// The future of [`RangeService`](crate::RangeService): the inner response, ranged.
    ///
    /// It waits for the inner response, decides between passing it on, `206` and `416`,
    /// rewrites the headers, and wraps the body. It never polls the body.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        request: Option<RangeRequest>,
        config: Config,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) const fn new(inner: F, request: Option<RangeRequest>, config: Config) -> Self {
        Self {
            inner,
            request,
            config,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        let Some(request) = this.request.take() else {
            return Poll::Ready(Ok(res.map(ResponseBody::passthrough)));
        };
        // RFC 9110 §8.8.3.3: a strong tag names one content coding. A compressing layer
        // inside this one kept the tag of the unencoded bytes, which this layer ranges
        // for other clients: weakened, the tag cannot splice the two in `If-Range`.
        let hint = res.body().size_hint();
        if plan::coded_as_it_streams(res.status(), res.headers(), &hint, request.head) {
            validators::weaken_etag(res.headers_mut());
        }
        let source_len = res.extensions().get::<RangeSource>().map(RangeSource::len);
        let plan = RangePlan::decide(
            &request,
            res.status(),
            res.headers(),
            &hint,
            source_len,
            this.config,
        );
        Poll::Ready(Ok(respond(plan, res, this.config)))
    }
}

/// Writes the response `plan` decided on: status, headers and body.
fn respond<B>(plan: RangePlan, res: Response<B>, config: &Config) -> Response<ResponseBody<B>>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = res.into_parts();
    let headers = &mut parts.headers;
    if plan.accept_ranges {
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let body = match plan.answer {
        Answer::Full { len, bytes } => {
            let whole = ByteRange { start: 0, end: len };
            // The source reads faster than most bodies stream: positioned reads of
            // `read_chunk` bytes, with no copy through an async file's buffer.
            match take_source(&mut parts.extensions, bytes, config) {
                Some(reader) => ResponseBody::from_source(reader, Parts::single(whole)),
                None => ResponseBody::passthrough(body),
            }
        }
        Answer::Untouched | Answer::Answered => ResponseBody::passthrough(body),
        Answer::Misanswered => {
            parts.status = StatusCode::BAD_GATEWAY;
            parts.headers.clear();
            set_length(&mut parts.headers, HeaderValue::from_static("0"));
            ResponseBody::empty()
        }
        Answer::Empty => {
            parts.status = StatusCode::OK;
            headers.remove(CONTENT_RANGE);
            set_length(headers, HeaderValue::from_static("0"));
            ResponseBody::empty()
        }
        Answer::NotModified => {
            parts.status = StatusCode::NOT_MODIFIED;
            // RFC 9110 §15.4.5: the validators and the caching fields stay, so that the
            // client can update its copy; what described the content goes, and a `304`
            // has no content and no length.
            retain(headers, |name| {
                name == CONTENT_LOCATION || !is_content_field(name) && name != ACCEPT_RANGES
            });
            ResponseBody::empty()
        }
        Answer::PreconditionFailed => {
            parts.status = StatusCode::PRECONDITION_FAILED;
            // The empty content is not the representation.
            retain(headers, |name| {
                !is_content_field(name) && name != ACCEPT_RANGES
            });
            set_length(headers, HeaderValue::from_static("0"));
            ResponseBody::empty()
        }
        Answer::Unsatisfiable { len } => {
            parts.status = StatusCode::RANGE_NOT_SATISFIABLE;
            // The empty body is not the representation: drop what described it.
            for name in [CONTENT_TYPE, CONTENT_ENCODING, CONTENT_DISPOSITION] {
                headers.remove(name);
            }
            set_length(headers, HeaderValue::from_static("0"));
            let mut buf = BytesMut::with_capacity(32);
            buf.put_slice(b"bytes */");
            put_decimal(&mut buf, len);
            let end = buf.len();
            let [content_range] = header_values(buf, [end]);
            headers.insert(CONTENT_RANGE, content_range);
            ResponseBody::empty()
        }
        Answer::Partial { len, ranges, bytes } => {
            parts.status = StatusCode::PARTIAL_CONTENT;
            let schedule = match ranges.as_slice() {
                [range] => {
                    let [content_range, length] = single_range_values(*range, len);
                    headers.insert(CONTENT_RANGE, content_range);
                    set_length(headers, length);
                    Parts::single(*range)
                }
                several => multipart_schedule(headers, several, len),
            };
            match bytes {
                BytesFrom::Nothing => ResponseBody::empty(),
                _ => match take_source(&mut parts.extensions, bytes, config) {
                    Some(reader) => ResponseBody::from_source(reader, schedule),
                    None => ResponseBody::from_inner(body, schedule),
                },
            }
        }
    };
    Response::from_parts(parts, body)
}

/// Frames `ranges` as `multipart/byteranges`, moving the representation's
/// `Content-Type` into each part.
fn multipart_schedule(headers: &mut HeaderMap, ranges: &[ByteRange], len: u64) -> Parts {
    let boundary = multipart::boundary();
    let content_type = headers.remove(CONTENT_TYPE);
    let schedule = Parts::multipart(ranges, len, content_type.as_ref(), &boundary);
    let mut buf = BytesMut::with_capacity(96);
    write!(buf, "multipart/byteranges; boundary={boundary}").expect("writing to memory");
    let type_end = buf.len();
    put_decimal(&mut buf, schedule.remaining());
    let end = buf.len();
    let [content_type, length] = header_values(buf, [type_end, end]);
    headers.insert(CONTENT_TYPE, content_type);
    set_length(headers, length);
    schedule
}

/// A reader of the response's [`RangeSource`], when the plan reads from it.
fn take_source(
    extensions: &mut http::Extensions,
    bytes: BytesFrom,
    config: &Config,
) -> Option<SourceReader> {
    let source = match bytes {
        BytesFrom::Source => extensions.remove::<RangeSource>()?,
        BytesFrom::Inner | BytesFrom::Nothing => return None,
    };
    Some(SourceReader::new(source, config.read_chunk))
}

/// Whether `name` describes the content (`Content-Type`, `Content-Length`, …) or how it
/// is framed (`Transfer-Encoding`).
fn is_content_field(name: &HeaderName) -> bool {
    name.as_str().starts_with("content-") || name == TRANSFER_ENCODING
}

/// Keeps only the fields whose name passes `keep`.
fn retain(headers: &mut HeaderMap, keep: impl Fn(&HeaderName) -> bool) {
    let names: Vec<HeaderName> = headers.keys().filter(|n| !keep(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

fn set_length(headers: &mut HeaderMap, length: HeaderValue) {
    headers.remove(TRANSFER_ENCODING);
    // One value is replaced in place: `insert` may grow a full map even for a key it
    // holds, an allocation per response. Several values (all equal) all go.
    if field::single(headers.get_all(CONTENT_LENGTH)).is_some() {
        if let Some(value) = headers.get_mut(CONTENT_LENGTH) {
            *value = length;
        }
    } else {
        headers.insert(CONTENT_LENGTH, length);
    }
}

/// `Content-Range: bytes first-last/len` and `Content-Length` of one range, in one
/// allocation between them. The digits are written by hand: through `fmt` they cost
/// more than the rest of the layer's work on a `206`.
fn single_range_values(range: ByteRange, len: u64) -> [HeaderValue; 2] {
    let mut buf = BytesMut::with_capacity(96);
    buf.put_slice(b"bytes ");
    put_decimal(&mut buf, range.start);
    buf.put_u8(b'-');
    put_decimal(&mut buf, range.last());
    buf.put_u8(b'/');
    put_decimal(&mut buf, len);
    let content_range_end = buf.len();
    put_decimal(&mut buf, range.len());
    let end = buf.len();
    header_values(buf, [content_range_end, end])
}

/// Appends `n` in decimal.
fn put_decimal(buf: &mut BytesMut, n: u64) {
    buf.put_slice(range::decimal(n, &mut [0; 20]));
}

/// Header values written one after another into `buf`, each ending at its offset in
/// `ends`: one allocation between them.
fn header_values<const N: usize>(mut buf: BytesMut, ends: [usize; N]) -> [HeaderValue; N] {
    let mut start = 0;
    ends.map(|end| {
        let value = buf.split_to(end - start).freeze();
        start = end;
        HeaderValue::from_maybe_shared(value).expect("the layer writes only visible ASCII")
    })
}

#[cfg(test)]
mod tests {
    use super::single_range_values;
    use crate::range::ByteRange;

    #[test]
    fn hand_written_digits_read_as_fmt_writes_them() {
        for (start, end, len) in [
            (0, 1, 1),
            (0, 10, 10),
            (9, 10, 10),
            (1234, 5679, 1 << 40),
            (u64::MAX - 2, u64::MAX - 1, u64::MAX),
        ] {
            let [content_range, length] = single_range_values(ByteRange { start, end }, len);
            assert_eq!(content_range, format!("bytes {start}-{}/{len}", end - 1));
            assert_eq!(length, format!("{}", end - start));
        }
    }
}
