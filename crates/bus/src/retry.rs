//! Where a message waits between attempts: a [`RetryQueue`].
//!
//! The consumer runtime does not keep retries in the broker. A retry is handed to the
//! consuming service's own store (the outbox implements [`RetryQueue`] in Postgres), committed
//! there *before* the failed delivery is acked, and published back to the work queue when it is
//! due. A retry is therefore as safe as the service's database and the quorum work queue it
//! returns to, and each one waits exactly its own delay: nothing is held behind a longer one.
//!
//! Invariant for implementors: scheduling is idempotent per (message id, queue, attempt), so a
//! redelivered failure does not schedule the same retry twice.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::publisher::Outgoing;

/// One retry to schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    /// The work queue the message returns to.
    pub queue: String,
    /// The message as it will be delivered again: same id, type and body, published to the
    /// default exchange with the queue's name as routing key; its headers carry `x-attempts`.
    pub message: Outgoing,
    /// The attempt the redelivery will be (2 for the first retry).
    pub attempt: u32,
    /// How long it waits before it is published again, counted from `failed_at`.
    pub delay: Duration,
    /// When the attempt failed. A store that is slow to take the retry (a busy database)
    /// subtracts the time already gone, so the retry's jitter is not smeared by the store.
    pub failed_at: Instant,
}

/// Why a retry could not be scheduled. Always an infrastructure failure (the store is away or
/// refuses), never the message's fault: the runtime puts the delivery back and pauses.
pub type ScheduleError = Box<dyn std::error::Error + Send + Sync>;

/// A store that keeps retries until they are due and then publishes them.
pub trait RetryQueue: Send + Sync + 'static {
    /// Durably records `retry`; returns once it is committed.
    fn schedule(
        &self,
        retry: Retry,
    ) -> Pin<Box<dyn Future<Output = Result<(), ScheduleError>> + Send + '_>>;
}
