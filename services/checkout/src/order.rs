//! The order's life as a plain state machine: statuses, cancel reasons, the saga's inputs, and
//! what each input does in each status. No I/O: [`saga`](crate::saga) applies the answer in one
//! transaction (status, timeline entry, outgoing messages).
//!
//! Invariants:
//! - `confirmed` and `cancelled` are final: nothing moves an order out of them.
//! - A late or repeated reply never resurrects an order: a PaymentCompleted for a cancelled
//!   order voids the payment and the order stays cancelled; a StockReserved for a cancelled
//!   order releases the stock; a second StockReserved does nothing.
//! - A reply that cannot happen in a status (a payment answer before any charge was sent, a
//!   rejection after a reservation) is [`Refused`]: the caller changes nothing and says why.

use std::fmt;

/// Where an order stands, as the shopper sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Placed; stock being reserved.
    Pending,
    /// Stock held; payment under way.
    Reserved,
    /// The gateway was unreachable; the charge will be retried (PaymentPendingOffline).
    AwaitingPayment,
    Confirmed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Reserved,
        Status::AwaitingPayment,
        Status::Confirmed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Reserved => "reserved",
            Status::AwaitingPayment => "awaiting_payment",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Nothing moves an order out of a final status.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Confirmed | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    OutOfStock,
    PaymentDeclined,
    PaymentFailed,
    Expired,
}

/// A shopper-facing language; orders speak their store's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Portuguese,
    English,
}

impl Language {
    /// `pt…` is Portuguese, `en…` English; anything else falls back to Portuguese (Summit's
    /// stores are Brazilian by default).
    pub fn parse(tag: &str) -> Self {
        if tag.trim().to_ascii_lowercase().starts_with("en") {
            Language::English
        } else {
            Language::Portuguese
        }
    }
}

impl Reason {
    pub const ALL: [Reason; 4] = [
        Reason::OutOfStock,
        Reason::PaymentDeclined,
        Reason::PaymentFailed,
        Reason::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutOfStock => "out_of_stock",
            Reason::PaymentDeclined => "payment_declined",
            Reason::PaymentFailed => "payment_failed",
            Reason::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|reason| reason.as_str() == s)
    }

    /// A sentence a shopper understands.
    pub fn message(self, language: Language) -> &'static str {
        match (self, language) {
            (Reason::OutOfStock, Language::Portuguese) => {
                "Um ou mais itens do pedido estão sem estoque. Nada foi cobrado."
            }
            (Reason::OutOfStock, Language::English) => {
                "One or more items in your order are out of stock. You were not charged."
            }
            (Reason::PaymentDeclined, Language::Portuguese) => {
                "O pagamento foi recusado pelo emissor do cartão. Tente outro cartão."
            }
            (Reason::PaymentDeclined, Language::English) => {
                "Your card issuer declined the payment. Please try another card."
            }
            (Reason::PaymentFailed, Language::Portuguese) => {
                "Não foi possível processar o pagamento. Nada foi cobrado; tente novamente."
            }
            (Reason::PaymentFailed, Language::English) => {
                "The payment could not be processed. You were not charged; please try again."
            }
            (Reason::Expired, Language::Portuguese) => {
                "O pagamento não foi concluído a tempo e o pedido expirou. Nada foi cobrado."
            }
            (Reason::Expired, Language::English) => {
                "The payment was not completed in time and the order expired. You were not charged."
            }
        }
    }
}

/// What can happen to an order after it is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    StockReserved,
    StockRejected,
    PaymentCompleted,
    PaymentDeclined,
    PaymentFailed,
    PaymentPendingOffline,
    /// The payment deadline passed (the periodic job).
    DeadlinePassed,
}

impl Input {
    pub const ALL: [Input; 7] = [
        Input::StockReserved,
        Input::StockRejected,
        Input::PaymentCompleted,
        Input::PaymentDeclined,
        Input::PaymentFailed,
        Input::PaymentPendingOffline,
        Input::DeadlinePassed,
    ];
}

/// A message the saga sends because of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    /// `payments.charge` (and the card token leaves the order row).
    Charge,
    /// `catalog.commit-stock`.
    CommitStock,
    /// `catalog.release-stock`.
    ReleaseStock,
    /// `payments.void`.
    VoidPayment,
    /// `checkout.OrderConfirmed`.
    PublishConfirmed,
    /// `checkout.OrderCancelled`.
    PublishCancelled,
}

/// What an input does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The order moves to `to` (with a reason when cancelled) and sends `effects`.
    Move {
        to: Status,
        reason: Option<Reason>,
        effects: Vec<Effect>,
    },
    /// The status stays; `effects` repair a late reply (empty for a plain duplicate). `note`
    /// names what happened, for the timeline when there are effects.
    Stay {
        effects: Vec<Effect>,
        note: &'static str,
    },
}

