//! Capped exponential backoff with jitter: the one delay policy of the workspace.
//!
//! The bus calls [`Backoff::delay`] for its broker-side retry delays; the in-process
//! [`crate::retry::Retry`] drives [`Backoff::iter`] through `backon`. Both draw from the
//! same formulas, so a delay means the same thing everywhere.
//!
//! Invariants (checked by the tests):
//! - the exponential ceiling for retry `n` (1-based) is `min(cap, base * 2^(n-1))`;
//! - `Jitter::None` returns exactly that ceiling, `Full` a value in `[0, ceiling]`,
//!   `Equal` a value in `[ceiling/2, ceiling]`;
//! - `Decorrelated` returns `min(cap, U(base, 3 * previous))`, `previous` defaulting to `base`;
//! - no delay ever exceeds `cap`.
//!
//! Jitter is what breaks up a herd of clients that failed together (see the herd bench and
//! `docs/resilience.md`): without it they all come back at the same instants.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};

/// How randomness spreads the delays of clients that failed together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Plain capped exponential: every client waits exactly the same.
    None,
    /// `U(0, ceiling)`: the widest spread, usually the fewest calls.
    Full,
    /// `ceiling/2 + U(0, ceiling/2)`: never retries almost immediately.
    Equal,
    /// `min(cap, U(base, 3 * previous))`: grows from the previous delay, not the attempt count.
    Decorrelated,
}

/// Capped exponential backoff; `delay(attempt, previous)` is what the bus's broker-side retries call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
}

impl Default for Backoff {
    /// 100 ms base, 30 s cap, full jitter.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(30),
            jitter: Jitter::Full,
        }
    }
}

impl Backoff {
    /// A backoff with the given base and cap and full jitter.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: Jitter::Full,
        }
    }

    /// The same backoff with another jitter.
    pub fn with_jitter(self, jitter: Jitter) -> Self {
        Self { jitter, ..self }
    }

    /// The un-jittered ceiling for retry `attempt` (1 = first retry): `min(cap, base * 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        // Clamp the exponent: 2^30 * any sane base already saturates the cap, and the
        // saturating ops keep absurd inputs from panicking.
        self.base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(30)))
            .min(self.cap)
    }

    /// Delay before retry number `attempt` (1 = first retry), given the previous delay if any.
    /// Uses the thread-local RNG.
    pub fn delay(&self, attempt: u32, previous: Option<Duration>) -> Duration {
        self.delay_with(attempt, previous, &mut rand::rng())
    }

    /// [`Backoff::delay`] with a caller-supplied RNG, for deterministic simulations and tests.
    pub fn delay_with(
        &self,
        attempt: u32,
        previous: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Duration {
        let exp = self.ceiling(attempt);
        match self.jitter {
            Jitter::None => exp,
            Jitter::Full => uniform(rng, Duration::ZERO, exp),
            Jitter::Equal => {
                let half = exp / 2;
                half + uniform(rng, Duration::ZERO, exp - half)
            }
            Jitter::Decorrelated => {
                let prev = previous.unwrap_or(self.base).max(self.base);
                let hi = prev.saturating_mul(3).max(self.base);
                uniform(rng, self.base, hi).min(self.cap)
            }
        }
    }

    /// An endless iterator of delays (retry 1, 2, ...), seeded from the thread RNG.
    /// Bound it with `.take(n)`; `backon` accepts any such iterator as its backoff.
    pub fn iter(&self) -> Delays {
        Delays::new(*self, SmallRng::from_rng(&mut rand::rng()))
    }

    /// [`Backoff::iter`] with a fixed seed: the same seed gives the same sequence.
    pub fn iter_seeded(&self, seed: u64) -> Delays {
        Delays::new(*self, SmallRng::seed_from_u64(seed))
    }
}

impl IntoIterator for Backoff {
    type Item = Duration;
    type IntoIter = Delays;
    fn into_iter(self) -> Delays {
        self.iter()
    }
}

/// Uniform duration in `[lo, hi]` at nanosecond resolution (`lo <= hi` or `lo` is returned).
fn uniform(rng: &mut impl Rng, lo: Duration, hi: Duration) -> Duration {
    if hi <= lo {
        return lo;
    }
    // u64 nanos covers 584 years, far beyond any cap.
    let lo_n = u64::try_from(lo.as_nanos()).unwrap_or(u64::MAX);
    let hi_n = u64::try_from(hi.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(lo_n..=hi_n))
}

/// The delays of one client's retries, in order. Owns its RNG, so it is `Send + Sync` and
/// usable as a `backon` backoff; it remembers the previous delay for decorrelated jitter.
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    attempt: u32,
    previous: Option<Duration>,
    rng: SmallRng,
}

