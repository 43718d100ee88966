//! The requests a connection is answering, and how long each response has waited for
//! the client: kept by the request log, read by the connection's deadlines, so that
//! neither module imports the other.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The requests of a connection: a request counts from its head until its response
/// body is dropped, sent or not.
#[derive(Debug)]
pub(crate) struct InFlight {
    started: AtomicUsize,
    ended: AtomicUsize,
    /// When the connection opened; the waits count from it.
    epoch: Instant,
    /// One slot per response being answered, holding its wait; a slot whose response
    /// has ended (only this vector holds it) is taken by the next request, so a
    /// request costs no allocation once a connection has had as many in flight.
    waits: Mutex<Vec<Arc<AtomicU64>>>,
}

impl InFlight {
    pub(crate) fn new() -> Self {
        Self {
            started: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            epoch: Instant::now(),
            waits: Mutex::new(Vec::new()),
        }
    }

    /// Counts a request whose head has arrived, until the guard is dropped.
    pub(crate) fn start(self: &Arc<Self>) -> Answering {
        self.started.fetch_add(1, Ordering::Relaxed);
        let mut waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        let wait = match waits.iter().find(|wait| Arc::strong_count(wait) == 1) {
            Some(free) => {
                // Its response cleared it when it ended; again, in case that store
                // is not yet seen on this thread.
                free.store(NOT_WAITING, Ordering::Relaxed);
                free.clone()
            }
            None => {
                let wait = Arc::new(AtomicU64::new(NOT_WAITING));
                waits.push(wait.clone());
                wait
            }
        };
        drop(waits);
        Answering {
            in_flight: self.clone(),
            wait,
        }
    }

    /// How many requests have started, and whether any is still being answered.
    pub(crate) fn load(&self) -> (usize, bool) {
        let ended = self.ended.load(Ordering::Relaxed);
        let started = self.started.load(Ordering::Relaxed);
        (started, started != ended)
    }

    /// Since when the response that has waited longest for the client to take its
    /// next chunk has waited, if any is waiting.
    pub(crate) fn longest_wait(&self) -> Option<Instant> {
        let waits = self.waits.lock().unwrap_or_else(PoisonError::into_inner);
        let since = waits
            .iter()
            .map(|wait| wait.load(Ordering::Relaxed))
            .filter(|&since| since != NOT_WAITING)
            .min()?;
        Some(self.epoch + Duration::from_millis(since - 1))
    }
}

/// A wait's value while the response is not waiting for the client; otherwise it is
/// one more than the milliseconds from the connection's start to when it began.
const NOT_WAITING: u64 = 0;

/// One request being answered; ends its count when dropped, however the request ends.
#[derive(Debug)]
pub(crate) struct Answering {
    in_flight: Arc<InFlight>,
    wait: Arc<AtomicU64>,
}

impl Answering {
    /// The response's body gave a chunk: until it is asked for the next, the response
    /// waits for the client to take that one (hyper asks for the next once the socket,
    /// or HTTP/2's flow-control window, has room for it).
    pub(crate) fn gave(&self) {
        let millis = self.in_flight.epoch.elapsed().as_millis();
        let since = u64::try_from(millis).unwrap_or(u64::MAX - 1) + 1;
        self.wait.store(since, Ordering::Relaxed);
    }

    /// The response's body is asked for its next chunk: it no longer waits for the
    /// client.
    pub(crate) fn asked(&self) {
        self.wait.store(NOT_WAITING, Ordering::Relaxed);
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        // Frees the slot for the next request.
        self.wait.store(NOT_WAITING, Ordering::Relaxed);
        self.in_flight.ended.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_waits_from_its_last_chunk_until_asked_for_the_next() {
        let in_flight = Arc::new(InFlight::new());
        let answering = in_flight.start();
        assert_eq!(in_flight.longest_wait(), None, "no chunk given yet");
        let before = Instant::now();
        answering.gave();
        let since = in_flight.longest_wait().expect("waiting for the client");
        assert!(since + Duration::from_millis(1) >= before && since <= Instant::now());
        // A body that is asked and has nothing yet (a slow store) waits for itself.
        answering.asked();
        assert_eq!(in_flight.longest_wait(), None);
    }

    #[test]
    fn the_longest_wait_is_the_oldest_of_the_responses_still_answered() {
        let in_flight = Arc::new(InFlight::new());
        let (first, second, third) = (in_flight.start(), in_flight.start(), in_flight.start());
        first.gave();
        std::thread::sleep(Duration::from_millis(5));
        second.gave();
        third.gave();
        let oldest = in_flight.longest_wait().unwrap();
        drop(first);
        let next = in_flight.longest_wait().unwrap();
        assert!(next > oldest, "an ended response no longer counts");
        assert_eq!(in_flight.load(), (3, true));
        drop((second, third));
        assert_eq!(in_flight.longest_wait(), None);
        assert_eq!(in_flight.load(), (3, false));
    }

    #[test]
    fn the_slots_of_ended_responses_are_taken_again() {
        let in_flight = Arc::new(InFlight::new());
        let kept = in_flight.start();
        kept.gave();
        for _ in 0..10_000 {
            let next = in_flight.start();
            assert_eq!(next.wait.load(Ordering::Relaxed), NOT_WAITING);
            next.gave();
        }
        let slots = in_flight.waits.lock().unwrap().len();
        assert_eq!(slots, 2, "one slot per response in flight, at most");
        assert!(
            in_flight.longest_wait().is_some(),
            "the kept response waits"
        );
        drop(kept);
        assert_eq!(
            in_flight.longest_wait(),
            None,
            "an ended response no longer counts"
        );
    }
}