/// An input that cannot happen in this status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} cannot happen to a {from} order")]
pub struct Refused {
    pub from: Status,
    pub input: Input,
}

fn cancel(reason: Reason, effects: &[Effect]) -> Step {
    let mut effects = effects.to_vec();
    effects.push(Effect::PublishCancelled);
    Step::Move {
        to: Status::Cancelled,
        reason: Some(reason),
        effects,
    }
}

fn stay(note: &'static str, effects: &[Effect]) -> Step {
    Step::Stay {
        effects: effects.to_vec(),
        note,
    }
}

/// The whole table: what `input` does to an order in status `from`.
pub fn step(from: Status, input: Input) -> Result<Step, Refused> {
    use Effect::*;
    use Input::*;
    use Status::*;
    let refused = Err(Refused { from, input });
    Ok(match (from, input) {
        (Pending, StockReserved) => Step::Move {
            to: Reserved,
            reason: None,
            effects: vec![Charge],
        },
        (Pending, StockRejected) => cancel(Reason::OutOfStock, &[]),
        // A reservation may still be in flight: release whatever it takes (catalog serializes
        // an order's commands, and a late StockReserved is released again below).
        (Pending, DeadlinePassed) => cancel(Reason::Expired, &[ReleaseStock]),
        // No charge was sent before the stock was held.
        (Pending, PaymentCompleted | PaymentDeclined | PaymentFailed | PaymentPendingOffline) => {
            return refused;
        }

        (Reserved | AwaitingPayment, StockReserved) => stay("duplicate_stock_reserved", &[]),
        (Reserved | AwaitingPayment, StockRejected) => return refused,
        (Reserved | AwaitingPayment, PaymentCompleted) => Step::Move {
            to: Confirmed,
            reason: None,
            effects: vec![CommitStock, PublishConfirmed],
        },
        (Reserved | AwaitingPayment, PaymentDeclined) => {
            cancel(Reason::PaymentDeclined, &[ReleaseStock])
        }
        (Reserved | AwaitingPayment, PaymentFailed) => {
            cancel(Reason::PaymentFailed, &[ReleaseStock])
        }
        (Reserved, PaymentPendingOffline) => Step::Move {
            to: AwaitingPayment,
            reason: None,
            effects: vec![],
        },
        (AwaitingPayment, PaymentPendingOffline) => stay("duplicate_payment_pending_offline", &[]),
        (Reserved | AwaitingPayment, DeadlinePassed) => {
            cancel(Reason::Expired, &[ReleaseStock, VoidPayment])
        }

        (Confirmed, StockReserved) => stay("duplicate_stock_reserved", &[]),
        (Confirmed, PaymentCompleted) => stay("duplicate_payment_completed", &[]),
        (
            Confirmed,
            StockRejected
            | PaymentDeclined
            | PaymentFailed
            | PaymentPendingOffline
            | DeadlinePassed,
        ) => return refused,

        // Never a resurrection: undo what a late reply did instead.
        (Cancelled, PaymentCompleted) => stay("payment_voided", &[VoidPayment]),
        (Cancelled, StockReserved) => stay("late_stock_released", &[ReleaseStock]),
        (Cancelled, StockRejected | PaymentDeclined | PaymentFailed | PaymentPendingOffline) => {
            stay("late_reply_ignored", &[])
        }
        (Cancelled, DeadlinePassed) => return refused,
    })
}

#[cfg(test)]
mod tests {
    use super::Effect::*;
    use super::Input::*;
    use super::Status::*;
    use super::*;

    fn moves(from: Status, input: Input) -> (Status, Option<Reason>, Vec<Effect>) {
        match step(from, input) {
            Ok(Step::Move {
                to,
                reason,
                effects,
            }) => (to, reason, effects),
            other => panic!("{from} + {input:?}: expected a move, got {other:?}"),
        }
    }

    fn stays(from: Status, input: Input) -> Vec<Effect> {
        match step(from, input) {
            Ok(Step::Stay { effects, .. }) => effects,
            other => panic!("{from} + {input:?}: expected to stay, got {other:?}"),
        }
    }

    fn refused(from: Status, input: Input) {
        assert_eq!(step(from, input), Err(Refused { from, input }));
    }

    #[test]
    fn the_happy_path_reserves_charges_and_confirms() {
        assert_eq!(
            moves(Pending, StockReserved),
            (Reserved, None, vec![Charge])
        );
        assert_eq!(
            moves(Reserved, PaymentCompleted),
            (Confirmed, None, vec![CommitStock, PublishConfirmed])
        );
    }

