//! Circuit breaker: stop calling a dependency that is failing, and probe it carefully.
//!
//! States and transitions (each one logged with `tracing` and counted):
//! - **Closed**: calls go through; outcomes fill a sliding window (the last `n` calls, or the
//!   calls of the last `d`). It opens when, with at least `min_calls` in the window, the
//!   failure rate reaches `failure_rate`, or after `consecutive_failures` failures in a row.
//! - **Open**: every call is refused at once with [`PolicyError::CircuitOpen`] until
//!   `open_for` has passed.
//! - **HalfOpen**: at most `half_open_calls` trial calls are let through. Any failure re-opens;
//!   once that many trials have succeeded it closes with an empty window.
//!
//! Only *transient* failures (see [`crate::classify`]) count: a 404 means the dependency is
//! up and answering. Outcomes of calls admitted under an earlier state (a stale generation)
//! are ignored, so a slow call that started before the breaker opened cannot close it.
//! Time comes from an injectable [`Clock`].

use std::{
    collections::VecDeque,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    PolicyError,
    classify::Classify,
    clock::{Clock, TokioClock},
};

/// What the sliding window remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last `n` calls.
    Count(usize),
    /// The calls that finished within the last duration.
    Time(Duration),
}

/// Breaker settings; `Default` opens at 50 % failures over the last 20 calls (at least 10),
/// or 5 failures in a row, stays open 10 s and then lets 3 trial calls through.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Failure rate in `0.0..=1.0` at which the breaker opens.
    pub failure_rate: f64,
    pub window: Window,
    /// No rate-based decision before the window holds this many calls.
    pub min_calls: usize,
    /// Open after this many failures in a row; 0 disables the rule.
    pub consecutive_failures: u32,
    /// Cool-down before trial calls are allowed.
    pub open_for: Duration,
    /// Trial calls admitted while half-open; all must succeed to close.
    pub half_open_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_rate: 0.5,
            window: Window::Count(20),
            min_calls: 10,
            consecutive_failures: 5,
            open_for: Duration::from_secs(10),
            half_open_calls: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// A snapshot for metrics and readiness.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerMetrics {
    pub state: BreakerState,
    pub calls_in_window: usize,
    pub failures_in_window: usize,
    pub consecutive_failures: u32,
    /// Transitions into each state since creation.
    pub opened: u64,
    pub half_opened: u64,
    pub closed: u64,
    /// Calls refused while open or with all trial slots taken.
    pub rejected: u64,
}

#[derive(Debug)]
struct State {
    state: BreakerState,
    generation: u64,
    window: VecDeque<(Instant, bool)>,
    failures: usize,
    consecutive: u32,
    opened_at: Instant,
    trials_in_flight: u32,
    trial_successes: u32,
}

/// A circuit breaker for one dependency; share it (`Arc`) between all callers of that dependency.
#[derive(Debug)]
pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
    rejected: AtomicU64,
}

/// Admission to make one call; report its outcome with [`Permit::success`] / [`Permit::failure`].
/// Dropping it unreported (e.g. the call was cancelled) only frees its trial slot.
#[derive(Debug)]
#[must_use = "report the outcome, or the call is not counted"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    generation: u64,
    done: bool,
}

impl Permit<'_> {
    pub fn success(mut self) {
        self.done = true;
        self.breaker.on_outcome(self.generation, Some(true));
    }
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.on_outcome(self.generation, Some(false));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.on_outcome(self.generation, None);
        }
    }
}

/// `summit_circuit_breaker_state{breaker}`: 0 closed, 1 half-open, 2 open — the state an
/// operator reads on `/metrics`, set at creation and at every transition.
fn publish_state(name: &str, state: BreakerState) {
    let value = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    metrics::gauge!("summit_circuit_breaker_state", "breaker" => name.to_owned()).set(value);
}

impl CircuitBreaker {
    pub fn new(name: impl Into<String>, config: BreakerConfig) -> Self {
        Self::with_clock(name, config, Arc::new(TokioClock))
    }

