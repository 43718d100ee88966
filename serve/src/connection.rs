//! One connection: hyper's settings, and the deadlines that keep a slow or silent client
//! from holding a connection, its file handles and its buffers for ever.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::Watcher;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::coalesce::{self, Turn};
use crate::in_flight::InFlight;
use crate::log::RequestLog;

/// How long a client may keep the server waiting; see the flags in `main.rs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// From the first byte of a request head (or from the connection's start, for its
    /// first request) to the end of the head.
    pub(crate) header: Duration,
    /// Between the end of one response and the first byte of the next request.
    pub(crate) idle: Duration,
    /// While the client takes none of the bytes the server is sending: the socket
    /// refuses them, or a response waits for room in HTTP/2's flow-control window.
    pub(crate) send: Duration,
}

/// What a connection is served with: a service of hyper's requests, cloned for each
/// HTTP/2 stream, whose responses have bodies of `Bytes`.
pub(crate) trait Handler:
    Service<Request<Incoming>, Response = Response<Self::Body>, Error = Infallible, Future: Send>
    + Clone
    + Send
    + 'static
{
    type Body: Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static;
}

impl<S, B> Handler for S
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Body = B;
}

/// Serves one connection until the client leaves, a deadline passes, or `watcher`
/// says the server is shutting down: HTTP/1.1 or HTTP/2 (prior knowledge) on plain
/// TCP, or over TLS with `tls`, where ALPN chooses.
pub(crate) async fn serve<S: Handler>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    service: S,
    limits: Limits,
    watcher: Watcher,
) {
    let in_flight = Arc::new(InFlight::new());
    // Beneath TLS, so the handshake has the header deadline too.
    let io = Deadlines::new(stream, limits, in_flight.clone());
    let service = RequestLog::new(service, in_flight);
    match tls {
        None => serve_http(io, service, watcher).await,
        Some(acceptor) => match acceptor.accept(io).await {
            Ok(io) => serve_http(io, service, watcher).await,
            Err(err) => tracing::debug!(error = %err, "TLS handshake failed"),
        },
    }
}

/// Serves HTTP/1.1 or HTTP/2 on `io`, whichever the client speaks.
async fn serve_http<IO, S>(io: IO, service: RequestLog<S>, watcher: Watcher)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Handler,
{
    let service = TowerToHyperService::new(service);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Bound what hyper queues for a slow reader (its default is about 400 KiB): hyper
    // then asks the body for more only once the previous chunk has gone to the kernel,
    // so a paused client holds one 32 KiB read_chunk in this process, and the rest
    // waits in the kernel's socket buffers. This also caps request heads at 32 KiB.
    builder.http1().max_buf_size(32 * 1024);
    // The same bound for each HTTP/2 stream (its default is also about 400 KiB). hyper
    // polls a stream's next chunk before it waits for room in `h2` and holds it
    // meanwhile, so with a bound of one frame `h2` takes the next chunk only once the
    // last has gone out in frames: a paused stream holds two chunks, not three.
    builder.http2().max_send_buf_size(16 * 1024);
    // What holds HTTP/2's abuse in check (tests/h2_abuse.rs), hyper's or h2's defaults
    // but stated here, since hyper leaves them free to change. A client may have 200
    // streams open, each holding at most a file and two chunks, for at most the send
    // deadline if it takes nothing.
    builder.http2().max_concurrent_streams(200);
    // Rapid reset (CVE-2023-44487): past 20 streams that the client opens and resets
    // before hyper has taken them, GOAWAY(ENHANCE_YOUR_CALM).
    builder.http2().max_pending_accept_reset_streams(20);
    // Request heads of at most 16 KiB (h2's own default is 16 MiB). h2 takes as many
    // CONTINUATION frames per head as that needs, with some slack and at least 5, then
    // sends GOAWAY(ENHANCE_YOUR_CALM): a head that never ends costs a few frames.
    builder.http2().max_header_list_size(16 * 1024);
    let (io, drain) = coalesce::gather(io);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(err) = Turn::new(watcher.watch(conn), drain).await {
        tracing::debug!(error = %err, "connection closed");
    }
}

/// Logs an error of `accept` and waits before the next when waiting helps.
///
/// An error about one connection (reset or aborted before it was accepted) concerns a
/// client that has gone: accept the next at once. Anything else (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM) means the process or the system ran out of something, and would
/// fail again at once; the connection waits in the kernel's queue meanwhile, and is
/// accepted once a descriptor is free.
pub(crate) async fn accept_error(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        tracing::debug!(error = %err, "accept");
    } else {
        tracing::warn!(error = %err, "accept failed; retrying in 100 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pin_project_lite::pin_project! {
    /// A connection's byte stream, with its deadlines: while no request is being
    /// answered, a read that waits past the header or idle deadline fails; a write that
    /// waits past the send deadline fails, and so does a read while a response has
    /// waited that long for the client to take its next chunk (an HTTP/2 client that
    /// never opens a stream's window refuses nothing the socket sees). hyper then
    /// closes the connection and drops the response bodies, with their file handles
    /// and buffers.
    ///
    /// hyper's own `header_read_timeout` runs one timer from the end of a response to
    /// the end of the next head, so it cannot tell a slow head from an idle client.
    struct Deadlines<T> {
        #[pin]
        io: T,
        limits: Limits,
        in_flight: Arc<InFlight>,
        // How many requests had started when last looked at.
        started: usize,
        // Whether bytes of the next request head have arrived.
        head_started: bool,
        // When waiting to read fails, while no request is being answered.
        read_deadline: Option<Instant>,
        // When to look for a response waiting for the client, while answering.
        stall_check: Option<Instant>,
        read_timer: Pin<Box<Sleep>>,
        // When waiting to write fails.
        write_deadline: Option<Instant>,
        write_timer: Pin<Box<Sleep>>,
    }
}

impl<T> Deadlines<T> {
    fn new(io: T, limits: Limits, in_flight: Arc<InFlight>) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        Self {
            io,
            limits,
            in_flight,
            started: 0,
            head_started: false,
            read_deadline: None,
            stall_check: None,
            read_timer: Box::pin(sleep_until(far)),
            write_deadline: None,
            write_timer: Box::pin(sleep_until(far)),
        }
    }
}

