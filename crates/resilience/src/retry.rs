//! Retry: try again, later, only when it can help, and never for too long.
//!
//! `backon` drives the loop; the delays are the crate's own [`Backoff`] iterator (capped
//! exponential with full/equal/decorrelated jitter). A failure is retried only when
//! [`Classify`] calls it transient. Before each sleep the policy checks, in order:
//! - attempts: at most `max_attempts` calls in total (first call included);
//! - `Retry-After`: a server hint raises the next delay (never lowers it);
//! - elapsed: a retry whose sleep would end past `max_elapsed` since the first call is not made;
//! - deadline: nor one whose sleep would end past the overall deadline, if any;
//! - budget: the shared [`RetryBudget`] must grant a token (checked last, so a token is only
//!   spent on a retry that will really happen). A refusal ends with `BudgetExhausted`.
//!
//! When retrying stops for any other reason, the last error is returned as it was.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use backon::Retryable;
use tokio::time::Instant;

use crate::{Backoff, PolicyError, budget::RetryBudget, classify::Classify, timeout::Deadline};

/// Retry settings; `Default`: 3 attempts in all, 10 s elapsed at most, default [`Backoff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Total calls, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// No retry starts a sleep that ends later than this after the first call started.
    pub max_elapsed: Duration,
    pub backoff: Backoff,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(10),
            backoff: Backoff::default(),
        }
    }
}

/// A retry policy, optionally drawing on a shared [`RetryBudget`]. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Retry {
    config: RetryConfig,
    budget: Option<Arc<RetryBudget>>,
}

impl Retry {
    pub fn new(config: RetryConfig) -> Self {
        Self {
            config,
            budget: None,
        }
    }