    pub fn with_clock(
        name: impl Into<String>,
        config: BreakerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now = clock.now();
        let name = name.into();
        publish_state(&name, BreakerState::Closed);
        Self {
            name,
            config,
            clock,
            state: Mutex::new(State {
                state: BreakerState::Closed,
                generation: 0,
                window: VecDeque::new(),
                failures: 0,
                consecutive: 0,
                opened_at: now,
                trials_in_flight: 0,
                trial_successes: 0,
            }),
            opened: AtomicU64::new(0),
            half_opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only counters behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Current state; an open breaker whose cool-down is over reports (and becomes) half-open.
    pub fn state(&self) -> BreakerState {
        let mut s = self.lock();
        self.refresh(&mut s, self.clock.now());
        s.state
    }

    pub fn metrics(&self) -> BreakerMetrics {
        let now = self.clock.now();
        let mut s = self.lock();
        self.refresh(&mut s, now);
        self.prune(&mut s, now);
        BreakerMetrics {
            state: s.state,
            calls_in_window: s.window.len(),
            failures_in_window: s.failures,
            consecutive_failures: s.consecutive,
            opened: self.opened.load(Ordering::Relaxed),
            half_opened: self.half_opened.load(Ordering::Relaxed),
            closed: self.closed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// Ask to make a call. `Err` carries the fast `CircuitOpen` rejection.
    pub fn try_acquire<E>(&self) -> Result<Permit<'_>, PolicyError<E>> {
        let now = self.clock.now();
        let mut s = self.lock();
        self.refresh(&mut s, now);
        let admitted = match s.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open => {
                Err((s.opened_at + self.config.open_for).saturating_duration_since(now))
            }
            BreakerState::HalfOpen => {
                if s.trials_in_flight + s.trial_successes < self.config.half_open_calls.max(1) {
                    s.trials_in_flight += 1;
                    Ok(())
                } else {
                    Err(Duration::ZERO)
                }
            }
        };
        match admitted {
            Ok(()) => Ok(Permit {
                breaker: self,
                generation: s.generation,
                done: false,
            }),
            Err(retry_in) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(PolicyError::CircuitOpen { retry_in })
            }
        }
    }

    /// Run `fut` through the breaker; its error becomes `PolicyError::Inner`.
    pub async fn call<T, E, Fut>(&self, fut: Fut) -> Result<T, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
    {
        self.call_flat(async { fut.await.map_err(PolicyError::Inner) })
            .await
    }

    /// Like [`CircuitBreaker::call`] for a call that already returns `PolicyError` (composition).
    /// Rejections from inner policies (a full bulkhead) are not counted as dependency failures.
    pub async fn call_flat<T, E, Fut>(&self, fut: Fut) -> Result<T, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, PolicyError<E>>>,
        E: Classify,
    {
        let permit = self.try_acquire()?;
        let res = fut.await;
        match &res {
            Ok(_) => permit.success(),
            Err(e) if e.is_rejection() => drop(permit),
            Err(e) if e.classify().is_transient() => permit.failure(),
            // A permanent error is an answer: the dependency is up.
            Err(_) => permit.success(),
        }
        res
    }

    fn refresh(&self, s: &mut State, now: Instant) {
        if s.state == BreakerState::Open && now >= s.opened_at + self.config.open_for {
            self.transition(s, BreakerState::HalfOpen, now);
        }
    }

    fn prune(&self, s: &mut State, now: Instant) {
        loop {
            let evict = match (self.config.window, s.window.front()) {
                (_, None) => false,
                (Window::Count(n), Some(_)) => s.window.len() > n.max(1),
                (Window::Time(d), Some((t, _))) => now.saturating_duration_since(*t) > d,
            };
            if !evict {
                break;
            }
            if let Some((_, ok)) = s.window.pop_front()
                && !ok
            {
                s.failures -= 1;
            }
        }
    }

    fn on_outcome(&self, generation: u64, outcome: Option<bool>) {
        let now = self.clock.now();
        let mut s = self.lock();
        if generation != s.generation {
            return; // admitted under an earlier state: its news is stale
        }
        match s.state {
            BreakerState::Closed => {
                let Some(ok) = outcome else { return };
                s.window.push_back((now, ok));
                if ok {
                    s.consecutive = 0;
                } else {
                    s.failures += 1;
                    s.consecutive += 1;
                }
                self.prune(&mut s, now);
                let n = self.config.consecutive_failures;
                let by_streak = n > 0 && s.consecutive >= n;
                let calls = s.window.len();
                let by_rate = calls >= self.config.min_calls.max(1)
                    && s.failures as f64 / calls as f64 >= self.config.failure_rate;
                if by_streak || by_rate {
                    self.transition(&mut s, BreakerState::Open, now);
                }
            }
            BreakerState::HalfOpen => {
                s.trials_in_flight = s.trials_in_flight.saturating_sub(1);
                match outcome {
                    Some(false) => self.transition(&mut s, BreakerState::Open, now),
                    Some(true) => {
                        s.trial_successes += 1;
                        if s.trial_successes >= self.config.half_open_calls.max(1) {
                            self.transition(&mut s, BreakerState::Closed, now);
                        }
                    }
                    None => {}
                }
            }
            // Calls are not admitted while open, so an outcome of this generation cannot occur.
            BreakerState::Open => {}
        }
    }

    fn transition(&self, s: &mut State, to: BreakerState, now: Instant) {
        let from = s.state;
        s.state = to;
        s.generation += 1;
        s.trials_in_flight = 0;
        s.trial_successes = 0;
        let (calls, failures, streak) = (s.window.len(), s.failures, s.consecutive);
        match to {
            BreakerState::Open => {
                s.opened_at = now;
                self.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(breaker = %self.name, ?from, calls, failures, streak, "circuit opened");
            }
            BreakerState::HalfOpen => {
                self.half_opened.fetch_add(1, Ordering::Relaxed);
                tracing::info!(breaker = %self.name, ?from, "circuit half-open: admitting trial calls");
            }
            BreakerState::Closed => {
                self.closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(breaker = %self.name, ?from, "circuit closed");
            }
        }
        publish_state(&self.name, to);
        // A fresh window for every state: old failures must not re-open a recovered breaker.
        s.window.clear();
        s.failures = 0;
        s.consecutive = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{classify::HttpStatusError, clock::ManualClock};

    type E = PolicyError<HttpStatusError>;

    fn breaker(config: BreakerConfig) -> (Arc<ManualClock>, CircuitBreaker) {
        let clock = Arc::new(ManualClock::new());
        let b = CircuitBreaker::with_clock("dep", config, clock.clone());
        (clock, b)
    }

    fn ok(b: &CircuitBreaker) {
        b.try_acquire::<()>().expect("admitted").success();
    }
    fn fail(b: &CircuitBreaker) {
        b.try_acquire::<()>().expect("admitted").failure();
    }

    fn rate_only() -> BreakerConfig {
        BreakerConfig {
            failure_rate: 0.5,
            window: Window::Count(10),
            min_calls: 4,
            consecutive_failures: 0,
            open_for: Duration::from_secs(5),
            half_open_calls: 2,
        }
    }

    #[test]
    fn closed_stays_closed_below_min_calls_then_opens_on_rate() {
        let (_c, b) = breaker(rate_only());
        fail(&b);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed, "3 calls < min_calls 4");
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.metrics().opened, 1);
    }

