//! Objects in an object store (the `object_store` crate: S3, GCS, Azure, HTTP, local) as
//! a [`RangeSource`]: each range is one ranged `GET`, streamed as the client reads.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::object_store::path::Path;
use ::object_store::{GetOptions, GetRange, GetResult, ObjectMeta, ObjectStore};
use bytes::Bytes;
use futures_core::Stream;

use crate::access::{RandomAccess, RangeStream};
use crate::error::BoxError;
use crate::source::RangeSource;

impl RangeSource {
    /// The object `meta` describes, in `store`: each range the layer sends is one
    /// ranged `GET`, streamed to the client at the client's pace.
    ///
    /// Every `GET` carries the object's `ETag` as `If-Match` (its version, on a store
    /// that gives versions; its modification time where there is neither), so the
    /// bytes are always those of the object `meta` describes: once it is replaced, a
    /// `GET` fails and so does the response, an aborted transfer rather than bytes of
    /// two versions. Give the response the same `ETag` and `Last-Modified`.
    ///
    /// When a stream breaks after delivering bytes (a store's client times requests out
    /// *including* the body, so a client that pauses a video for minutes breaks it), the
    /// rest of the range is asked for again, under the same condition. A `GET` that
    /// fails before its first byte fails the response.
    ///
    /// For a `multipart/byteranges` response, the `GET`s of the next 7 parts start
    /// while one part is sent, so that their round trips overlap; the parts still go out
    /// in order (see [`RandomAccess::prefetch`]).
    ///
    /// Errors of the store reach the response body as they are: find them with
    /// `downcast_ref::<object_store::Error>()`.
    ///
    /// Needs the `object-store` feature; [`ObjectService`](crate::ObjectService) serves
    /// a whole store with it.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStore, ObjectStoreExt};
    /// use tower_range::RangeSource;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), tower_range::BoxError> {
    /// let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    /// let key = Path::from("videos/clip.mp4");
    /// store.put(&key, "a large video".into()).await?;
    /// let meta = store.head(&key).await?;
    /// let source = RangeSource::object(store, &meta);
    /// assert_eq!(source.len(), 13);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
    #[must_use]
    pub fn object(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Self {
        Self::new(
            ObjectAccess::new(store, meta, DEFAULT_PREFETCH, None),
            meta.size,
        )
    }
}

/// How many parts [`RangeSource::object`] reads ahead: 8 `GET`s in flight, which
/// overlaps most of the round trips of a many-part response (16 parts then take about
/// two round trips, not sixteen) while one response holds at most 7 chunks in waiting.
pub(crate) const DEFAULT_PREFETCH: usize = 7;

/// What to call when a `GET` finds the object replaced or gone: whoever described it
/// (a metadata cache) knows its description is stale.
pub(crate) type OnStale = Box<dyn Fn() + Send + Sync>;

/// An object as a [`RandomAccess`]; each range's stream shares the [`Object`].
pub(crate) struct ObjectAccess {
    object: Arc<Object>,
    prefetch: usize,
}

impl ObjectAccess {
    /// The object `meta` describes, read `prefetch` parts ahead; `on_stale` is called
    /// each time a `GET` fails because the object is no longer that version.
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        meta: &ObjectMeta,
        prefetch: usize,
        on_stale: Option<OnStale>,
    ) -> Self {
        let pinned = meta.e_tag.is_some() || meta.version.is_some();
        let object = Object {
            store,
            location: meta.location.clone(),
            size: meta.size,
            condition: GetOptions {
                if_match: meta.e_tag.clone(),
                version: meta.version.clone(),
                if_unmodified_since: (!pinned).then_some(meta.last_modified),
                ..GetOptions::default()
            },
            on_stale,
        };
        Self {
            object: Arc::new(object),
            prefetch,
        }
    }
}

/// One object of a store, at the version it had.
struct Object {
    store: Arc<dyn ObjectStore>,
    location: Path,
    size: u64,
    /// What pins each `GET` to that version: `If-Match`, the version, or (where the
    /// store gives neither) `If-Unmodified-Since`.
    condition: GetOptions,
    on_stale: Option<OnStale>,
}