    /// Draw every retry from `budget` (and deposit every success into it).
    pub fn with_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    pub fn config(&self) -> &RetryConfig {
        &self.config
    }

    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.budget.as_ref()
    }

    /// Call `f` until it succeeds or retrying stops; its error becomes `PolicyError::Inner`.
    pub async fn call<T, E, F, Fut>(&self, mut f: F) -> Result<T, PolicyError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
    {
        self.call_flat(
            || {
                let fut = f();
                async { fut.await.map_err(PolicyError::Inner) }
            },
            None,
        )
        .await
    }

    /// [`Retry::call`] for calls that already return `PolicyError` (composition), bounded by
    /// an optional overall deadline.
    pub async fn call_flat<T, E, F, Fut>(
        &self,
        f: F,
        deadline: Option<Deadline>,
    ) -> Result<T, PolicyError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, PolicyError<E>>>,
        E: Classify,
    {
        let started = Instant::now();
        let retries = AtomicU32::new(0);
        let budget_refused = AtomicBool::new(false);
        let cfg = self.config;
        let delays = cfg
            .backoff
            .iter()
            .take(cfg.max_attempts.saturating_sub(1) as usize);

        let res = f
            .retry(delays)
            .sleep(tokio::time::sleep)
            .when(|e: &PolicyError<E>| e.classify().is_transient())
            .adjust(|e: &PolicyError<E>, next: Option<Duration>| {
                let mut delay = next?; // attempts used up
                if let Some(hint) = e.classify().retry_after() {
                    delay = delay.max(hint);
                }
                let wake = Instant::now() + delay;
                if wake > started + cfg.max_elapsed {
                    return None;
                }
                if deadline.is_some_and(|d| wake >= d.instant()) {
                    return None;
                }
                if let Some(b) = &self.budget
                    && !b.try_withdraw()
                {
                    budget_refused.store(true, Ordering::Relaxed);
                    return None;
                }
                Some(delay)
            })
            .notify(|e: &PolicyError<E>, delay: Duration| {
                let n = retries.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(retry = n, ?delay, error = e.kind(), "retrying");
            })
            .await;

        match res {
            Ok(v) => {
                if let Some(b) = &self.budget {
                    b.deposit();
                }
                Ok(v)
            }
            Err(_) if budget_refused.load(Ordering::Relaxed) => Err(PolicyError::BudgetExhausted),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Jitter,
        budget::BudgetConfig,
        classify::{Class, HttpStatusError},
    };
    use std::sync::atomic::AtomicUsize;

    fn cfg(max_attempts: u32) -> RetryConfig {
        RetryConfig {
            max_attempts,
            max_elapsed: Duration::from_secs(60),
            backoff: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(1),
                jitter: Jitter::None,
            },
        }
    }

    /// Fails with the given statuses in order, then succeeds.
    async fn scripted(calls: &AtomicUsize, script: &[u16]) -> Result<usize, HttpStatusError> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        match script.get(n) {
            Some(s) => Err(HttpStatusError::new(*s, None)),
            None => Ok(n),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_until_success_with_backoff_delays() {
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r = Retry::new(cfg(5))
            .call(|| scripted(&calls, &[503, 502, 500]))
            .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(t0.elapsed(), Duration::from_millis(100 + 200 + 400));
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_permanent() {
        for status in [400, 401, 403, 404, 409, 422] {
            let calls = AtomicUsize::new(0);
            let script = [status];
            let r = Retry::new(cfg(5)).call(|| scripted(&calls, &script)).await;
            assert!(matches!(r, Err(PolicyError::Inner(ref e)) if e.status == status));
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{status}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_after_max_attempts_with_last_error() {
        let calls = AtomicUsize::new(0);
        let r = Retry::new(cfg(3))
            .call(|| scripted(&calls, &[503, 503, 504, 503]))
            .await;
        assert!(matches!(r, Err(PolicyError::Inner(ref e)) if e.status == 504));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_as_lower_bound() {
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r = Retry::new(cfg(5))
            .call(|| {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    match n {
                        0 => Err(HttpStatusError::new(429, Some("3"))),
                        1 => Err(HttpStatusError::new(408, None)),
                        _ => Ok(()),
                    }
                }
            })
            .await;
        assert!(r.is_ok());
        assert_eq!(t0.elapsed(), Duration::from_millis(3_000 + 200));
    }

    #[tokio::test(start_paused = true)]
    async fn max_elapsed_caps_total_time() {
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let mut c = cfg(100);
        c.max_elapsed = Duration::from_millis(1_000);
        let r = Retry::new(c).call(|| scripted(&calls, &[503; 100])).await;
        assert!(matches!(r, Err(PolicyError::Inner(_))));
        // sleeps 100+200+400 = 700 ms; the next (800 ms) would end at 1.5 s > 1 s
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(t0.elapsed(), Duration::from_millis(700));
        // a Retry-After beyond the elapsed cap ends retrying at once
        let calls = AtomicUsize::new(0);
        let r = Retry::new(c)
            .call(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(HttpStatusError::new(503, Some("120"))) }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_stops_retries_early() {
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r: Result<(), PolicyError<Class>> = Retry::new(cfg(100))
            .call_flat(
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(PolicyError::Timeout(Duration::from_millis(1))) }
                },
                Some(Deadline::after(Duration::from_millis(350))),
            )
            .await;
        assert!(
            matches!(r, Err(PolicyError::Timeout(_))),
            "timeouts are retried"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "0, 100, 300 ms; 700 ms is past 350"
        );
        assert_eq!(t0.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_refuses_retries_and_success_deposits() {
        let budget = Arc::new(RetryBudget::new(BudgetConfig {
            min_retries_per_sec: 1.0,
            ..BudgetConfig::default()
        }));
        let retry = Retry::new(cfg(10)).with_budget(budget.clone());
        let calls = AtomicUsize::new(0);
        let r = retry.call(|| scripted(&calls, &[503; 10])).await;
        assert!(matches!(r, Err(PolicyError::BudgetExhausted)));
        // first call + the one floor retry; the refused retry is never sent
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!((budget.withdrawn(), budget.refused()), (1, 1));
        let ok_calls = AtomicUsize::new(0);
        for _ in 0..10 {
            ok_calls.store(0, Ordering::SeqCst);
            retry.call(|| scripted(&ok_calls, &[])).await.unwrap();
        }
        assert!(budget.tokens() >= 1.0, "ten successes deposited a token");
    }

    #[tokio::test(start_paused = true)]
    async fn circuit_open_is_not_retried() {
        let calls = AtomicUsize::new(0);
        let r: Result<(), PolicyError<Class>> = Retry::new(cfg(5))
            .call_flat(
                || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async {
                        Err(PolicyError::CircuitOpen {
                            retry_in: Duration::from_secs(1),
                        })
                    }
                },
                None,
            )
            .await;
        assert!(matches!(r, Err(PolicyError::CircuitOpen { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
