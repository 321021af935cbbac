//! The one error type every policy returns.
//!
//! `Inner(E)` carries the call's own error untouched; every other variant is a decision made
//! by a policy. `CircuitOpen`, `BulkheadFull` and `BudgetExhausted` are *rejections*: the call
//! was never sent, they return at once, and callers are expected to fall back on them.

use std::time::Duration;

use crate::classify::{Class, Classify};

/// Why a protected call did not produce a value.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError<E> {
    /// The call itself failed (permanently, or transiently with retries used up).
    #[error("call failed: {0}")]
    Inner(#[source] E),
    /// One attempt took longer than the per-call timeout.
    #[error("attempt timed out after {0:?}")]
    Timeout(Duration),
    /// The overall deadline (across all retries) ran out.
    #[error("overall deadline exceeded")]
    DeadlineExceeded,
    /// The circuit breaker is open; the call was not sent. `retry_in` is the rest of the cool-down
    /// (zero while half-open trial calls are all taken).
    #[error("circuit open (retry in {retry_in:?})")]
    CircuitOpen { retry_in: Duration },
    /// Too many calls already in flight to this dependency and the bounded wait ran out.
    #[error("bulkhead full")]
    BulkheadFull,
    /// The retry budget refused another retry; the last attempt's error is dropped on purpose:
    /// the dependency is failing for everyone, not just for this call.
    #[error("retry budget exhausted")]
    BudgetExhausted,
}

impl<E> PolicyError<E> {
    /// The call's own error, if that is what this is.
    pub fn inner(&self) -> Option<&E> {
        match self {
            PolicyError::Inner(e) => Some(e),
            _ => None,
        }
    }

    pub fn into_inner(self) -> Option<E> {
        match self {
            PolicyError::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// The variant's name, for logs and metric labels (`E` need not be `Display`).
    pub fn kind(&self) -> &'static str {
        match self {
            PolicyError::Inner(_) => "inner",
            PolicyError::Timeout(_) => "timeout",
            PolicyError::DeadlineExceeded => "deadline_exceeded",
            PolicyError::CircuitOpen { .. } => "circuit_open",
            PolicyError::BulkheadFull => "bulkhead_full",
            PolicyError::BudgetExhausted => "budget_exhausted",
        }
    }

    /// The call was refused without being sent (breaker, bulkhead or budget).
    pub fn is_rejection(&self) -> bool {
        matches!(
            self,
            PolicyError::CircuitOpen { .. }
                | PolicyError::BulkheadFull
                | PolicyError::BudgetExhausted
        )
    }

    pub fn map_inner<F, E2>(self, f: F) -> PolicyError<E2>
    where
        F: FnOnce(E) -> E2,
    {
        match self {
            PolicyError::Inner(e) => PolicyError::Inner(f(e)),
            PolicyError::Timeout(d) => PolicyError::Timeout(d),
            PolicyError::DeadlineExceeded => PolicyError::DeadlineExceeded,
            PolicyError::CircuitOpen { retry_in } => PolicyError::CircuitOpen { retry_in },
            PolicyError::BulkheadFull => PolicyError::BulkheadFull,
            PolicyError::BudgetExhausted => PolicyError::BudgetExhausted,
        }
    }
}

/// An attempt that timed out is worth retrying (and counts against a breaker); rejections and
/// an exhausted deadline are not: retrying them would only spin.
impl<E: Classify> Classify for PolicyError<E> {
    fn classify(&self) -> Class {
        match self {
            PolicyError::Inner(e) => e.classify(),
            PolicyError::Timeout(_) => Class::TRANSIENT,
            _ => Class::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::HttpStatusError;

    #[test]
    fn classification_and_helpers() {
        let e: PolicyError<HttpStatusError> = PolicyError::Inner(HttpStatusError::new(503, None));
        assert!(e.classify().is_transient());
        assert!(!e.is_rejection());
        assert_eq!(e.inner().map(|e| e.status), Some(503));
        let t: PolicyError<HttpStatusError> = PolicyError::Timeout(Duration::from_secs(1));
        assert!(t.classify().is_transient());
        for r in [
            PolicyError::<HttpStatusError>::BulkheadFull,
            PolicyError::BudgetExhausted,
            PolicyError::CircuitOpen {
                retry_in: Duration::ZERO,
            },
        ] {
            assert!(r.is_rejection());
            assert_eq!(r.classify(), Class::Permanent);
        }
        let m = PolicyError::Inner(3u8).map_inner(|v| v * 2);
        assert_eq!(m.into_inner(), Some(6));
        assert_eq!(
            PolicyError::<std::io::Error>::DeadlineExceeded.to_string(),
            "overall deadline exceeded"
        );
    }
}
