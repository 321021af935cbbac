//! Composition: the one place that says in which order the policies wrap a call.
//!
//! ```text
//! deadline( retry+budget( breaker( bulkhead( timeout( call ) ) ) ) )
//! ```
//! - the **deadline** bounds everything, sleeps included;
//! - **retry** sees each attempt's outcome and asks the shared **budget** before retrying;
//! - the **breaker** sits inside retry, so every attempt counts and an open circuit stops
//!   the retry loop at once (`CircuitOpen` is not retryable);
//! - the **bulkhead** is inside the breaker so a rejected call never takes a slot, and a
//!   full bulkhead is not counted as a dependency failure;
//! - the per-attempt **timeout** wraps only the call, not the wait for a bulkhead slot.
//!
//! Fallback goes outside all of that ([`Policy::call_or`]). A [`Policy`] is cheap to clone
//! and its breaker, bulkhead and budget are shared by the clones: build one per dependency.

use std::{future::Future, sync::Arc, time::Duration};

use crate::{
    PolicyError,
    breaker::{BreakerConfig, BreakerState, CircuitBreaker},
    budget::{BudgetConfig, RetryBudget},
    bulkhead::{Bulkhead, BulkheadConfig},
    classify::Classify,
    fallback::{Served, fallback},
    retry::{Retry, RetryConfig},
    timeout::{Deadline, TimeoutConfig, timeout},
};

/// Everything a service reads from its environment for one dependency. `None` leaves that
/// policy out. `Default` enables all of them with their own defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    pub retry: Option<RetryConfig>,
    pub budget: Option<BudgetConfig>,
    pub breaker: Option<BreakerConfig>,
    pub bulkhead: Option<BulkheadConfig>,
    pub timeout: TimeoutConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            retry: Some(RetryConfig::default()),
            budget: Some(BudgetConfig::default()),
            breaker: Some(BreakerConfig::default()),
            bulkhead: Some(BulkheadConfig::default()),
            timeout: TimeoutConfig::default(),
        }
    }
}

/// State for metrics and readiness.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySnapshot {
    pub name: String,
    pub breaker: Option<BreakerState>,
    pub in_flight: Option<usize>,
    pub budget_tokens: Option<f64>,
}

/// The composed policies for one dependency.
#[derive(Debug, Clone)]
pub struct Policy {
    name: Arc<str>,
    retry: Option<Retry>,
    breaker: Option<Arc<CircuitBreaker>>,
    bulkhead: Option<Arc<Bulkhead>>,
    per_call: Option<Duration>,
    overall: Option<Duration>,
}

impl Policy {
    pub fn builder(name: impl Into<String>) -> PolicyBuilder {
        PolicyBuilder {
            name: name.into(),
            retry: None,
            budget: None,
            breaker: None,
            bulkhead: None,
            per_call: None,
            overall: None,
        }
    }

    pub fn from_config(name: impl Into<String>, config: &PolicyConfig) -> Self {
        let mut b = Policy::builder(name);
        if let Some(c) = config.retry {
            b = b.retry(c);
            if let Some(bc) = config.budget {
                b = b.budget(bc);
            }
        }
        if let Some(c) = &config.breaker {
            b = b.breaker(c.clone());
        }
        if let Some(c) = &config.bulkhead {
            b = b.bulkhead(c.clone());
        }
        if let Some(d) = config.timeout.per_call {
            b = b.timeout(d);
        }
        if let Some(d) = config.timeout.overall {
            b = b.deadline(d);
        }
        b.build()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn breaker(&self) -> Option<&Arc<CircuitBreaker>> {
        self.breaker.as_ref()
    }
    pub fn bulkhead(&self) -> Option<&Arc<Bulkhead>> {
        self.bulkhead.as_ref()
    }
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.retry.as_ref().and_then(Retry::budget)
    }

    pub fn snapshot(&self) -> PolicySnapshot {
        PolicySnapshot {
            name: self.name.to_string(),
            breaker: self.breaker.as_ref().map(|b| b.state()),
            in_flight: self.bulkhead.as_ref().map(|b| b.in_flight()),
            budget_tokens: self.budget().map(|b| b.tokens()),
        }
    }

    /// Ready unless the breaker is open (half-open counts as ready: it is probing).
    pub fn is_ready(&self) -> bool {
        self.breaker
            .as_ref()
            .is_none_or(|b| b.state() != BreakerState::Open)
    }

    /// Run `f` (called once per attempt) through every configured policy.
    pub async fn call<T, E, F, Fut>(&self, mut f: F) -> Result<T, PolicyError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
    {
        let deadline = self.overall.map(Deadline::after);
        let run = async {
            match &self.retry {
                Some(r) => r.call_flat(|| self.attempt(f()), deadline).await,
                None => self.attempt(f()).await,
            }
        };
        match deadline {
            Some(d) => d.run(run).await,
            None => run.await,
        }
    }

    /// [`Policy::call`], then `alternative` decides whether an error has a fallback value.
    pub async fn call_or<T, E, F, Fut, A>(
        &self,
        f: F,
        alternative: A,
    ) -> Result<Served<T>, PolicyError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
        A: FnOnce(&PolicyError<E>) -> Option<T>,
    {
        fallback(self.call(f), alternative).await
    }

