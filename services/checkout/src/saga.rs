//! The order saga (docs/design.md): the replies of catalog and payments, and the deadline,
//! move orders through [`order::step`](crate::order::step).
//!
//! Invariants:
//! - One transaction per reply: the inbox record (handler [`HANDLER`]), the status change, its
//!   timeline entry and every message it sends commit together or not at all.
//! - The order row is locked (`FOR UPDATE`) before its status is read, so two replies of one
//!   order (or a reply and the deadline job) never decide from the same stale status.
//! - The card token leaves the order row in the transaction that enqueues `payments.charge`.
//! - A reply for an order checkout does not know, or one the state machine refuses, changes
//!   nothing and is acknowledged (with a warning): retrying cannot make it right.
//!
//! [`CatalogEvents`] and [`PaymentsEvents`] adapt this to the bus: a database that is away
//! pauses the consumer, any other database failure is retried (`outbox::classify`).

use bus::{Handler, Incoming, Outcome};
use contracts::catalog::{CommitStock, ReleaseStock};
use contracts::checkout::{OrderCancelled, OrderConfirmed};
use contracts::payments::{Charge, Customer, Void};
use contracts::{Contract, Envelope, Message, RawEnvelope};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db;
use crate::order::{self, Effect, Input, Reason, Status, Step};
use crate::read_model;

/// The inbox handler name of saga replies.
pub const HANDLER: &str = "checkout.saga";

/// What a reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Moved(Status),
    /// The status stayed (a duplicate, or a late reply repaired by its effects).
    Stayed(&'static str),
    Refused(order::Refused),
    UnknownOrder,
    Duplicate,
}

/// The saga input a message is, with its order and store.
pub fn reply_of(message: &Message) -> Option<(Uuid, Uuid, Input)> {
    Some(match message {
        Message::StockReserved(e) => (e.order_id, e.store_id, Input::StockReserved),
        Message::StockReservationRejected(e) => (e.order_id, e.store_id, Input::StockRejected),
        Message::PaymentCompleted(e) => (
            e.payment.order_id,
            e.payment.store_id,
            Input::PaymentCompleted,
        ),
        Message::PaymentDeclined(e) => (
            e.payment.order_id,
            e.payment.store_id,
            Input::PaymentDeclined,
        ),
        Message::PaymentFailed(e) => (e.payment.order_id, e.payment.store_id, Input::PaymentFailed),
        Message::PaymentPendingOffline(e) => (
            e.payment.order_id,
            e.payment.store_id,
            Input::PaymentPendingOffline,
        ),
        _ => return None,
    })
}

#[derive(sqlx::FromRow)]
struct Locked {
    status: String,
    total_minor: i64,
    currency: String,
    customer_name: String,
    customer_email: String,
    card_token: Option<String>,
}

