//! HTTP/2's writes gathered into one per turn of the connection's task.
//!
//! The `h2` crate writes each `DATA` frame with a `writev` of its own and flushes after
//! it (hyperium/h2#903): at the 16 KiB frames that browsers and most clients ask for,
//! that is twice the writes and packets of HTTP/1.1 for the same bytes, and on loopback
//! the cost of a write is mostly per call, not per byte. So on a connection that opens
//! with HTTP/2's preface, [`Gathered`] copies what hyper writes into one buffer, a
//! flush leaves it there, and [`Turn`], around the connection's future, writes the
//! buffer out each time that future has been polled: one `write` for all the frames
//! that one turn made, then a flush of the stream beneath (TLS keeps what the socket
//! refused until flushed). Everything buffered is written before the task waits, so no
//! frame waits for a later one. HTTP/1.1, which already writes a head and a body chunk
//! together, is passed through untouched; so is a connection until its first bytes
//! have told the two apart.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes gathered before they are written without waiting for the turn's end,
/// and held while the client takes nothing (one per connection, not per stream).
const CAPACITY: usize = 64 * 1024;

/// How an HTTP/2 connection begins (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Wraps a connection's byte stream: `io` for hyper, `Turn::new` for the task.
pub(crate) fn gather<T>(io: T) -> (Gathered<T>, Drain<T>) {
    let shared = Arc::new(Mutex::new(Shared {
        io,
        buf: BytesMut::new(),
        blocked: false,
        http2: None,
        matched: 0,
    }));
    (Gathered(shared.clone()), Drain(shared))
}

struct Shared<T> {
    io: T,
    // Bytes written by hyper and not yet by the socket.
    buf: BytesMut,
    // Whether the last attempt to write `buf` out left some of it.
    blocked: bool,
    // Whether the connection speaks HTTP/2, once its first bytes have been read.
    http2: Option<bool>,
    // How many of the connection's first bytes matched the preface, while undecided.
    matched: usize,
}

impl<T: AsyncWrite + Unpin> Shared<T> {
    /// Writes out what is buffered, and flushes the stream beneath: TLS takes bytes
    /// into its own buffer and sends what the socket refused only when written to
    /// again or flushed.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buf.is_empty() && !self.blocked {
            // A turn that wrote nothing: an idle connection holds no buffer.
            self.buf = BytesMut::new();
            return Poll::Ready(Ok(()));
        }
        while self.buf.has_remaining() {
            match Pin::new(&mut self.io).poll_write(cx, self.buf.chunk()) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.buf.advance(n),
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    // The client is behind: `buf` keeps what it has yet to take, its
                    // start moved past the rest without a copy.
                    self.blocked = true;
                    return Poll::Pending;
                }
            }
        }
        // The allocation is kept for the next turn while the connection is sending:
        // the next write into the empty buffer moves its start back to the beginning.
        self.blocked = Pin::new(&mut self.io).poll_flush(cx)?.is_pending();
        if self.blocked {
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn gathering(&self) -> bool {
        self.http2 == Some(true)
    }
}

impl<T> Shared<T> {
    /// Decides the protocol from the connection's first bytes, `read` being the next
    /// of them: HTTP/2 once the whole preface has come, HTTP/1.1 at the first byte
    /// that differs from it (a `POST` begins as the preface does).
    fn sniff(&mut self, read: &[u8]) {
        let expected = &PREFACE[self.matched..];
        let n = read.len().min(expected.len());
        if read[..n] != expected[..n] {
            self.http2 = Some(false);
        } else {
            self.matched += n;
            if self.matched == PREFACE.len() {
                self.http2 = Some(true);
            }
        }
    }
}

/// The connection's byte stream as hyper sees it.
pub(crate) struct Gathered<T>(Arc<Mutex<Shared<T>>>);

/// The other end of a [`Gathered`] stream: what [`Turn`] writes out.
pub(crate) struct Drain<T>(Arc<Mutex<Shared<T>>>);

