//! Fallback: a typed alternative answer when the other policies give up.
//!
//! The caller decides, per error, whether there is something better than failing: a cached
//! value ([`LastKnownGood`]), a degraded answer (e.g. a payment recorded as
//! `pending_offline`), or nothing (`None`, and the error propagates). The result says which
//! path produced it ([`Served`]), so a degraded answer is never mistaken for a fresh one.

use std::{future::Future, sync::Mutex, time::Duration};

use tokio::time::Instant;

use crate::PolicyError;

/// A value, and whether it came from the real call or the fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served<T> {
    Primary(T),
    Fallback(T),
}

impl<T> Served<T> {
    pub fn into_inner(self) -> T {
        match self {
            Served::Primary(v) | Served::Fallback(v) => v,
        }
    }
    pub fn is_fallback(&self) -> bool {
        matches!(self, Served::Fallback(_))
    }
}

/// Await `fut`; on error, ask `alternative` for a replacement value.
pub async fn fallback<T, E, Fut, F>(fut: Fut, alternative: F) -> Result<Served<T>, PolicyError<E>>
where
    Fut: Future<Output = Result<T, PolicyError<E>>>,
    F: FnOnce(&PolicyError<E>) -> Option<T>,
{
    match fut.await {
        Ok(v) => Ok(Served::Primary(v)),
        Err(e) => match alternative(&e) {
            Some(v) => {
                tracing::info!(error = e.kind(), "serving fallback");
                Ok(Served::Fallback(v))
            }
            None => Err(e),
        },
    }
}

/// The last successful value, served as a fallback while it is younger than `max_age`.
#[derive(Debug)]
pub struct LastKnownGood<T> {
    max_age: Duration,
    slot: Mutex<Option<(T, Instant)>>,
}

impl<T: Clone> LastKnownGood<T> {
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            slot: Mutex::new(None),
        }
    }

    pub fn remember(&self, value: &T) {
        *self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((value.clone(), Instant::now()));
    }

    /// The remembered value if still fresh enough.
    pub fn get(&self) -> Option<T> {
        let slot = self
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.as_ref()
            .filter(|(_, at)| at.elapsed() <= self.max_age)
            .map(|(v, _)| v.clone())
    }

    /// Run `fut`, remembering its success; on failure serve the remembered value if fresh.
    pub async fn call<E, Fut>(&self, fut: Fut) -> Result<Served<T>, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, PolicyError<E>>>,
    {
        fallback(
            async {
                let v = fut.await?;
                self.remember(&v);
                Ok(v)
            },
            |_| self.get(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Payment {
        Captured,
        PendingOffline,
    }

    #[tokio::test]
    async fn degraded_answer_on_rejection_only() {
        let r = fallback(
            async {
                Err::<Payment, PolicyError<()>>(PolicyError::CircuitOpen {
                    retry_in: Duration::ZERO,
                })
            },
            |e| e.is_rejection().then_some(Payment::PendingOffline),
        )
        .await
        .unwrap();
        assert_eq!(r, Served::Fallback(Payment::PendingOffline));
        assert!(r.is_fallback());
        let r = fallback(
            async { Err::<Payment, PolicyError<()>>(PolicyError::Inner(())) },
            |e| e.is_rejection().then_some(Payment::PendingOffline),
        )
        .await;
        assert!(
            matches!(r, Err(PolicyError::Inner(()))),
            "a real error propagates"
        );
        let r = fallback(
            async { Ok::<_, PolicyError<()>>(Payment::Captured) },
            |_| None,
        )
        .await;
        assert_eq!(r.unwrap().into_inner(), Payment::Captured);
    }

    #[tokio::test(start_paused = true)]
    async fn last_known_good_serves_fresh_cache_only() {
        let cache = LastKnownGood::new(Duration::from_secs(60));
        let miss = cache
            .call(async { Err::<u32, PolicyError<()>>(PolicyError::BulkheadFull) })
            .await;
        assert!(
            matches!(miss, Err(PolicyError::BulkheadFull)),
            "nothing cached yet"
        );
        let r = cache
            .call(async { Ok::<u32, PolicyError<()>>(42) })
            .await
            .unwrap();
        assert_eq!(r, Served::Primary(42));
        let r = cache
            .call(async { Err::<u32, PolicyError<()>>(PolicyError::DeadlineExceeded) })
            .await;
        assert_eq!(r.unwrap(), Served::Fallback(42));
        tokio::time::advance(Duration::from_secs(61)).await;
        let r = cache
            .call(async { Err::<u32, PolicyError<()>>(PolicyError::DeadlineExceeded) })
            .await;
        assert!(r.is_err(), "stale cache is not served");
    }
}
