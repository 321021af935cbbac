//! Bulkhead: a bounded number of concurrent calls per dependency, with a bounded wait.
//!
//! One slow dependency must not take every task, connection or socket of the service with
//! it. A call gets a slot at once if one is free; otherwise it may wait up to `max_wait`,
//! but only if fewer than `max_waiting` calls are already waiting. Everything else is refused
//! at once with [`PolicyError::BulkheadFull`]. Invariant: in-flight calls never exceed
//! `max_concurrent` (a tokio semaphore holds the slots; a slot is released when its permit
//! drops, including on cancellation or panic).

use std::{
    future::Future,
    sync::atomic::{AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::PolicyError;

/// Bulkhead settings; `Default`: 32 concurrent calls, up to 64 waiting at most 100 ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkheadConfig {
    pub max_concurrent: usize,
    /// How long a call may wait for a slot; zero refuses at once when full.
    pub max_wait: Duration,
    /// How many calls may wait at once; beyond that, refuse without waiting.
    pub max_waiting: usize,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 32,
            max_wait: Duration::from_millis(100),
            max_waiting: 64,
        }
    }
}

/// A bulkhead for one dependency; share it (`Arc`) between all callers of that dependency.
#[derive(Debug)]
pub struct Bulkhead {
    name: String,
    config: BulkheadConfig,
    slots: Semaphore,
    waiting: AtomicUsize,
    rejected: AtomicU64,
}

/// A held slot; the slot is released on drop.
#[derive(Debug)]
pub struct BulkheadPermit<'a> {
    _permit: SemaphorePermit<'a>,
}

/// Decrements the waiting count however the wait ends (success, timeout, cancellation).
struct Waiting<'a>(&'a AtomicUsize);
impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Bulkhead {
    pub fn new(name: impl Into<String>, config: BulkheadConfig) -> Self {
        Self {
            name: name.into(),
            slots: Semaphore::new(config.max_concurrent),
            config,
            waiting: AtomicUsize::new(0),
            rejected: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls holding a slot now.
    pub fn in_flight(&self) -> usize {
        self.config.max_concurrent - self.slots.available_permits()
    }

    /// Calls waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Calls refused since creation.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Take a slot, waiting at most `max_wait`.
    pub async fn acquire<E>(&self) -> Result<BulkheadPermit<'_>, PolicyError<E>> {
        if let Ok(p) = self.slots.try_acquire() {
            return Ok(BulkheadPermit { _permit: p });
        }
        if !self.config.max_wait.is_zero() {
            let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
            let _guard = Waiting(&self.waiting);
            if queued < self.config.max_waiting
                && let Ok(Ok(p)) =
                    tokio::time::timeout(self.config.max_wait, self.slots.acquire()).await
            {
                return Ok(BulkheadPermit { _permit: p });
            }
        }
        self.rejected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(bulkhead = %self.name, in_flight = self.in_flight(), "bulkhead full");
        Err(PolicyError::BulkheadFull)
    }

    /// Run `fut` holding a slot.
    pub async fn call<T, E, Fut>(&self, fut: Fut) -> Result<T, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_flat(async { fut.await.map_err(PolicyError::Inner) })
            .await
    }

    /// Like [`Bulkhead::call`] for a call that already returns `PolicyError` (composition).
    pub async fn call_flat<T, E, Fut>(&self, fut: Fut) -> Result<T, PolicyError<E>>
    where
        Fut: Future<Output = Result<T, PolicyError<E>>>,
    {
        let _slot = self.acquire().await?;
        fut.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::sync::Barrier;

    type R = Result<(), PolicyError<std::io::Error>>;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_max_concurrent_and_excess_rejected() {
        let bh = Arc::new(Bulkhead::new(
            "dep",
            BulkheadConfig {
                max_concurrent: 3,
                max_wait: Duration::from_millis(10),
                max_waiting: 100,
            },
        ));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (bh, peak) = (bh.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let r: R = bh
                    .call(async {
                        peak.fetch_max(bh.in_flight(), Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(())
                    })
                    .await;
                r
            }));
        }
        let mut ok = 0;
        let mut full = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(PolicyError::BulkheadFull) => full += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!((ok, full), (3, 7), "3 slots, 100 ms calls, 10 ms wait");
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(bh.rejected(), 7);
        assert_eq!((bh.in_flight(), bh.waiting()), (0, 0), "all slots released");
    }

    #[tokio::test(start_paused = true)]
    async fn waiters_get_a_slot_within_max_wait() {
        let bh = Arc::new(Bulkhead::new(
            "dep",
            BulkheadConfig {
                max_concurrent: 1,
                max_wait: Duration::from_millis(500),
                max_waiting: 4,
            },
        ));
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let bh = bh.clone();
            tasks.push(tokio::spawn(async move {
                let r: R = bh
                    .call(async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Ok(())
                    })
                    .await;
                r
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("each waited < 500 ms");
        }
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(300),
            "serialised through one slot"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_queue_is_bounded_and_zero_wait_refuses_at_once() {
        let bh = Arc::new(Bulkhead::new(
            "dep",
            BulkheadConfig {
                max_concurrent: 1,
                max_wait: Duration::from_secs(10),
                max_waiting: 1,
            },
        ));
        let held = bh.acquire::<()>().await.unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let (bh2, b2) = (bh.clone(), barrier.clone());
        let waiter = tokio::spawn(async move {
            let fut = bh2.acquire::<()>();
            tokio::pin!(fut);
            // poll once so it registers as waiting, then let the test go on
            assert!(futures_poll_once(fut.as_mut()).await.is_none());
            b2.wait().await;
            fut.await.is_ok()
        });
        barrier.wait().await;
        assert_eq!(bh.waiting(), 1);
        let t0 = tokio::time::Instant::now();
        assert!(matches!(
            bh.acquire::<()>().await,
            Err(PolicyError::BulkheadFull)
        ));
        assert_eq!(
            t0.elapsed(),
            Duration::ZERO,
            "queue full: refused without waiting"
        );
        drop(held);
        assert!(waiter.await.unwrap(), "the queued waiter got the slot");

        let zero = Bulkhead::new(
            "z",
            BulkheadConfig {
                max_concurrent: 1,
                max_wait: Duration::ZERO,
                max_waiting: 10,
            },
        );
        let _h = zero.acquire::<()>().await.unwrap();
        assert!(zero.acquire::<()>().await.is_err());
        assert_eq!(zero.in_flight(), 1);
    }

    /// Poll a future exactly once.
    async fn futures_poll_once<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