impl Delays {
    fn new(backoff: Backoff, rng: SmallRng) -> Self {
        Self {
            backoff,
            attempt: 0,
            previous: None,
            rng,
        }
    }

    /// The backoff this iterator draws from.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }
}

impl Iterator for Delays {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        self.attempt = self.attempt.saturating_add(1);
        let d = self
            .backoff
            .delay_with(self.attempt, self.previous, &mut self.rng);
        self.previous = Some(d);
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn b(jitter: Jitter) -> Backoff {
        Backoff {
            base: ms(10),
            cap: ms(1_000),
            jitter,
        }
    }

    #[test]
    fn default_is_100ms_30s_full() {
        let d = Backoff::default();
        assert_eq!(
            (d.base, d.cap, d.jitter),
            (ms(100), ms(30_000), Jitter::Full)
        );
    }

    #[test]
    fn no_jitter_is_capped_exponential() {
        let b = b(Jitter::None);
        let got: Vec<_> = (1..=9).map(|a| b.delay(a, None)).collect();
        let want: Vec<_> = [10, 20, 40, 80, 160, 320, 640, 1000, 1000].map(ms).to_vec();
        assert_eq!(got, want);
        // absurd attempts saturate instead of panicking
        assert_eq!(b.delay(u32::MAX, None), ms(1_000));
        assert_eq!(b.delay(0, None), ms(10));
    }

    #[test]
    fn full_and_equal_stay_in_their_windows() {
        let mut rng = SmallRng::seed_from_u64(1);
        for attempt in 1..=12 {
            let ceil = b(Jitter::None).delay(attempt, None);
            for _ in 0..500 {
                let f = b(Jitter::Full).delay_with(attempt, None, &mut rng);
                assert!(f <= ceil, "full {f:?} > {ceil:?}");
                let e = b(Jitter::Equal).delay_with(attempt, None, &mut rng);
                assert!(
                    e >= ceil / 2 && e <= ceil,
                    "equal {e:?} outside [{:?}, {ceil:?}]",
                    ceil / 2
                );
            }
        }
    }

    #[test]
    fn full_jitter_uses_the_whole_window() {
        let mut rng = SmallRng::seed_from_u64(2);
        let v: Vec<_> = (0..1000)
            .map(|_| b(Jitter::Full).delay_with(8, None, &mut rng))
            .collect();
        assert!(v.iter().any(|d| *d < ms(100)));
        assert!(v.iter().any(|d| *d > ms(900)));
    }

    #[test]
    fn decorrelated_stays_between_base_and_three_times_previous_and_cap() {
        let bo = b(Jitter::Decorrelated);
        let mut rng = SmallRng::seed_from_u64(3);
        let mut prev = None;
        for attempt in 1..200 {
            let d = bo.delay_with(attempt, prev, &mut rng);
            let hi = (prev.unwrap_or(bo.base) * 3).min(bo.cap);
            assert!(
                d >= bo.base && d <= hi,
                "{d:?} outside [{:?}, {hi:?}]",
                bo.base
            );
            prev = Some(d);
        }
    }

    #[test]
    fn iterator_feeds_previous_into_decorrelated_and_never_exceeds_cap() {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let v: Vec<_> = b(jitter).iter().take(50).collect();
            assert_eq!(v.len(), 50);
            assert!(v.iter().all(|d| *d <= ms(1_000)), "{jitter:?}: {v:?}");
        }
        // decorrelated sequences grow past 3*base only because `previous` is fed back
        let v: Vec<_> = b(Jitter::Decorrelated).iter_seeded(9).take(30).collect();
        assert!(v.iter().any(|d| *d > ms(30)), "{v:?}");
    }

    #[test]
    fn seeded_sequences_repeat_and_clients_differ() {
        let bo = b(Jitter::Full);
        let a: Vec<_> = bo.iter_seeded(7).take(10).collect();
        let a2: Vec<_> = bo.iter_seeded(7).take(10).collect();
        assert_eq!(a, a2);
        // two clients (thread-seeded) almost surely draw different sequences
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let x: Vec<_> = b(jitter).iter().take(10).collect();
            let y: Vec<_> = b(jitter).iter().take(10).collect();
            assert_ne!(x, y, "{jitter:?}");
        }
        let x: Vec<_> = b(Jitter::None).iter().take(10).collect();
        let y: Vec<_> = b(Jitter::None).iter().take(10).collect();
        assert_eq!(x, y, "no jitter: every client identical");
    }
}