    #[test]
    fn rate_below_threshold_keeps_closed() {
        let (_c, b) = breaker(rate_only());
        for _ in 0..20 {
            ok(&b);
            ok(&b);
            fail(&b); // 33 %
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let m = b.metrics();
        assert_eq!(m.calls_in_window, 10, "count window keeps the last 10");
        assert!(m.failures_in_window <= 4);
    }

    #[test]
    fn count_window_forgets_old_failures() {
        let (_c, b) = breaker(rate_only());
        for _ in 0..4 {
            ok(&b);
        }
        for _ in 0..3 {
            fail(&b);
        }
        assert_eq!(b.metrics().failures_in_window, 3, "3/7 stays closed");
        for _ in 0..10 {
            ok(&b);
        }
        assert_eq!(b.metrics().failures_in_window, 0);
        for _ in 0..4 {
            fail(&b);
        }
        assert_eq!(b.state(), BreakerState::Closed, "4/10 failures");
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open, "5/10 failures");
    }

    #[test]
    fn consecutive_failures_open() {
        let (_c, b) = breaker(BreakerConfig {
            consecutive_failures: 3,
            min_calls: 100,
            ..rate_only()
        });
        fail(&b);
        fail(&b);
        ok(&b); // streak broken
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Closed);
        fail(&b);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn time_window_drops_calls_older_than_window() {
        let (c, b) = breaker(BreakerConfig {
            window: Window::Time(Duration::from_secs(10)),
            ..rate_only()
        });
        fail(&b);
        fail(&b);
        fail(&b);
        c.advance(Duration::from_secs(11));
        ok(&b);
        assert_eq!(b.metrics().calls_in_window, 1, "old failures aged out");
        fail(&b);
        ok(&b);
        ok(&b);
        assert_eq!(b.state(), BreakerState::Closed, "1/4 failures");
    }

