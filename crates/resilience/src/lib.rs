//! Resilience policies for every outbound call: retry with capped exponential backoff and
//! jitter, circuit breaker, bulkhead, timeouts and deadline, fallback, and a retry budget.
//!
//! For the loops that wait on a dependency for as long as the process runs (a database or
//! broker away at start, a consumer to restart), [`until_cancelled`] retries with the same
//! [`Backoff`] until the call succeeds or the process is told to stop.
//!
//! One module per idea; [`policy`] composes them in one place:
//! `deadline(retry+budget(breaker(bulkhead(timeout(call)))))`. Every policy reports through
//! the one error type [`PolicyError`], and decides what to retry or count as a failure via
//! [`Classify`]. The crate depends on no HTTP client: statuses are `u16`, headers `&str`.
//!
//! ```no_run
//! # async fn demo() {
//! use resilience::{Policy, PolicyConfig, PolicyError, HttpStatusError};
//! let payments = Policy::from_config("payments", &PolicyConfig::default());
//! let r: Result<u32, PolicyError<HttpStatusError>> =
//!     payments.call(|| async { Err(HttpStatusError::new(503, Some("1"))) }).await;
//! # }
//! ```

pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod classify;
pub mod clock;
pub mod error;
pub mod fallback;
pub mod policy;
pub mod retry;
pub mod timeout;
pub mod until_cancelled;

pub use backoff::{Backoff, Delays, Jitter};
pub use breaker::{BreakerConfig, BreakerMetrics, BreakerState, CircuitBreaker, Window};
pub use budget::{BudgetConfig, RetryBudget};
pub use bulkhead::{Bulkhead, BulkheadConfig};
pub use classify::{
    Class, Classify, HttpStatusError, classify_io, classify_status, parse_retry_after,
};
pub use clock::{Clock, ManualClock, TokioClock};
pub use error::PolicyError;
pub use fallback::{LastKnownGood, Served, fallback};
pub use policy::{Policy, PolicyBuilder, PolicyConfig, PolicySnapshot};
pub use retry::{Retry, RetryConfig};
pub use timeout::{Deadline, TimeoutConfig, timeout};
pub use until_cancelled::retry_until_cancelled;
