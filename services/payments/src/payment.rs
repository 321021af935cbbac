//! A payment's life as a plain state machine: the eight statuses of the seeds and which moves
//! between them are allowed. No I/O: [`charges`](crate::charges) applies a move in one
//! transaction with its history row and the event it causes.
//!
//! Invariants:
//! - `declined`, `voided` and `error` are final: nothing moves a payment out of them.
//! - `completed` only moves to `voided` (a refund, the saga's compensation).
//! - The undecided statuses (`processing`, `pending_offline`, `gateway_error`) are the ones the
//!   settle job asks the gateway about; each of them can reach every outcome the gateway can
//!   report, and the two "offline" ones can go back to `processing` when a call is retried.
//! - A move to the same status is not a move: it is refused, so a redelivery never writes a
//!   second history row for nothing.

use std::fmt;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Written before the gateway is called; the gateway's answer is awaited (or the
    /// acquirer is still deciding).
    Processing,
    /// Approved, not captured.
    Authorized,
    /// Approved and captured.
    Completed,
    /// The issuer or the gateway's antifraud said no.
    Declined,
    /// The authorization was cancelled or the capture refunded.
    Voided,
    /// The gateway could not be reached (connect error, timeout, open circuit); settled later.
    PendingOffline,
    /// The gateway answered with a server error or a rate limit after every retry; settled later.
    GatewayError,
    /// Our request was wrong (a 4xx that is not a decline); alerts.
    Error,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Processing,
        Status::Authorized,
        Status::Completed,
        Status::Declined,
        Status::Voided,
        Status::PendingOffline,
        Status::GatewayError,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Processing => "processing",
            Status::Authorized => "authorized",
            Status::Completed => "completed",
            Status::Declined => "declined",
            Status::Voided => "voided",
            Status::PendingOffline => "pending_offline",
            Status::GatewayError => "gateway_error",
            Status::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Nothing moves a payment out of a final status.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Declined | Status::Voided | Status::Error)
    }

    /// The gateway has not given a final answer: the settle job asks about these.
    pub fn is_unsettled(self) -> bool {
        matches!(
            self,
            Status::Processing | Status::PendingOffline | Status::GatewayError
        )
    }

    /// Whether `self → to` is allowed.
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        match self {
            Processing => matches!(
                to,
                Authorized | Completed | Declined | Voided | PendingOffline | GatewayError | Error
            ),
            PendingOffline => matches!(
                to,
                Processing | Authorized | Completed | Declined | Voided | GatewayError | Error
            ),
            GatewayError => matches!(
                to,
                Processing | Authorized | Completed | Declined | Voided | PendingOffline | Error
            ),
            Authorized => matches!(to, Completed | Voided),
            Completed => matches!(to, Voided),
            Declined | Voided | Error => false,
        }
    }

    /// The move `self → to`, or why it is refused.
    pub fn move_to(self, to: Status) -> Result<Status, Refused> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(Refused { from: self, to })
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a payment cannot move from {from} to {to}")]
pub struct Refused {
    pub from: Status,
    pub to: Status,
}

#[cfg(test)]
mod tests {
    use super::Status::{self, *};

    /// Every allowed move, written out once; every pair not listed must be refused.
    const ALLOWED: &[(Status, Status)] = &[
        (Processing, Authorized),
        (Processing, Completed),
        (Processing, Declined),
        (Processing, Voided),
        (Processing, PendingOffline),
        (Processing, GatewayError),
        (Processing, Error),
        (PendingOffline, Processing),
        (PendingOffline, Authorized),
        (PendingOffline, Completed),
        (PendingOffline, Declined),
        (PendingOffline, Voided),
        (PendingOffline, GatewayError),
        (PendingOffline, Error),
        (GatewayError, Processing),
        (GatewayError, Authorized),
        (GatewayError, Completed),
        (GatewayError, Declined),
        (GatewayError, Voided),
        (GatewayError, PendingOffline),
        (GatewayError, Error),
        (Authorized, Completed),
        (Authorized, Voided),
        (Completed, Voided),
    ];

    #[test]
    fn every_allowed_move_is_allowed() {
        for &(from, to) in ALLOWED {
            assert_eq!(from.move_to(to), Ok(to), "{from} → {to}");
        }
    }

    #[test]
    fn every_other_move_is_refused() {
        let mut refused = 0;
        for from in Status::ALL {
            for to in Status::ALL {
                if ALLOWED.contains(&(from, to)) {
                    continue;
                }
                let err = from.move_to(to).expect_err("refused");
                assert_eq!((err.from, err.to), (from, to));
                refused += 1;
            }
        }
        assert_eq!(refused, 64 - ALLOWED.len());
    }

    #[test]
    fn final_statuses_have_no_way_out() {
        for from in Status::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(
                Status::ALL.iter().all(|&to| !from.can_move_to(to)),
                "{from}"
            );
        }
        assert_eq!(
            Status::ALL.iter().filter(|s| s.is_final()).count(),
            3,
            "declined, voided, error"
        );
    }

    #[test]
    fn no_status_moves_to_itself() {
        for status in Status::ALL {
            assert!(!status.can_move_to(status), "{status}");
        }
    }

    #[test]
    fn unsettled_statuses_can_reach_every_gateway_outcome() {
        for from in Status::ALL.into_iter().filter(|s| s.is_unsettled()) {
            for to in [Authorized, Completed, Declined, Voided, Error] {
                assert!(from.can_move_to(to), "{from} → {to}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("paid"), None);
    }
}
