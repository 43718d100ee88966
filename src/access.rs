//! [`RandomAccess`]: storage that streams any range of a representation; and
//! [`RangeStream`], the bytes of one range.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::error::BoxError;
use crate::sync_wrapper::SyncWrapper;

/// Storage that can stream any range of a representation's bytes: an object store, a
/// remote API with ranged reads, data made on demand.
///
/// Implement it for your storage and hand it to [`RangeSource::new`]. The layer asks
/// for each range it sends (each part of a multipart response, or the whole
/// representation for a `200`) with one call to
/// [`read_range`](RandomAccess::read_range), and polls the stream only as the client
/// reads: a store's ranged `GET` is one call, streamed.
///
/// Like `object_store`'s traits, it takes `&self` and is shared by every response that
/// reads the storage; the stream it returns owns what it needs (clone an `Arc` into
/// it). Files and bytes in memory need no implementation: see
/// [`RangeSource::file`] and [`RangeSource::bytes`].
///
/// [`RangeSource::new`]: crate::RangeSource::new
/// [`RangeSource::file`]: crate::RangeSource::file
/// [`RangeSource::bytes`]: crate::RangeSource::bytes
///
/// # Example
///
/// Storage with a cost per request streams each range from one request, sent when the
/// stream is first polled:
///
/// ```
/// use std::ops::Range;
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use tower_range::{RandomAccess, RangeSource, RangeStream};
///
/// /// A client of a remote store; a real one would stream the answer's body.
/// struct Client;
///
/// impl Client {
///     async fn get(&self, _key: &str, range: Range<u64>) -> std::io::Result<Bytes> {
///         Ok(Bytes::from(vec![b'x'; (range.end - range.start) as usize]))
///     }
/// }
///
/// /// One object of the store.
/// struct Object {
///     client: Arc<Client>,
///     key: String,
/// }
///
/// impl RandomAccess for Object {
///     fn read_range(&self, range: Range<u64>) -> RangeStream {
///         let (client, key) = (Arc::clone(&self.client), self.key.clone());
///         let get = async move { client.get(&key, range).await };
///         RangeStream::new(futures_util::stream::once(get))
///     }
/// }
///
/// let object = Object { client: Arc::new(Client), key: "videos/clip.mp4".into() };
/// let source = RangeSource::new(object, 1 << 30);
/// assert_eq!(source.len(), 1 << 30);
/// ```
///
/// Storage read by offset and length in steps, see [`RangeStream::chunked`].
pub trait RandomAccess: Send + Sync + 'static {
    /// Streams the bytes of `range`, in order.
    ///
    /// The stream does nothing before it is first polled, and reads only as it is
    /// polled: the layer polls it as the client reads, and drops it when the client
    /// goes. Items may have any size; empty ones are skipped, and bytes past
    /// `range.end` are cut off. Ending before `range.end`, or an error, makes the
    /// response fail (an aborted transfer, with
    /// [`RangeBodyError::UnexpectedEnd`](crate::RangeBodyError::UnexpectedEnd) or the
    /// error), never end short.
    ///
    /// The layer asks only for ranges within the length given to
    /// [`RangeSource::new`](crate::RangeSource::new).
    fn read_range(&self, range: Range<u64>) -> RangeStream;

    /// How many parts of a `multipart/byteranges` response, after the one being sent,
    /// the layer may read ahead: their streams are opened and polled while the current
    /// part goes out, so that their first bytes wait for the client instead of the client
    /// waiting for them.
    ///
    /// Defaults to 0: one part at a time, which is right for storage that answers at
    /// once (memory, a local disk). Storage whose every read starts with a round trip (an
    /// object store's `GET`) overrides it; [`RangeSource::object`] reads 7 parts ahead.
    ///
    /// The parts still go out in the order requested. A part read ahead is polled only
    /// until its stream yields its first item, which it then holds: a response holds at
    /// most this many items beyond the one being sent, plus what the storage buffers for
    /// each open stream. The streams are dropped with the response, read or not. A
    /// single range, and the whole representation, are one part: nothing is read ahead.
    ///
    /// [`RangeSource::object`]: crate::RangeSource
    ///
    /// # Example
    ///
    /// ```
    /// use std::ops::Range;
    /// use bytes::Bytes;
    /// use tower_range::{RandomAccess, RangeStream};
    ///
    /// /// A remote API with a round trip per read.
    /// struct Remote;
    ///
    /// impl RandomAccess for Remote {
    ///     fn read_range(&self, range: Range<u64>) -> RangeStream {
    ///         let len = (range.end - range.start) as usize;
    ///         let get = async move { Ok::<_, std::io::Error>(Bytes::from(vec![0; len])) };
    ///         RangeStream::new(futures_util::stream::once(get))
    ///     }
    ///
    ///     fn prefetch(&self) -> usize {
    ///         4
    ///     }
    /// }
    ///
    /// assert_eq!(Remote.prefetch(), 4);
    /// ```
    fn prefetch(&self) -> usize {
        0
    }
}