fn lock<T>(shared: &Mutex<Shared<T>>) -> MutexGuard<'_, Shared<T>> {
    // A panic while the lock was held left at worst a buffer half written, which the
    // client sees as a broken connection; nothing here can be left inconsistent.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: AsyncRead + Unpin> AsyncRead for Gathered<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.0);
        let before = buf.filled().len();
        ready!(Pin::new(&mut shared.io).poll_read(cx, buf))?;
        if shared.http2.is_none() {
            shared.sniff(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Gathered<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut shared = lock(&self.0);
        if !shared.gathering() {
            return Pin::new(&mut shared.io).poll_write_vectored(cx, bufs);
        }
        if shared.blocked {
            // The client is not keeping up: take nothing more until it has taken what
            // is here, so a stalled connection holds what one turn wrote, not more.
            ready!(shared.poll_drain(cx))?;
        }
        let len = bufs.iter().map(|buf| buf.len()).sum::<usize>();
        if shared.buf.len() + len > CAPACITY {
            ready!(shared.poll_drain(cx))?;
            if len >= CAPACITY {
                return Pin::new(&mut shared.io).poll_write_vectored(cx, bufs);
            }
        }
        // The buffer is empty here, or none of it has gone out yet (a partial write
        // blocks what follows until all of it is out): this allocates CAPACITY once,
        // and later moves the empty buffer's start back rather than grow it.
        let room = CAPACITY - shared.buf.len();
        shared.buf.reserve(room);
        for buf in bufs {
            shared.buf.extend_from_slice(buf);
        }
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        let shared = lock(&self.0);
        shared.gathering() || shared.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.0);
        if shared.gathering() {
            // The turn's end writes it, with whatever else this turn writes.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut shared.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = lock(&self.0);
        ready!(shared.poll_drain(cx))?;
        Pin::new(&mut shared.io).poll_shutdown(cx)
    }
}

pin_project_lite::pin_project! {
    /// A connection's future that writes out what each poll of it gathered, before
    /// the task waits; it finishes once the last bytes are written, and fails the
    /// connection (dropping it) if they cannot be.
    pub(crate) struct Turn<F, T>
    where
        F: Future,
    {
        #[pin]
        conn: F,
        drain: Drain<T>,
        // The connection's result, while its last bytes are still being written.
        done: Option<F::Output>,
    }
}

impl<F: Future, T> Turn<F, T> {
    pub(crate) fn new(conn: F, drain: Drain<T>) -> Self {
        Self {
            conn,
            drain,
            done: None,
        }
    }
}

