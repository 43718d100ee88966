//! [`SyncWrapper`]: a `Send` value made `Sync` by handing it out only through `&mut`.

use std::fmt;
use std::sync::{Mutex, PoisonError};

/// A `Send` value behind a wrapper that is `Sync` whatever the value is.
///
/// A response body must be `Sync` for axum and for `BoxBody`, but a stream or a future
/// seldom is: an `async` block that holds a `Box<dyn Error + Send>` across an await is
/// not, nor is a store's `BoxStream`. The wrapper gives the value out only through
/// `&mut self`, which no two threads can hold at once, so a shared reference reaches
/// nothing, and asks only `Send` of the value.
///
/// The crate forbids `unsafe`, so the `Sync` comes from a [`Mutex`]; it is never
/// locked, because [`Mutex::get_mut`] needs no lock.
pub(crate) struct SyncWrapper<T>(Mutex<T>);

impl<T> SyncWrapper<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        // Never locked, so never poisoned.
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> fmt::Debug for SyncWrapper<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncWrapper").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::SyncWrapper;

    #[test]
    fn a_send_value_that_is_not_sync_becomes_sync() {
        fn sync<T: Send + Sync>(_: &T) {}
        let mut wrapped = SyncWrapper::new(Cell::new(1));
        sync(&wrapped);
        wrapped.get_mut().set(2);
        assert_eq!(wrapped.get_mut().get(), 2);
    }
}