/// Whether `deadline` has passed, arming `timer` to wake the task when it does.
///
/// The clock says whether it has passed, not the timer: a timer answers `Pending`
/// once the task has spent its cooperative budget, which a client whose bytes never
/// stop coming makes it do on every turn (the socket's reads spend it first).
fn expired(timer: &mut Pin<Box<Sleep>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    if Instant::now() >= deadline {
        return true;
    }
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    let _ = timer.as_mut().poll(cx);
    false
}

impl<T: AsyncRead> AsyncRead for Deadlines<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let (started, busy) = this.in_flight.load();
        if started != *this.started {
            // A request arrived since the last read: the next head is a new wait.
            *this.started = started;
            *this.head_started = false;
            *this.read_deadline = None;
        }
        if busy {
            // Answering: reading the next request can wait; the send deadline guards.
            *this.read_deadline = None;
            if let Poll::Ready(result) = this.io.poll_read(cx, buf) {
                return Poll::Ready(result);
            }
            // Look for a stalled response each time the oldest wait could have run
            // out, and at least once per send deadline.
            let send = this.limits.send;
            let check = *this
                .stall_check
                .get_or_insert_with(|| Instant::now() + send);
            if expired(this.read_timer, check, cx) {
                let now = Instant::now();
                let next = match this.in_flight.longest_wait().map(Instant::from_std) {
                    Some(since) if since + send <= now => {
                        let err = "client took none of a response in time";
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, err)));
                    }
                    Some(since) => since + send,
                    None => now + send,
                };
                *this.stall_check = Some(next);
                // Arms the timer for the next look.
                let _ = expired(this.read_timer, next, cx);
            }
            return Poll::Pending;
        }
        *this.stall_check = None;
        let served = *this.started > 0;
        let before = buf.filled().len();
        match this.io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && !*this.head_started {
                    // The first bytes of a head: the whole head has `header` to arrive.
                    *this.head_started = true;
                    *this.read_deadline = Some(Instant::now() + this.limits.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                let wait = if served && !*this.head_started {
                    this.limits.idle
                } else {
                    this.limits.header
                };
                let deadline = *this
                    .read_deadline
                    .get_or_insert_with(|| Instant::now() + wait);
                if expired(this.read_timer, deadline, cx) {
                    let what = if *this.head_started || !served {
                        "request head not received in time"
                    } else {
                        "idle connection"
                    };
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite> Deadlines<T> {
    /// Passes on a write's result, failing it once the client has taken nothing for
    /// the send deadline.
    fn guard<R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let this = self.project();
        match write(this.io, cx) {
            Poll::Ready(result) => {
                *this.write_deadline = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let send = this.limits.send;
                let deadline = *this
                    .write_deadline
                    .get_or_insert_with(|| Instant::now() + send);
                if expired(this.write_timer, deadline, cx) {
                    let err = io::Error::new(io::ErrorKind::TimedOut, "client stopped reading");
                    return Poll::Ready(Err(err));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite> AsyncWrite for Deadlines<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, AsyncWrite::poll_flush)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, AsyncWrite::poll_shutdown)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// A socket that gives the first bytes of a request head, then has more bytes
    /// each time than the task can take: every read spends the task's cooperative
    /// budget, and then waits.
    struct Flooding {
        started: bool,
    }

    impl AsyncRead for Flooding {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if !self.started {
                self.started = true;
                buf.put_slice(b"GET");
                return Poll::Ready(Ok(()));
            }
            while let Poll::Ready(progress) = tokio::task::coop::poll_proceed(cx) {
                progress.made_progress();
            }
            Poll::Pending
        }
    }

    /// One poll of a read.
    async fn read(io: &mut Deadlines<Flooding>) -> Poll<io::Result<()>> {
        let mut storage = [0; 16];
        let mut buf = ReadBuf::new(&mut storage);
        poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_read(cx, &mut buf))).await
    }

    #[tokio::test]
    async fn the_header_deadline_holds_when_reads_spend_the_tasks_budget() {
        let limit = Duration::from_millis(20);
        let limits = Limits {
            header: limit,
            idle: limit,
            send: limit,
        };
        let in_flight = Arc::new(InFlight::new());
        let mut io = Deadlines::new(Flooding { started: false }, limits, in_flight);
        assert!(matches!(read(&mut io).await, Poll::Ready(Ok(()))));
        tokio::time::sleep(limit * 2).await;
        let late = read(&mut io).await;
        assert!(
            matches!(&late, Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::TimedOut),
            "the head's deadline has passed: {late:?}"
        );
    }
}