impl<T: RandomAccess + ?Sized> RandomAccess for Arc<T> {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        (**self).read_range(range)
    }

    fn prefetch(&self) -> usize {
        (**self).prefetch()
    }
}

impl<T: RandomAccess + ?Sized> RandomAccess for Box<T> {
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        (**self).read_range(range)
    }

    fn prefetch(&self) -> usize {
        (**self).prefetch()
    }
}

/// The bytes of one range, in order: what [`RandomAccess::read_range`] returns.
///
/// It asks only `Send` of the stream it wraps and is `Send + Sync + Unpin` itself, so
/// that the response body reading it is `Sync` (axum's `Body` needs that) whatever
/// the storage's stream: an `object_store` `BoxStream` or an `async` block will do.
/// Errors are boxed, so the storage's own error type reaches the client's error
/// handling intact (find it with `downcast_ref`).
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use futures_util::StreamExt;
/// use tower_range::RangeStream;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let parts = [Ok::<_, std::io::Error>(Bytes::from("abc")), Ok(Bytes::from("def"))];
/// let mut stream = RangeStream::new(futures_util::stream::iter(parts));
/// assert_eq!(stream.next().await.unwrap().unwrap(), "abc");
/// # }
/// ```
pub struct RangeStream {
    inner: SyncWrapper<BoxStream>,
}

/// Any storage's stream, errors boxed.
type BoxStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

impl RangeStream {
    /// Wraps a stream of byte chunks; its errors are boxed as they come.
    #[must_use]
    pub fn new<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self {
            inner: SyncWrapper::new(Box::pin(BoxErrors { stream })),
        }
    }

    /// Streams `range` from storage read by offset and length: `read_at(offset, len)`
    /// is called for at most `chunk` bytes at a time, the next call once the previous
    /// one's bytes are out, and only as the stream is polled.
    ///
    /// For storage whose every read costs the same (memory, a database's blobs, a
    /// local device), where the layer's pace, not a request's cost, should decide the
    /// reads. `chunk` bounds what one paused response holds; values below 1 are taken
    /// as 1. A read may return fewer bytes than asked for: the next call asks for the
    /// rest. One that returns none ends the stream (the response then fails: the
    /// storage ended early). Bytes past what was asked for are cut off.
    ///
    /// # Example
    ///
    /// ```
    /// use std::ops::Range;
    /// use bytes::Bytes;
    /// use tower_range::{RandomAccess, RangeSource, RangeStream};
    ///
    /// /// A representation of zero bytes, made up on demand.
    /// struct Zeros;
    ///
    /// impl RandomAccess for Zeros {
    ///     fn read_range(&self, range: Range<u64>) -> RangeStream {
    ///         RangeStream::chunked(range, 64 * 1024, |_offset, len| async move {
    ///             Ok::<_, std::io::Error>(Bytes::from(vec![0; len]))
    ///         })
    ///     }
    /// }
    ///
    /// let source = RangeSource::new(Zeros, 1 << 40);
    /// assert_eq!(source.len(), 1 << 40);
    /// ```
    #[must_use]
    pub fn chunked<F, Fut, E>(range: Range<u64>, chunk: usize, read_at: F) -> Self
    where
        F: FnMut(u64, usize) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self::new(Chunks {
            read_at,
            next: range.start,
            end: range.end,
            chunk: chunk.max(1),
            pending: None,
        })
    }
}