impl<F, T, E> Future for Turn<F, T>
where
    F: Future<Output = Result<(), E>>,
    T: AsyncWrite + Unpin,
    E: From<io::Error>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if this.done.is_none() {
            if let Poll::Ready(result) = this.conn.poll(cx) {
                *this.done = Some(result);
            }
        }
        ready!(lock(&this.drain.0).poll_drain(cx))?;
        match this.done.take() {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    const HTTP1: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    /// What a socket was asked to do.
    #[derive(Default)]
    struct Log {
        writes: Vec<usize>,
        bytes: Vec<u8>,
        // How many more bytes the socket takes before it is full; `None`: no limit.
        room: Option<usize>,
        fail: bool,
        // As TLS does: writes are taken into `held`, and reach `bytes` when flushed.
        holds: bool,
        held: Vec<u8>,
    }

    /// A socket whose reads yield `reads` one by one, and which records its writes.
    struct Socket {
        reads: Vec<&'static [u8]>,
        log: Arc<Mutex<Log>>,
    }

    impl AsyncRead for Socket {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if !self.reads.is_empty() {
                buf.put_slice(self.reads.remove(0));
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let mut log = self.log.lock().unwrap();
            if log.fail {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            let n = buf.len().min(log.room.unwrap_or(usize::MAX));
            if n == 0 {
                return Poll::Pending;
            }
            if let Some(room) = &mut log.room {
                *room -= n;
            }
            log.writes.push(n);
            if log.holds {
                log.held.extend_from_slice(&buf[..n]);
            } else {
                log.bytes.extend_from_slice(&buf[..n]);
            }
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            // One call, as writev: enough for these tests, whose socket is never full
            // while writes pass through.
            let all: Vec<u8> = bufs.iter().flat_map(|buf| buf.iter().copied()).collect();
            self.poll_write(cx, &all)
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            let mut log = self.log.lock().unwrap();
            let held = std::mem::take(&mut log.held);
            log.bytes.extend(held);
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A connection whose first bytes come in `reads`, all read.
    fn connection(reads: &[&'static [u8]]) -> (Gathered<Socket>, Drain<Socket>, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let (mut io, drain) = gather(Socket {
            reads: reads.to_vec(),
            log: log.clone(),
        });
        let mut cx = Context::from_waker(std::task::Waker::noop());
        for _ in reads {
            let mut storage = [0; 64];
            let mut buf = ReadBuf::new(&mut storage);
            assert!(Pin::new(&mut io).poll_read(&mut cx, &mut buf).is_ready());
        }
        (io, drain, log)
    }

    /// Frame `byte`: a 9-byte head and 16 KiB of payload, all `byte`.
    fn frame(byte: u8) -> ([u8; 9], Vec<u8>) {
        ([byte; 9], vec![byte; 16 * 1024])
    }

    /// The bytes of frames `0..frames`.
    fn frames(frames: u8) -> Vec<u8> {
        (0..frames)
            .flat_map(|byte| {
                let (head, payload) = frame(byte);
                [head.to_vec(), payload].concat()
            })
            .collect()
    }

    /// Writes frames `0..frames`, each followed by a flush, as `h2` does.
    async fn write_frames(io: &mut Gathered<Socket>, frames: u8) -> io::Result<()> {
        for byte in 0..frames {
            let (head, payload) = frame(byte);
            let slices = [io::IoSlice::new(&head), io::IoSlice::new(&payload)];
            let n = poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, &slices)).await?;
            assert_eq!(n, head.len() + payload.len());
            poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await?;
        }
        Ok(())
    }

    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        future.poll(&mut cx)
    }

    /// Writes three frames in one turn on a connection whose first bytes come in
    /// `reads`, checks what reached the socket, and returns the socket's writes.
    fn one_turn_of_three_frames(reads: &[&'static [u8]]) -> Vec<usize> {
        let (mut io, drain, log) = connection(reads);
        let conn = write_frames(&mut io, 3);
        let mut turn = std::pin::pin!(Turn::new(conn, drain));
        assert!(matches!(poll(turn.as_mut()), Poll::Ready(Ok(()))));
        let log = log.lock().unwrap();
        assert_eq!(log.bytes, frames(3));
        log.writes.clone()
    }

    const GATHERED: [usize; 1] = [3 * (9 + 16 * 1024)];
    const PASSED_THROUGH: [usize; 3] = [9 + 16 * 1024; 3];

    #[test]
    fn one_write_for_the_frames_of_a_turn() {
        assert_eq!(one_turn_of_three_frames(&[PREFACE]), GATHERED);
    }

    #[test]
    fn http1_is_passed_through() {
        assert_eq!(one_turn_of_three_frames(&[HTTP1]), PASSED_THROUGH);
    }

    #[test]
    fn the_preface_may_come_in_pieces_and_a_post_is_not_taken_for_it() {
        assert_eq!(
            one_turn_of_three_frames(&[b"PRI", b" * HTTP/2.0\r\n"]),
            GATHERED
        );
        assert_eq!(
            one_turn_of_three_frames(&[b"P", b"OST / HTTP/1.1\r\n"]),
            PASSED_THROUGH
        );
    }

    #[test]
    fn what_tls_holds_beneath_is_flushed_at_the_turns_end() {
        let (mut io, drain, log) = connection(&[PREFACE]);
        log.lock().unwrap().holds = true;
        let conn = write_frames(&mut io, 3);
        let mut turn = std::pin::pin!(Turn::new(conn, drain));
        assert!(matches!(poll(turn.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(log.lock().unwrap().bytes, frames(3));
    }

    #[test]
    fn a_stalled_client_holds_one_turn() {
        let (mut io, drain, log) = connection(&[PREFACE]);
        log.lock().unwrap().room = Some(10_000);
        let conn = write_frames(&mut io, 8);
        let mut turn = std::pin::pin!(Turn::new(conn, drain));
        // The first turn gathers what fits (three frames), and the socket takes some.
        assert!(poll(turn.as_mut()).is_pending());
        assert_eq!(log.lock().unwrap().bytes.len(), 10_000);
        // While the client takes nothing, nothing more is gathered.
        assert!(poll(turn.as_mut()).is_pending());
        let held = |turn: &Pin<&mut Turn<_, Socket>>| lock(&turn.drain.0).buf.len();
        assert_eq!(held(&turn), 3 * (9 + 16 * 1024) - 10_000);
        // Once it reads, the rest goes out, byte for byte.
        log.lock().unwrap().room = None;
        assert!(matches!(poll(turn.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(held(&turn), 0);
        let log = log.lock().unwrap();
        assert_eq!(log.bytes, frames(8));
    }

    #[test]
    fn a_failed_write_fails_the_connection() {
        let (mut io, drain, log) = connection(&[PREFACE]);
        log.lock().unwrap().fail = true;
        let conn = async {
            write_frames(&mut io, 1).await?;
            // The connection goes on waiting for the client.
            std::future::pending::<io::Result<()>>().await
        };
        let mut turn = std::pin::pin!(Turn::new(conn, drain));
        let result = poll(turn.as_mut());
        assert!(matches!(result, Poll::Ready(Err(err)) if err.kind() == io::ErrorKind::BrokenPipe));
    }
}