    #[test]
    fn a_gateway_outage_waits_then_settles() {
        assert_eq!(
            moves(Reserved, PaymentPendingOffline),
            (AwaitingPayment, None, vec![])
        );
        assert_eq!(stays(AwaitingPayment, PaymentPendingOffline), vec![]);
        assert_eq!(
            moves(AwaitingPayment, PaymentCompleted),
            (Confirmed, None, vec![CommitStock, PublishConfirmed])
        );
        assert_eq!(
            moves(AwaitingPayment, PaymentFailed),
            (
                Cancelled,
                Some(Reason::PaymentFailed),
                vec![ReleaseStock, PublishCancelled]
            )
        );
        assert_eq!(
            moves(AwaitingPayment, PaymentDeclined),
            (
                Cancelled,
                Some(Reason::PaymentDeclined),
                vec![ReleaseStock, PublishCancelled]
            )
        );
    }

    #[test]
    fn failures_cancel_with_their_reason_and_give_stock_back() {
        assert_eq!(
            moves(Pending, StockRejected),
            (Cancelled, Some(Reason::OutOfStock), vec![PublishCancelled])
        );
        assert_eq!(
            moves(Reserved, PaymentDeclined),
            (
                Cancelled,
                Some(Reason::PaymentDeclined),
                vec![ReleaseStock, PublishCancelled]
            )
        );
        assert_eq!(
            moves(Reserved, PaymentFailed),
            (
                Cancelled,
                Some(Reason::PaymentFailed),
                vec![ReleaseStock, PublishCancelled]
            )
        );
    }

    #[test]
    fn the_deadline_expires_every_unfinished_order() {
        assert_eq!(
            moves(Pending, DeadlinePassed),
            (
                Cancelled,
                Some(Reason::Expired),
                vec![ReleaseStock, PublishCancelled]
            )
        );
        for from in [Reserved, AwaitingPayment] {
            assert_eq!(
                moves(from, DeadlinePassed),
                (
                    Cancelled,
                    Some(Reason::Expired),
                    vec![ReleaseStock, VoidPayment, PublishCancelled]
                )
            );
        }
        refused(Confirmed, DeadlinePassed);
        refused(Cancelled, DeadlinePassed);
    }

    #[test]
    fn duplicates_do_nothing() {
        for from in [Reserved, AwaitingPayment, Confirmed] {
            assert_eq!(stays(from, StockReserved), vec![]);
        }
        assert_eq!(stays(Confirmed, PaymentCompleted), vec![]);
    }

    #[test]
    fn late_replies_to_a_cancelled_order_are_undone_never_resurrect_it() {
        assert_eq!(stays(Cancelled, PaymentCompleted), vec![VoidPayment]);
        assert_eq!(stays(Cancelled, StockReserved), vec![ReleaseStock]);
        for input in [
            StockRejected,
            PaymentDeclined,
            PaymentFailed,
            PaymentPendingOffline,
        ] {
            assert_eq!(stays(Cancelled, input), vec![]);
        }
    }

    #[test]
    fn impossible_replies_are_refused() {
        for input in [
            PaymentCompleted,
            PaymentDeclined,
            PaymentFailed,
            PaymentPendingOffline,
        ] {
            refused(Pending, input);
        }
        refused(Reserved, StockRejected);
        refused(AwaitingPayment, StockRejected);
        for input in [
            StockRejected,
            PaymentDeclined,
            PaymentFailed,
            PaymentPendingOffline,
        ] {
            refused(Confirmed, input);
        }
    }

    #[test]
    fn final_statuses_are_never_left() {
        for from in Status::ALL {
            for input in Input::ALL {
                if let Ok(Step::Move { to, .. }) = step(from, input) {
                    assert!(!from.is_final(), "{from} + {input:?} moved to {to}");
                    assert_ne!(to, from, "a move changes the status");
                }
            }
        }
    }

    #[test]
    fn every_cancellation_names_a_reason_and_announces_itself() {
        for from in Status::ALL {
            for input in Input::ALL {
                if let Ok(Step::Move {
                    to,
                    reason,
                    effects,
                }) = step(from, input)
                {
                    assert_eq!(to == Cancelled, reason.is_some(), "{from} + {input:?}");
                    assert_eq!(
                        to == Cancelled,
                        effects.contains(&PublishCancelled),
                        "{from} + {input:?}"
                    );
                    assert_eq!(to == Confirmed, effects.contains(&PublishConfirmed));
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_reasons_speak_both_languages() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("shipped"), None);
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            assert_ne!(
                reason.message(Language::Portuguese),
                reason.message(Language::English)
            );
        }
        assert_eq!(Language::parse("en-US"), Language::English);
        assert_eq!(Language::parse("pt-BR"), Language::Portuguese);
        assert_eq!(Language::parse("de"), Language::Portuguese);
    }
}