    #[test]
    fn open_rejects_fast_until_cool_down_then_half_open() {
        let (c, b) = breaker(rate_only());
        for _ in 0..4 {
            fail(&b);
        }
        match b.try_acquire::<()>() {
            Err(PolicyError::CircuitOpen { retry_in }) => {
                assert_eq!(retry_in, Duration::from_secs(5));
            }
            other => panic!("expected CircuitOpen, got {other:?}"),
        }
        c.advance(Duration::from_secs(4));
        assert!(b.try_acquire::<()>().is_err());
        assert_eq!(b.metrics().rejected, 2);
        c.advance(Duration::from_secs(1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.metrics().half_opened, 1);
    }

    fn half_open(c: &ManualClock, b: &CircuitBreaker) {
        for _ in 0..4 {
            fail(b);
        }
        c.advance(Duration::from_secs(5));
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_admits_bounded_trials_and_closes_when_all_succeed() {
        let (c, b) = breaker(rate_only());
        half_open(&c, &b);
        let p1 = b.try_acquire::<()>().expect("trial 1");
        let p2 = b.try_acquire::<()>().expect("trial 2");
        assert!(
            matches!(b.try_acquire::<()>(), Err(PolicyError::CircuitOpen { retry_in }) if retry_in.is_zero()),
            "third trial refused"
        );
        p1.success();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            b.try_acquire::<()>().is_err(),
            "1 success + 1 in flight = 2 slots"
        );
        p2.success();
        assert_eq!(b.state(), BreakerState::Closed);
        let m = b.metrics();
        assert_eq!((m.opened, m.half_opened, m.closed), (1, 1, 1));
        assert_eq!(m.calls_in_window, 0, "closed starts with a fresh window");
    }

    #[test]
    fn half_open_failure_reopens_for_a_full_cool_down() {
        let (c, b) = breaker(rate_only());
        half_open(&c, &b);
        let p = b.try_acquire::<()>().unwrap();
        c.advance(Duration::from_secs(1));
        p.failure();
        assert_eq!(b.state(), BreakerState::Open);
        c.advance(Duration::from_secs(4));
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "cool-down restarts at re-open"
        );
        c.advance(Duration::from_secs(1));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.metrics().opened, 2);
    }

    #[test]
    fn dropped_trial_frees_its_slot() {
        let (c, b) = breaker(rate_only());
        half_open(&c, &b);
        let p1 = b.try_acquire::<()>().unwrap();
        let _p2 = b.try_acquire::<()>().unwrap();
        drop(p1);
        assert!(
            b.try_acquire::<()>().is_ok(),
            "cancelled trial gave its slot back"
        );
    }

    #[test]
    fn stale_outcomes_are_ignored() {
        let (c, b) = breaker(rate_only());
        let slow = b.try_acquire::<()>().unwrap(); // admitted while closed
        half_open(&c, &b);
        slow.success(); // must not count as a trial
        assert_eq!(b.state(), BreakerState::HalfOpen);
        ok(&b);
        assert_eq!(
            b.state(),
            BreakerState::HalfOpen,
            "one of two trials so far"
        );
        ok(&b);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn call_counts_only_transient_failures_and_uses_tokio_clock() {
        let b = CircuitBreaker::new("dep", rate_only());
        for _ in 0..10 {
            let r: Result<(), E> = b.call(async { Err(HttpStatusError::new(404, None)) }).await;
            assert!(matches!(r, Err(PolicyError::Inner(_))));
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "404s mean the dependency is up"
        );
        for _ in 0..4 {
            let _: Result<(), E> = b.call(async { Err(HttpStatusError::new(503, None)) }).await;
        }
        assert_eq!(b.state(), BreakerState::Closed, "4/10");
        let _: Result<(), E> = b.call(async { Err(HttpStatusError::new(503, None)) }).await;
        assert_eq!(b.state(), BreakerState::Open, "5/10");
        let r: Result<(), E> = b
            .call(async { panic!("must not be called while open") })
            .await;
        assert!(matches!(r, Err(PolicyError::CircuitOpen { .. })));
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // a full bulkhead inside the breaker is not the dependency's fault
        let r: Result<(), E> = b.call_flat(async { Err(PolicyError::BulkheadFull) }).await;
        assert!(matches!(r, Err(PolicyError::BulkheadFull)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        for _ in 0..2 {
            let r: Result<u8, E> = b.call(async { Ok(1) }).await;
            assert_eq!(r.unwrap(), 1);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