type GetFuture = Pin<Box<dyn Future<Output = ::object_store::Result<GetResult>> + Send>>;

impl Object {
    /// A `GET` of `range`, started when first polled.
    fn get(self: &Arc<Self>, range: Range<u64>) -> GetFuture {
        let object = Arc::clone(self);
        Box::pin(async move {
            let options = GetOptions {
                range: Some(GetRange::Bounded(range)),
                ..object.condition.clone()
            };
            object.store.get_opts(&object.location, options).await
        })
    }
}

impl RandomAccess for ObjectAccess {
    /// One ranged `GET` of the whole range, streamed in the store's own chunks.
    fn read_range(&self, range: Range<u64>) -> RangeStream {
        // Past the end there is nothing to ask for: the stream ends, and the layer
        // reports the missing bytes.
        let end = range.end.min(self.object.size);
        RangeStream::new(RangeGet {
            object: Arc::clone(&self.object),
            next: range.start.min(end),
            end,
            state: State::Idle,
            delivered: false,
        })
    }

    fn prefetch(&self) -> usize {
        self.prefetch
    }
}

impl fmt::Debug for ObjectAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectAccess")
            .field("object", &self.object)
            .field("prefetch", &self.prefetch)
            .finish()
    }
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("location", &self.location)
            .field("condition", &self.condition)
            .finish_non_exhaustive()
    }
}

/// The bytes `next..end` of an object, from one `GET`, or another for the rest when a
/// stream breaks after delivering bytes.
struct RangeGet {
    object: Arc<Object>,
    next: u64,
    end: u64,
    state: State,
    /// Whether the current `GET` has delivered bytes.
    delivered: bool,
}

enum State {
    /// No `GET` in flight: the next poll starts one for `next..end`.
    Idle,
    /// Waiting for the `GET`'s response head.
    Requesting(GetFuture),
    /// Streaming its body.
    Streaming(Pin<Box<dyn Stream<Item = ::object_store::Result<Bytes>> + Send>>),
    Done,
}

// | state      | poll_next does                          | moves on when                     |
// |------------|-----------------------------------------|-----------------------------------|
// | idle       | starts a `GET` of `next..end`           | at once, to requesting            |
// | requesting | waits for the response head             | a head for exactly that range     |
// | streaming  | yields body bytes, cut to `end`         | the body ends, or breaks: back to |
// |            |                                         | idle if it had delivered bytes    |
// | done       | `None`                                  | never                             |
//
// Any other failure yields one error, the store's own, and then done.
impl Stream for RangeGet {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Done => return Poll::Ready(None),
                State::Idle if this.next >= this.end => this.state = State::Done,
                State::Idle => {
                    this.state = State::Requesting(this.object.get(this.next..this.end));
                    this.delivered = false;
                }
                State::Requesting(get) => match ready!(get.as_mut().poll(cx)) {
                    Ok(result) if result.range == (this.next..this.end) => {
                        this.state = State::Streaming(result.into_stream());
                    }
                    Ok(result) => {
                        let asked = this.next..this.end;
                        return this.fail(
                            format!(
                                "the store answered a GET of bytes {asked:?} with {:?}",
                                result.range
                            )
                            .into(),
                        );
                    }
                    Err(err) => return this.fail(err.into()),
                },
                State::Streaming(body) => match ready!(body.as_mut().poll_next(cx)) {
                    Some(Ok(mut bytes)) => {
                        bytes.truncate(usize::try_from(this.end - this.next).unwrap_or(usize::MAX));
                        if bytes.is_empty() {
                            continue;
                        }
                        this.next += bytes.len() as u64;
                        this.delivered = true;
                        return Poll::Ready(Some(Ok(bytes)));
                    }
                    // Broken after some bytes (a timeout while the client paused, a
                    // reset): ask again for the rest, under the same condition.
                    Some(Err(err)) if this.delivered && resumable(&err) => {
                        this.state = State::Idle;
                    }
                    Some(Err(err)) => return this.fail(err.into()),
                    // Short: the layer reports the missing bytes.
                    None => this.state = State::Done,
                },
            }
        }
    }
}