impl Stream for RangeStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.get_mut().as_mut().poll_next(cx)
    }
}

impl fmt::Debug for RangeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RangeStream").finish_non_exhaustive()
    }
}

pin_project! {
    /// A stream with its errors boxed.
    struct BoxErrors<S> {
        #[pin]
        stream: S,
    }
}

impl<S, E> Stream for BoxErrors<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(self.project().stream.poll_next(cx));
        Poll::Ready(item.map(|result| result.map_err(Into::into)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

pin_project! {
    /// [`RangeStream::chunked`]: `next..end` in reads of at most `chunk` bytes, one in
    /// flight.
    struct Chunks<F, Fut> {
        read_at: F,
        next: u64,
        end: u64,
        chunk: usize,
        #[pin]
        pending: Option<Fut>,
    }
}

impl<F, Fut, E> Stream for Chunks<F, Fut>
where
    F: FnMut(u64, usize) -> Fut,
    Fut: Future<Output = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.next >= *this.end {
            return Poll::Ready(None);
        }
        let want =
            usize::try_from(*this.end - *this.next).map_or(*this.chunk, |n| n.min(*this.chunk));
        if this.pending.is_none() {
            let read = (this.read_at)(*this.next, want);
            this.pending.set(Some(read));
        }
        let read = this.pending.as_mut().as_pin_mut().expect("started above");
        let result = ready!(read.poll(cx));
        this.pending.set(None);
        Poll::Ready(match result {
            // Nothing at `next`: the storage ended early.
            Ok(bytes) if bytes.is_empty() => {
                *this.next = *this.end;
                None
            }
            Ok(mut bytes) => {
                bytes.truncate(want);
                *this.next += bytes.len() as u64;
                Some(Ok(bytes))
            }
            Err(err) => {
                *this.next = *this.end;
                Some(Err(err.into()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Mutex;

    use super::*;

    async fn collect(mut stream: RangeStream) -> (Vec<u8>, Option<BoxError>) {
        let mut out = Vec::new();
        while let Some(item) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        {
            match item {
                Ok(bytes) => out.extend_from_slice(&bytes),
                Err(err) => return (out, Some(err)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn chunked_reads_in_steps_and_asks_again_after_a_short_read() {
        let data: Vec<u8> = (0..100).collect();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let stream = RangeStream::chunked(10..95, 30, move |offset, len| {
            seen.lock().unwrap().push((offset, len));
            let start = offset as usize;
            // A short read at 40: only 5 bytes.
            let end = if offset == 40 { start + 5 } else { start + len };
            let bytes = Bytes::copy_from_slice(&data[start..end.min(100)]);
            async move { Ok::<_, io::Error>(bytes) }
        });
        let (bytes, err) = collect(stream).await;
        assert!(err.is_none());
        assert_eq!(bytes, (10..95).collect::<Vec<u8>>());
        assert_eq!(
            *calls.lock().unwrap(),
            [(10, 30), (40, 30), (45, 30), (75, 20)],
            "each read asks for the rest, at most a chunk"
        );
    }

    #[tokio::test]
    async fn chunked_ends_on_an_empty_read_and_cuts_long_ones() {
        let stream = RangeStream::chunked(0..10, 4, |offset, _len| async move {
            Ok::<_, io::Error>(if offset < 8 {
                Bytes::from_static(b"abcdefgh")
            } else {
                Bytes::new()
            })
        });
        let (bytes, err) = collect(stream).await;
        assert!(err.is_none());
        assert_eq!(bytes, b"abcdabcd", "cut to the chunk asked for, then ended");
    }

    #[tokio::test]
    async fn errors_are_boxed_as_they_are() {
        let stream = RangeStream::chunked(0..10, 4, |_, _| async {
            Err::<Bytes, _>(io::Error::new(io::ErrorKind::NotFound, "gone"))
        });
        let (_, err) = collect(stream).await;
        let err = err.expect("the read's error");
        assert_eq!(
            err.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
    }
}
