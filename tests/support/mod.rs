//! Shared helpers: a scripted inner body, a configurable inner service, a real hyper
//! server on 127.0.0.1, and a raw HTTP/1.1 client.
#![allow(dead_code)]

#[cfg(feature = "object-store")]
mod store;
mod wire;

#[cfg(feature = "object-store")]
#[allow(unused_imports)]
pub use store::*;
pub use wire::*;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};
use tower_range::RangeLayer;

/// What a [`Scripted`] body yields, frame by frame.
#[derive(Clone, Debug)]
pub enum Step {
    Data(Bytes),
    Trailers(HeaderMap),
    Fail,
    Pending,
}

/// Counters shared between a test and the bodies it handed out.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub polls: Arc<AtomicUsize>,
    pub bytes: Arc<AtomicUsize>,
    pub dropped: Arc<AtomicBool>,
}

impl Probe {
    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::SeqCst)
    }
    pub fn dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst)
    }
}

/// An inner body that plays a script, counts its polls and the bytes it produced, and
/// notices its drop. With `endless`, it repeats its data frames forever.
#[derive(Debug)]
pub struct Scripted {
    steps: VecDeque<Step>,
    endless: Option<Bytes>,
    hint: SizeHint,
    probe: Probe,
}

impl Scripted {
    /// `data` cut into frames of `chunk` bytes, with an exact size hint.
    pub fn chunked(data: &Bytes, chunk: usize, probe: &Probe) -> Self {
        let steps = chunks(data, chunk).into_iter().map(Step::Data).collect();
        Self::new(steps, Some(data.len() as u64), probe)
    }

    pub fn new(steps: VecDeque<Step>, exact: Option<u64>, probe: &Probe) -> Self {
        let mut hint = SizeHint::new();
        if let Some(exact) = exact {
            hint.set_exact(exact);
        }
        Self {
            steps,
            endless: None,
            hint,
            probe: probe.clone(),
        }
    }

    /// Repeats `frame` forever, claiming an exact size of `claimed`.
    pub fn endless(frame: Bytes, claimed: u64, probe: &Probe) -> Self {
        let mut body = Self::new(VecDeque::new(), Some(claimed), probe);
        body.endless = Some(frame);
        body
    }
}

pub fn chunks(data: &Bytes, chunk: usize) -> Vec<Bytes> {
    (0..data.len())
        .step_by(chunk.max(1))
        .map(|i| data.slice(i..(i + chunk.max(1)).min(data.len())))
        .collect()
}

impl Body for Scripted {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.probe.polls.fetch_add(1, Ordering::SeqCst);
        if let Some(frame) = self.endless.clone() {
            self.probe.bytes.fetch_add(frame.len(), Ordering::SeqCst);
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        match self.steps.pop_front() {
            None => Poll::Ready(None),
            Some(Step::Data(data)) => {
                self.probe.bytes.fetch_add(data.len(), Ordering::SeqCst);
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Some(Step::Trailers(t)) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            Some(Step::Fail) => Poll::Ready(Some(Err(io::Error::other("inner body failed")))),
            Some(Step::Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.probe.dropped.store(true, Ordering::SeqCst);
    }
}

/// A range-unaware inner service: answers every request with `data` in frames of
/// `chunk` bytes, and the status and headers it was given.
#[derive(Clone, Debug)]
pub struct Inner {
    pub data: Bytes,
    pub chunk: usize,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub probe: Probe,
    /// Whether the body reports its exact size.
    pub sized: bool,
    /// Whether a `HEAD` gets an empty body (with `Content-Length` set) instead of the
    /// whole body.
    pub empty_head: bool,
    /// Requests seen by the inner service, as header maps.
    pub seen: Arc<std::sync::Mutex<Vec<HeaderMap>>>,
}

impl Inner {
    pub fn new(data: Bytes) -> Self {
        Self {
            data,
            chunk: 4096,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            probe: Probe::default(),
            sized: true,
            empty_head: false,
            seen: Arc::default(),
        }
    }

    pub fn chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk;
        self
    }

    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn header(mut self, name: HeaderName, value: &'static str) -> Self {
        self.headers.append(name, HeaderValue::from_static(value));
        self
    }

    pub fn unknown_size(mut self) -> Self {
        self.sized = false;
        self
    }

    pub fn empty_head(mut self) -> Self {
        self.empty_head = true;
        self
    }

    pub fn body(&self) -> Scripted {
        let steps = chunks(&self.data, self.chunk)
            .into_iter()
            .map(Step::Data)
            .collect();
        let exact = self.sized.then_some(self.data.len() as u64);
        Scripted::new(steps, exact, &self.probe)
    }
}

impl<B> Service<Request<B>> for Inner {
    type Response = Response<Scripted>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Scripted>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.seen.lock().unwrap().push(req.headers().clone());
        let body = if self.empty_head && req.method() == http::Method::HEAD {
            Scripted::new(VecDeque::new(), Some(0), &self.probe)
        } else {
            self.body()
        };
        let mut res = Response::new(body);
        if self.empty_head {
            res.headers_mut()
                .insert(http::header::CONTENT_LENGTH, self.data.len().into());
        }
        *res.status_mut() = self.status;
        res.headers_mut().extend(self.headers.clone());
        ready(Ok(res))
    }
}

/// Serves `svc` over HTTP/1.1 on an ephemeral port of 127.0.0.1 until the test ends.
pub async fn serve<S, B>(svc: S) -> SocketAddr
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: std::error::Error + Send + Sync + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = svc.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Serves `inner` wrapped in `layer`.
pub async fn serve_ranged(layer: RangeLayer, inner: Inner) -> SocketAddr {
    serve(layer.layer(inner)).await
}

/// Sends one request as raw bytes, with `Connection: close`, and reads the reply.
pub async fn request(addr: SocketAddr, method: &str, headers: &[(&str, &str)]) -> Reply {
    request_to(addr, method, "/file", headers).await
}

pub async fn get(addr: SocketAddr, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", headers).await
}

pin_project_lite::pin_project! {
    /// Wraps any body and counts the data bytes it yields into `probe.bytes`.
    pub struct Counted<B> {
        #[pin]
        inner: B,
        probe: Probe,
    }
}

impl<B> Counted<B> {
    pub fn new(inner: B, probe: &Probe) -> Self {
        Self {
            inner,
            probe: probe.clone(),
        }
    }
}

impl<B: Body> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        this.probe.polls.fetch_add(1, Ordering::SeqCst);
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if let Some(Ok(Some(data))) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
            let n = bytes::Buf::remaining(data);
            this.probe.bytes.fetch_add(n, Ordering::SeqCst);
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
