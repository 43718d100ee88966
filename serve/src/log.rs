//! One log event per request, when its response body is done: method, path, HTTP
//! version, `Range`, status, bytes sent and duration, at `info` level on the
//! `serve::request` target.
//!
//! It wraps the ranged service, so it sees the request's `Range` as the client sent it,
//! and the status and bytes the client got.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::header::RANGE;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use tower::Service;

use crate::in_flight::{Answering, InFlight};

/// The service of one connection, with its requests counted and logged.
#[derive(Clone, Debug)]
pub(crate) struct RequestLog<S> {
    inner: S,
    in_flight: Arc<InFlight>,
}

impl<S> RequestLog<S> {
    pub(crate) const fn new(inner: S, in_flight: Arc<InFlight>) -> Self {
        Self { inner, in_flight }
    }
}

/// What is known of a request when its response is done.
#[derive(Debug)]
struct Entry {
    method: Method,
    version: Version,
    path: String,
    range: Option<String>,
    status: StatusCode,
    start: Instant,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestLog<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
{
    type Response = Response<Logged<ResBody>>;
    type Error = S::Error;
    type Future = LogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Strings only when the event will be written.
        let entry = tracing::enabled!(target: "serve::request", tracing::Level::INFO).then(|| {
            let range = req.headers().get(RANGE);
            Entry {
                method: req.method().clone(),
                version: req.version(),
                path: req.uri().path().to_owned(),
                range: range.map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned()),
                status: StatusCode::OK,
                start: Instant::now(),
            }
        });
        LogFuture {
            inner: self.inner.call(req),
            started: Some((entry, self.in_flight.start())),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's response, with its body wrapped in [`Logged`].
    pub(crate) struct LogFuture<F> {
        #[pin]
        inner: F,
        started: Option<(Option<Entry>, Answering)>,
    }
}

impl<F, B, E> Future for LogFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<Logged<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let (entry, answering) = this.started.take().expect("polled after completion");
        let entry = entry.map(|entry| Entry {
            status: res.status(),
            ..entry
        });
        Poll::Ready(Ok(res.map(|inner| Logged {
            // A `HEAD`, `304` or `416` body is never polled: it is complete from the start.
            complete: inner.is_end_stream(),
            inner,
            sent: 0,
            entry,
            answering,
        })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts the bytes it yields and logs the request when it
    /// is dropped: after its last byte, or when the connection went away first.
    pub(crate) struct Logged<B> {
        #[pin]
        inner: B,
        sent: u64,
        // Whether the body yielded its end.
        complete: bool,
        entry: Option<Entry>,
        // Also tells the connection's deadlines whether the response waits for the
        // client.
        answering: Answering,
    }

    impl<B> PinnedDrop for Logged<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(e) = this.entry.take() {
                tracing::info!(
                    target: "serve::request",
                    method = %e.method,
                    path = %e.path,
                    version = ?e.version,
                    range = ?e.range,
                    status = e.status.as_u16(),
                    bytes = *this.sent,
                    complete = *this.complete,
                    micros = e.start.elapsed().as_micros(),
                );
            }
        }
    }
}

impl<B: Body> Body for Logged<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        this.answering.asked();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                this.answering.gave();
                *this.sent += frame
                    .data_ref()
                    .map_or(0, |d| bytes::Buf::remaining(d) as u64);
                *this.complete = this.inner.is_end_stream();
            }
            Some(Err(_)) => {}
            None => *this.complete = true,
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
