//! [`Metadata`]: the heads of objects, kept for a while so that a range costs one store
//! request, not two.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ::object_store::path::Path;
use ::object_store::{GetOptions, ObjectStore};
use quick_cache::sync::Cache;
use tokio::time::Instant;

use crate::object_head::ObjectHead;

/// Heads of objects by key, each reused for a time to live, at most `capacity` of
/// them: when full, the entries least used lately make room.
///
/// Two requests that miss at once each ask the store: a store that fails (an object
/// that is not there, a store that is overloaded) then costs each request its own
/// round trip, never a wait behind another's.
pub(crate) struct Metadata {
    /// `None` when nothing is kept: a capacity of 0.
    cache: Option<Cache<Path, Entry>>,
}

#[derive(Clone)]
struct Entry {
    /// When the store was asked: the time to live counts from there.
    asked: Instant,
    head: Arc<ObjectHead>,
}

impl Metadata {
    /// Keeps at most `capacity` heads (quick_cache's bound is approximate, within a few
    /// entries); 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            cache: (capacity > 0).then(|| Cache::new(capacity)),
        }
    }

    /// The head of the object at `location`: the one kept, if it was asked for less
    /// than `ttl` ago; else the store's answer to a `HEAD`, which is then kept.
    pub(crate) async fn head(
        &self,
        store: &dyn ObjectStore,
        location: &Path,
        ttl: Duration,
    ) -> ::object_store::Result<Arc<ObjectHead>> {
        let cache = self.cache.as_ref().filter(|_| !ttl.is_zero());
        if let Some(entry) = cache.and_then(|cache| cache.get(location)) {
            if entry.asked.elapsed() < ttl {
                return Ok(entry.head);
            }
        }
        let asked = Instant::now();
        // A `HEAD` through `get_opts`, which also gives the attributes (the stored
        // `Content-Type`), where `ObjectStore::head` gives only the meta.
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let result = store.get_opts(location, options).await?;
        let head = Arc::new(ObjectHead::new(
            location.clone(),
            result.meta,
            &result.attributes,
        ));
        if let Some(cache) = cache {
            let entry = Entry {
                asked,
                head: Arc::clone(&head),
            };
            cache.insert(location.clone(), entry);
        }
        Ok(head)
    }

    /// Drops `head` from the cache: the object has changed since. A newer head of the
    /// same key, put there by another request meanwhile, stays.
    pub(crate) fn forget(&self, head: &Arc<ObjectHead>) {
        if let Some(cache) = &self.cache {
            cache.remove_if(&head.meta.location, |entry| Arc::ptr_eq(&entry.head, head));
        }
    }

    /// How many heads are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, Cache::len)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("capacity", &self.cache.as_ref().map_or(0, Cache::capacity))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use ::object_store::memory::InMemory;
    use ::object_store::ObjectStoreExt;

    use super::*;

    #[tokio::test]
    async fn the_cache_holds_at_most_its_capacity() {
        let store = InMemory::new();
        let metadata = Metadata::new(4);
        for i in 0..64 {
            let key = Path::from(format!("k{i}"));
            store.put(&key, "x".into()).await.unwrap();
            metadata
                .head(&store, &key, Duration::from_secs(60))
                .await
                .unwrap();
            assert!(metadata.len() <= 4, "{} entries after {i}", metadata.len());
        }
    }

    #[tokio::test]
    async fn forget_leaves_a_newer_head() {
        let store = InMemory::new();
        let metadata = Metadata::new(4);
        let key = Path::from("k");
        store.put(&key, "x".into()).await.unwrap();
        let ttl = Duration::from_secs(60);
        let old = metadata.head(&store, &key, ttl).await.unwrap();
        metadata.forget(&old);
        assert_eq!(metadata.len(), 0);
        let new = metadata.head(&store, &key, ttl).await.unwrap();
        metadata.forget(&old);
        let kept = metadata.head(&store, &key, ttl).await.unwrap();
        assert!(
            Arc::ptr_eq(&kept, &new),
            "an older head must not evict a newer one"
        );
    }
}