    async fn attempt<T, E, Fut>(&self, fut: Fut) -> Result<T, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Classify,
    {
        let call = async {
            match self.per_call {
                Some(limit) => timeout(limit, fut).await,
                None => fut.await.map_err(PolicyError::Inner),
            }
        };
        let guarded = async {
            match &self.bulkhead {
                Some(b) => b.call_flat(call).await,
                None => call.await,
            }
        };
        match &self.breaker {
            Some(b) => b.call_flat(guarded).await,
            None => guarded.await,
        }
    }
}

/// Builds a [`Policy`]; every policy is optional.
#[derive(Debug)]
pub struct PolicyBuilder {
    name: String,
    retry: Option<RetryConfig>,
    budget: Option<Arc<RetryBudget>>,
    breaker: Option<Arc<CircuitBreaker>>,
    bulkhead: Option<Arc<Bulkhead>>,
    per_call: Option<Duration>,
    overall: Option<Duration>,
}

impl PolicyBuilder {
    pub fn retry(mut self, config: RetryConfig) -> Self {
        self.retry = Some(config);
        self
    }
    /// A new budget for this policy (only used together with `retry`).
    pub fn budget(self, config: BudgetConfig) -> Self {
        self.shared_budget(Arc::new(RetryBudget::new(config)))
    }
    /// A budget shared with other policies (e.g. every client of one dependency).
    pub fn shared_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }
    pub fn breaker(self, config: BreakerConfig) -> Self {
        let b = CircuitBreaker::new(self.name.clone(), config);
        self.shared_breaker(Arc::new(b))
    }
    pub fn shared_breaker(mut self, breaker: Arc<CircuitBreaker>) -> Self {
        self.breaker = Some(breaker);
        self
    }
    pub fn bulkhead(self, config: BulkheadConfig) -> Self {
        let b = Bulkhead::new(self.name.clone(), config);
        self.shared_bulkhead(Arc::new(b))
    }
    pub fn shared_bulkhead(mut self, bulkhead: Arc<Bulkhead>) -> Self {
        self.bulkhead = Some(bulkhead);
        self
    }
    /// Per-attempt timeout.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.per_call = Some(limit);
        self
    }
    /// Overall deadline across all attempts.
    pub fn deadline(mut self, limit: Duration) -> Self {
        self.overall = Some(limit);
        self
    }
    pub fn build(self) -> Policy {
        let retry = self.retry.map(|c| {
            let r = Retry::new(c);
            match self.budget {
                Some(b) => r.with_budget(b),
                None => r,
            }
        });
        Policy {
            name: self.name.into(),
            retry,
            breaker: self.breaker,
            bulkhead: self.bulkhead,
            per_call: self.per_call,
            overall: self.overall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backoff, Jitter, breaker::Window, classify::HttpStatusError};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::Instant;

    fn retry(max_attempts: u32) -> RetryConfig {
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

    #[tokio::test(start_paused = true)]
    async fn slow_attempts_time_out_and_are_retried_within_the_deadline() {
        let p = Policy::builder("dep")
            .retry(retry(10))
            .timeout(Duration::from_millis(50))
            .deadline(Duration::from_millis(500))
            .build();
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r: Result<(), PolicyError<HttpStatusError>> = p
            .call(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok(())
                }
            })
            .await;
        assert!(matches!(r, Err(PolicyError::Timeout(_))), "{r:?}");
        // attempts at 0, 150, 400 ms; the next sleep (400 ms) would end past 500 ms
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(t0.elapsed() <= Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_cuts_a_hanging_attempt() {
        let p = Policy::builder("dep")
            .retry(retry(3))
            .deadline(Duration::from_millis(300))
            .build();
        let r: Result<(), PolicyError<HttpStatusError>> = p
            .call(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(())
            })
            .await;
        assert!(matches!(r, Err(PolicyError::DeadlineExceeded)));
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_inside_retry_and_fallback_serves() {
        let p = Policy::builder("payments")
            .retry(retry(10))
            .breaker(BreakerConfig {
                window: Window::Count(10),
                consecutive_failures: 3,
                ..BreakerConfig::default()
            })
            .bulkhead(BulkheadConfig::default())
            .build();
        let calls = AtomicUsize::new(0);
        let r = p
            .call_or(
                || async {
                    // counted inside the future: a rejected attempt's future is never polled
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err::<&str, _>(HttpStatusError::new(503, None))
                },
                |e| e.is_rejection().then_some("pending_offline"),
            )
            .await
            .unwrap();
        assert_eq!(r, Served::Fallback("pending_offline"));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "3 failures opened the breaker; retry stopped"
        );
        let s = p.snapshot();
        assert_eq!(s.breaker, Some(BreakerState::Open));
        assert_eq!(s.in_flight, Some(0));
        assert!(!p.is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn from_default_config_succeeds_and_reports_state() {
        let p = Policy::from_config("dep", &PolicyConfig::default());
        let r: Result<u8, PolicyError<HttpStatusError>> = p.call(|| async { Ok(5) }).await;
        assert_eq!(r.unwrap(), 5);
        let s = p.snapshot();
        assert_eq!(s.breaker, Some(BreakerState::Closed));
        assert!(s.budget_tokens.unwrap() > 0.0);
        assert!(p.is_ready());
        let none = Policy::builder("bare").build();
        let r: Result<u8, PolicyError<HttpStatusError>> = none
            .call(|| async { Err(HttpStatusError::new(500, None)) })
            .await;
        assert!(matches!(r, Err(PolicyError::Inner(_))));
        assert_eq!(none.snapshot().breaker, None);
    }
}
