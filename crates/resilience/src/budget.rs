//! Retry budget: retries allowed in proportion to successes, fleet-wide per dependency.
//!
//! Per-call retry caps still let every client triple its load on a dependency that is down
//! (and a fleet of clients multiplies that). A budget is a token bucket shared by all calls
//! to one dependency: each success deposits `deposit_per_success` tokens (0.1: retries stay
//! under ~10 % of successful traffic), each retry withdraws `retry_cost`, and the bucket holds
//! at most `max_tokens`. A separate floor refills at `min_retries_per_sec` (holding at most
//! one second's worth) so that a quiet or just-started client can still retry a little.
//! A refused retry surfaces as [`crate::PolicyError::BudgetExhausted`]; first attempts are
//! never refused. Time comes from an injectable [`Clock`].

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::clock::{Clock, TokioClock};

/// Budget settings; `Default`: 0.1 token per success, 1 per retry, floor of 10 retries/s,
/// at most 100 banked tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    pub deposit_per_success: f64,
    pub retry_cost: f64,
    pub min_retries_per_sec: f64,
    pub max_tokens: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            deposit_per_success: 0.1,
            retry_cost: 1.0,
            min_retries_per_sec: 10.0,
            max_tokens: 100.0,
        }
    }
}

#[derive(Debug)]
struct Buckets {
    earned: f64,
    floor: f64,
    refilled_at: Instant,
}

/// A shared retry budget for one dependency.
#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    clock: Arc<dyn Clock>,
    buckets: Mutex<Buckets>,
    withdrawn: AtomicU64,
    refused: AtomicU64,
}

impl RetryBudget {
    pub fn new(config: BudgetConfig) -> Self {
        Self::with_clock(config, Arc::new(TokioClock))
    }

    /// The floor starts full: a client may retry right after start-up.
    pub fn with_clock(config: BudgetConfig, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        Self {
            buckets: Mutex::new(Buckets {
                earned: 0.0,
                floor: floor_cap(&config),
                refilled_at: now,
            }),
            config,
            clock,
            withdrawn: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refill(&self, b: &mut Buckets) {
        let now = self.clock.now();
        let dt = now.saturating_duration_since(b.refilled_at).as_secs_f64();
        b.floor = (b.floor + dt * self.config.min_retries_per_sec).min(floor_cap(&self.config));
        b.refilled_at = now;
    }

    /// Record a successful call.
    pub fn deposit(&self) {
        let mut b = self.lock();
        b.earned = (b.earned + self.config.deposit_per_success).min(self.config.max_tokens);
    }

    /// Ask for one retry; `false` means do not retry.
    pub fn try_withdraw(&self) -> bool {
        let cost = self.config.retry_cost;
        let mut b = self.lock();
        self.refill(&mut b);
        // Spend the floor first: it refills on its own, earned tokens do not.
        let ok = if b.floor + EPSILON >= 1.0 {
            b.floor = (b.floor - 1.0).max(0.0);
            true
        } else if b.earned + EPSILON >= cost {
            // ten deposits of 0.1 sum to 0.999..., which must still buy a retry
            b.earned = (b.earned - cost).max(0.0);
            true
        } else {
            false
        };
        drop(b);
        if ok {
            self.withdrawn.fetch_add(1, Ordering::Relaxed);
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Tokens available now (earned plus floor), for metrics.
    pub fn tokens(&self) -> f64 {
        let mut b = self.lock();
        self.refill(&mut b);
        b.earned + b.floor
    }

    /// Retries granted since creation.
    pub fn withdrawn(&self) -> u64 {
        self.withdrawn.load(Ordering::Relaxed)
    }

    /// Retries refused since creation.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.config
    }
}

const EPSILON: f64 = 1e-9;

fn floor_cap(c: &BudgetConfig) -> f64 {
    // One second's worth of floor, but at least one retry so a tiny rate still ever allows one.
    c.min_retries_per_sec.max(1.0)
}

/// How long the floor takes to grant `n` retries, for documentation and tests.
pub fn floor_period(config: &BudgetConfig, n: u32) -> Duration {
    Duration::from_secs_f64(f64::from(n) / config.min_retries_per_sec.max(f64::MIN_POSITIVE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn budget(min_per_sec: f64) -> (Arc<ManualClock>, RetryBudget) {
        let clock = Arc::new(ManualClock::new());
        let b = RetryBudget::with_clock(
            BudgetConfig {
                min_retries_per_sec: min_per_sec,
                ..BudgetConfig::default()
            },
            clock.clone(),
        );
        (clock, b)
    }

    #[test]
    fn floor_allows_min_retries_per_second_and_refills() {
        let (c, b) = budget(5.0);
        let granted = (0..20).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 5, "one second's worth of floor");
        assert!(!b.try_withdraw());
        c.advance(Duration::from_millis(400));
        assert_eq!((0..20).filter(|_| b.try_withdraw()).count(), 2);
        c.advance(Duration::from_secs(60));
        assert_eq!(
            (0..20).filter(|_| b.try_withdraw()).count(),
            5,
            "floor does not bank beyond 1 s"
        );
        assert_eq!(b.refused(), 15 + 1 + 18 + 15);
        assert_eq!(floor_period(b.config(), 10), Duration::from_secs(2));
    }

    #[test]
    fn ten_successes_buy_one_retry() {
        let (_c, b) = budget(1.0);
        assert!(b.try_withdraw(), "floor");
        assert!(!b.try_withdraw());
        for _ in 0..9 {
            b.deposit();
        }
        assert!(!b.try_withdraw(), "0.9 tokens is not a retry");
        b.deposit();
        assert!((b.tokens() - 1.0).abs() < 1e-9);
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
        assert_eq!(b.withdrawn(), 2);
    }

    #[test]
    fn earned_tokens_are_capped() {
        let (_c, b) = budget(1.0);
        for _ in 0..10_000 {
            b.deposit();
        }
        assert!(
            (b.tokens() - 101.0).abs() < 1e-6,
            "100 earned + 1 floor, got {}",
            b.tokens()
        );
    }
}
