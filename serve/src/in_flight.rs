//! The requests a connection is answering: counted by the request log, read by the
//! connection's deadlines, so that neither module imports the other.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The requests of a connection: a request counts from its head until its response
/// body is dropped, sent or not.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    started: AtomicUsize,
    ended: AtomicUsize,
}

impl InFlight {
    /// Counts a request whose head has arrived, until the guard is dropped.
    pub(crate) fn start(self: &Arc<Self>) -> Answering {
        self.started.fetch_add(1, Ordering::Relaxed);
        Answering(self.clone())
    }

    /// How many requests have started, and whether any is still being answered.
    pub(crate) fn load(&self) -> (usize, bool) {
        let ended = self.ended.load(Ordering::Relaxed);
        let started = self.started.load(Ordering::Relaxed);
        (started, started != ended)
    }
}

/// One request being answered; ends its count when dropped, however the request ends.
#[derive(Debug)]
pub(crate) struct Answering(Arc<InFlight>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::Relaxed);
    }
}