impl RangeGet {
    fn fail(&mut self, err: BoxError) -> Poll<Option<Result<Bytes, BoxError>>> {
        self.state = State::Done;
        if let (Some(on_stale), Some(err)) = (
            &self.object.on_stale,
            err.downcast_ref::<::object_store::Error>(),
        ) {
            if stale(err) {
                on_stale();
            }
        }
        Poll::Ready(Some(Err(err)))
    }
}

/// Whether a `GET` failed because the object is no longer the version it was pinned
/// to: replaced (its condition failed) or deleted.
fn stale(err: &::object_store::Error) -> bool {
    use ::object_store::Error::{NotFound, Precondition};
    matches!(err, NotFound { .. } | Precondition { .. })
}

/// Whether a broken stream is worth asking again: not when the object is gone or
/// replaced.
fn resumable(err: &::object_store::Error) -> bool {
    use ::object_store::Error::{NotFound, NotModified, Precondition};
    !matches!(
        err,
        NotFound { .. } | Precondition { .. } | NotModified { .. }
    )
}

#[cfg(test)]
mod tests {
    use ::object_store::memory::InMemory;
    use ::object_store::ObjectStoreExt;

    use super::*;

    async fn put(store: &Arc<dyn ObjectStore>, data: &'static [u8]) -> ObjectMeta {
        let key = Path::from("key");
        store
            .put(&key, Bytes::from_static(data).into())
            .await
            .unwrap();
        store.head(&key).await.unwrap()
    }

    async fn collect(mut stream: RangeStream) -> Result<Vec<u8>, BoxError> {
        let mut out = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await
        {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    fn object(store: &Arc<dyn ObjectStore>, meta: &ObjectMeta) -> ObjectAccess {
        ObjectAccess::new(Arc::clone(store), meta, 0, None)
    }

    #[tokio::test]
    async fn ranges_are_the_objects_bytes() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let meta = put(&store, b"0123456789").await;
        let object = object(&store, &meta);
        assert_eq!(collect(object.read_range(2..5)).await.unwrap(), b"234");
        let past = object.read_range(8..20);
        assert_eq!(collect(past).await.unwrap(), b"89", "cut at the end");
        let beyond = object.read_range(20..30);
        assert_eq!(collect(beyond).await.unwrap(), b"", "nothing to ask for");
    }

    #[tokio::test]
    async fn only_a_replaced_or_deleted_object_is_reported_stale() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let meta = put(&store, b"0123456789").await;
        let stale = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&stale);
        let on_stale: OnStale = Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let object = ObjectAccess::new(Arc::clone(&store), &meta, 0, Some(on_stale));
        assert_eq!(collect(object.read_range(0..4)).await.unwrap(), b"0123");
        assert_eq!(stale.load(Ordering::SeqCst), 0, "the same version");
        put(&store, b"abcdefghij").await;
        collect(object.read_range(0..4)).await.unwrap_err();
        assert_eq!(stale.load(Ordering::SeqCst), 1, "replaced");
        store.delete(&meta.location).await.unwrap();
        collect(object.read_range(0..4)).await.unwrap_err();
        assert_eq!(stale.load(Ordering::SeqCst), 2, "deleted");
    }

    #[tokio::test]
    async fn a_replaced_object_fails_the_stream_with_the_stores_error() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let meta = put(&store, b"0123456789").await;
        let object = object(&store, &meta);
        put(&store, b"abcdefghij").await;
        let err = collect(object.read_range(0..10)).await.unwrap_err();
        assert!(
            matches!(
                err.downcast_ref::<::object_store::Error>(),
                Some(::object_store::Error::Precondition { .. })
            ),
            "{err:?}"
        );
    }
}
