//! The consumer's kill switch: stop taking deliveries while the service's own infrastructure
//! is away, instead of burning every in-flight message's attempts and dead-lettering them.
//!
//! MassTransit's idea, kept small: a failure that is not the message's fault (the handler says
//! [`crate::Outcome::Unavailable`], or the runtime cannot schedule a retry or move a dead
//! letter) trips the switch. The delivery goes back to the queue with its attempt count
//! untouched, and the consumer pauses for a backoff that grows with each consecutive trip (capped,
//! jittered). After the pause it is half-open: it takes one delivery at a time until one
//! succeeds, then closes and runs at full prefetch again.
//!
//! Invariants: a tripped switch never drops or acks a message; the pause never exceeds the
//! backoff's cap, so consumption resumes within that cap of the dependency's return.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use resilience::Backoff;

#[derive(Debug, Default)]
struct State {
    consecutive: u32,
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct KillSwitch {
    queue: String,
    backoff: Backoff,
    state: Mutex<State>,
}

impl KillSwitch {
    pub(crate) fn new(queue: &str, backoff: Backoff) -> Self {
        Self {
            queue: queue.to_owned(),
            backoff,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere while holding it; the state stays valid.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An infrastructure failure: pause (longer with each consecutive one).
    pub(crate) fn trip(&self, reason: &str) {
        let mut state = self.state();
        state.consecutive = state.consecutive.saturating_add(1);
        let pause = self.backoff.delay(state.consecutive, None);
        state.paused_until = Some(Instant::now() + pause);
        tracing::warn!(
            queue = %self.queue,
            consecutive = state.consecutive,
            ?pause,
            %reason,
            "dependency unavailable: consumer paused"
        );
        metrics::counter!("summit_consumer_pauses_total", "queue" => self.queue.clone())
            .increment(1);
        metrics::gauge!("summit_consumer_paused", "queue" => self.queue.clone()).set(1.0);
    }

    /// A delivery went through: close the switch.
    pub(crate) fn reset(&self) {
        let mut state = self.state();
        if state.consecutive > 0 {
            tracing::info!(queue = %self.queue, "dependency back: consumer resumed");
            metrics::gauge!("summit_consumer_paused", "queue" => self.queue.clone()).set(0.0);
        }
        state.consecutive = 0;
        state.paused_until = None;
    }

    /// How much longer to pause, if paused.
    pub(crate) fn pause_left(&self) -> Option<Duration> {
        let until = self.state().paused_until?;
        until.checked_duration_since(Instant::now())
    }

    /// True from a trip until the next success: deliveries are taken one at a time.
    pub(crate) fn is_tripped(&self) -> bool {
        self.state().consecutive > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience::Jitter;

    fn switch() -> KillSwitch {
        KillSwitch::new(
            "q",
            Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(1),
                jitter: Jitter::None,
            },
        )
    }

    #[test]
    fn trips_pause_longer_each_time_up_to_the_cap_and_a_success_closes_it() {
        let s = switch();
        assert!(!s.is_tripped());
        assert!(s.pause_left().is_none());
        s.trip("db");
        let first = s.pause_left().expect("paused");
        assert!(first <= Duration::from_millis(100), "{first:?}");
        s.trip("db");
        s.trip("db");
        s.trip("db");
        s.trip("db");
        s.trip("db");
        let later = s.pause_left().expect("paused");
        assert!(later > first, "{later:?} > {first:?}");
        assert!(later <= Duration::from_secs(1), "capped: {later:?}");
        assert!(s.is_tripped());
        s.reset();
        assert!(!s.is_tripped());
        assert!(s.pause_left().is_none());
    }
}