/// Applies `input` to the order. `cause` is the reply that brought it (recorded in the inbox,
/// and the cause of every message sent); `None` for the deadline job.
pub async fn apply(
    pool: &PgPool,
    cause: Option<&RawEnvelope>,
    order_id: Uuid,
    store_id: Uuid,
    input: Input,
) -> Result<Handled, sqlx::Error> {
    let mut tx = db::begin_for(pool, store_id).await?;
    if let Some(cause) = cause
        && !outbox::inbox::record(&mut tx, cause.id, HANDLER).await?
    {
        return Ok(Handled::Duplicate);
    }
    let locked: Option<Locked> = sqlx::query_as(
        "SELECT status, total_minor, currency, customer_name, customer_email, card_token
         FROM orders WHERE id = $1 AND store_id = $2 FOR UPDATE",
    )
    .bind(order_id)
    .bind(store_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(locked) = locked else {
        tracing::warn!(%order_id, ?input, "a reply for an order checkout does not know");
        tx.commit().await?;
        return Ok(Handled::UnknownOrder);
    };
    let from = Status::parse(&locked.status).unwrap_or(Status::Pending);
    let handled = match order::step(from, input) {
        Err(refused) => {
            tracing::warn!(%order_id, %refused, "reply refused by the order's state machine");
            Handled::Refused(refused)
        }
        Ok(Step::Move {
            to,
            reason,
            effects,
        }) => {
            let drop_card = effects.contains(&Effect::Charge);
            sqlx::query(
                "UPDATE orders SET status = $2, reason = $3, updated_at = now(),
                     card_token = CASE WHEN $4 THEN NULL ELSE card_token END
                 WHERE id = $1",
            )
            .bind(order_id)
            .bind(to.as_str())
            .bind(reason.map(Reason::as_str))
            .bind(drop_card)
            .execute(&mut *tx)
            .await?;
            timeline(&mut tx, order_id, store_id, to, reason, None).await?;
            let sends = Sends {
                order_id,
                store_id,
                cause,
                reason,
                locked: &locked,
            };
            for effect in effects {
                sends.send(&mut tx, effect).await?;
            }
            Handled::Moved(to)
        }
        Ok(Step::Stay { effects, note }) => {
            if !effects.is_empty() {
                timeline(&mut tx, order_id, store_id, from, None, Some(note)).await?;
                let sends = Sends {
                    order_id,
                    store_id,
                    cause,
                    reason: None,
                    locked: &locked,
                };
                for effect in effects {
                    sends.send(&mut tx, effect).await?;
                }
            }
            Handled::Stayed(note)
        }
    };
    tx.commit().await?;
    Ok(handled)
}

/// Writes one timeline entry.
pub(crate) async fn timeline(
    conn: &mut PgConnection,
    order_id: Uuid,
    store_id: Uuid,
    status: Status,
    reason: Option<Reason>,
    note: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_timeline (order_id, store_id, status, reason, note)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(store_id)
    .bind(status.as_str())
    .bind(reason.map(Reason::as_str))
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the effects of one step need to build their messages.
struct Sends<'a> {
    order_id: Uuid,
    store_id: Uuid,
    cause: Option<&'a RawEnvelope>,
    reason: Option<Reason>,
    locked: &'a Locked,
}

impl Sends<'_> {
    fn envelope<P: Contract>(&self, payload: P) -> Envelope<P> {
        let envelope = Envelope::new(Some(self.store_id), payload).correlated(self.order_id);
        match self.cause {
            Some(cause) => envelope.caused_by(cause),
            None => envelope,
        }
    }

    async fn send(&self, conn: &mut PgConnection, effect: Effect) -> Result<(), sqlx::Error> {
        let (order_id, store_id) = (self.order_id, self.store_id);
        match effect {
            Effect::Charge => {
                let Some(token) = self.locked.card_token.clone() else {
                    // Only a charge already sent clears the token, and that moved the order
                    // out of `pending`: this cannot happen, and a charge without a card could
                    // not succeed anyway.
                    tracing::error!(%order_id, "no card token left to charge");
                    return Ok(());
                };
                let charge = Charge {
                    order_id,
                    store_id,
                    amount_minor: self.locked.total_minor,
                    currency: self.locked.currency.clone(),
                    customer: Customer {
                        email: self.locked.customer_email.clone(),
                        name: Some(self.locked.customer_name.clone()),
                    },
                    payment_token: token,
                };
                outbox::enqueue(conn, self.envelope(charge)).await
            }
            Effect::CommitStock => {
                outbox::enqueue(conn, self.envelope(CommitStock { order_id, store_id })).await
            }
            Effect::ReleaseStock => {
                outbox::enqueue(conn, self.envelope(ReleaseStock { order_id, store_id })).await
            }
            Effect::VoidPayment => {
                let reason = self
                    .reason
                    .map_or("order_cancelled", Reason::as_str)
                    .to_owned();
                outbox::enqueue(
                    conn,
                    self.envelope(Void {
                        order_id,
                        store_id,
                        reason,
                    }),
                )
                .await
            }
            Effect::PublishConfirmed => {
                outbox::enqueue(conn, self.envelope(OrderConfirmed { order_id, store_id })).await
            }
            Effect::PublishCancelled => {
                let reason = self.reason.map_or("cancelled", Reason::as_str).to_owned();
                outbox::enqueue(
                    conn,
                    self.envelope(OrderCancelled {
                        order_id,
                        store_id,
                        reason,
                    }),
                )
                .await
            }
        }
    }
}

/// Cancels every unfinished order past its payment deadline (`cancelled/expired`, stock
/// released, any authorization voided); returns how many. Runs as the periodic job
/// `checkout.orders.expire` under its advisory lock. Its search names itself
/// (`app.housekeeping = 'order-deadline'`), which is what lets row-level security show it the
/// overdue orders of every store; each cancellation then acts as the order's store.
pub async fn expire_overdue(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.housekeeping', 'order-deadline', true)")
        .execute(&mut *tx)
        .await?;
    let overdue: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, store_id FROM orders
         WHERE status IN ('pending', 'reserved', 'awaiting_payment') AND payment_deadline < now()
         ORDER BY payment_deadline LIMIT 500",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut expired = 0;
    for (order_id, store_id) in overdue {
        if let Handled::Moved(Status::Cancelled) =
            apply(pool, None, order_id, store_id, Input::DeadlinePassed).await?
        {
            expired += 1;
        }
    }
    Ok(expired)
}

fn outcome(result: Result<impl std::fmt::Debug, sqlx::Error>, kind: &str) -> Outcome {
    match result {
        Ok(done) => {
            tracing::debug!(?done, kind, "handled");
            Outcome::Done
        }
        Err(error) => outbox::classify::outcome_of(&error),
    }
}

/// The `checkout.catalog-events` consumer: the read model, and stock answers for the saga.
pub struct CatalogEvents {
    pool: PgPool,
}

impl CatalogEvents {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl Handler for CatalogEvents {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let kind = incoming.message.kind();
        if let Some((order_id, store_id, input)) = reply_of(&incoming.message) {
            let result = apply(
                &self.pool,
                Some(&incoming.envelope),
                order_id,
                store_id,
                input,
            )
            .await;
            return outcome(result, kind);
        }
        let result = read_model::apply(&self.pool, &incoming.envelope, &incoming.message).await;
        // StockReleased and other catalog events need nothing from checkout.
        outcome(result, kind)
    }
}

/// The `checkout.payments-events` consumer.
pub struct PaymentsEvents {
    pool: PgPool,
}

impl PaymentsEvents {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl Handler for PaymentsEvents {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let kind = incoming.message.kind();
        match reply_of(&incoming.message) {
            Some((order_id, store_id, input)) => {
                let result = apply(
                    &self.pool,
                    Some(&incoming.envelope),
                    order_id,
                    store_id,
                    input,
                )
                .await;
                outcome(result, kind)
            }
            // PaymentAuthorized and PaymentVoided change no order.
            None => Outcome::Done,
        }
    }
}
