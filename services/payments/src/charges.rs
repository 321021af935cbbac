//! The `payments.commands` consumer: `payments.charge` and `payments.void` become gateway
//! calls through one composed policy, and the settle job asks the gateway about payments it
//! has not decided yet.
//!
//! Invariants:
//! - A charge first commits its payment row `processing`, with the idempotency key derived
//!   from the order ([`gateway::charge_key`]), and only then calls the gateway: a crash
//!   mid-call leaves a row the settle job finds.
//! - Every call for one order carries the same key, so a redelivered command, a retry, a second
//!   process or the settle job can never make a second charge.
//! - A command whose message id the inbox already holds changes nothing; a charge for a payment
//!   that is already settled never calls the gateway again.
//! - The answer is applied in one transaction: the inbox record, the status move (checked by
//!   [`payment::Status::move_to`] and by the database's trigger), its `payment_attempts` row and
//!   its event in the outbox. Two answers for one payment are serialized by `FOR UPDATE`.
//! - An unreachable gateway (connect error, timeout, open circuit, full bulkhead) leaves the
//!   payment `pending_offline`; a 5xx or 429 after every retry leaves it `gateway_error`;
//!   both announce PaymentPendingOffline and are settled later, never failed on the spot. A 4xx
//!   that is not a decline is `error` (our request is wrong) and logged as an error.
//! - The card token is kept only while the payment is unsettled and is never logged.

use std::sync::Arc;
use std::time::Duration;

use bus::{Handler, Incoming, Outcome};
use contracts::payments::{
    Charge, PaymentAuthorized, PaymentCompleted, PaymentDeclined, PaymentFacts, PaymentFailed,
    PaymentPendingOffline, PaymentVoided, Void,
};
use contracts::{Contract, Envelope, Message, RawEnvelope};
use resilience::{Policy, PolicyError, classify_status};
use secrecy::SecretString;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::accounts::StoreAccounts;
use crate::config::PaymentsConfig;
use crate::db;
use crate::gateway::{self, ChargeRequest, Gateway, GatewayCharge, GatewayError};
use crate::payment::Status;
use crate::ratelimit::GatewayLimit;

/// The inbox handler names.
pub const CHARGE_HANDLER: &str = "payments.charge";
pub const VOID_HANDLER: &str = "payments.void";

/// What a command (or a settle) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Moved(Status),
    /// The gateway's answer left the status where it was (still processing, or a move the
    /// state machine refused).
    Stayed(Status),
    /// The inbox already held the message.
    Duplicate,
    /// Nothing to do: the payment had already settled.
    AlreadySettled(Status),
    /// A void for an order payments never saw.
    NothingToVoid,
}

/// Why a command could not be handled now.
#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A void must happen eventually: the command is retried.
    #[error("the gateway could not void the payment now ({0})")]
    VoidUnreachable(&'static str),
}

/// What one gateway call came to.
#[derive(Debug)]
struct Verdict {
    to: Status,
    why: String,
    response_code: Option<String>,
    charge: Option<GatewayCharge>,
}

impl Verdict {
    fn of(result: Result<GatewayCharge, PolicyError<GatewayError>>) -> Self {
        match result {
            Ok(charge) => Verdict {
                to: charge.status.ours(),
                why: format!("gateway: charge {:?}", charge.status),
                response_code: charge.response_code.clone(),
                charge: Some(charge),
            },
            Err(PolicyError::Inner(GatewayError::Status {
                status,
                retry_after,
                message,
            })) => {
                let to = if classify_status(status, retry_after.as_deref()).is_transient() {
                    Status::GatewayError
                } else {
                    tracing::error!(status, "the gateway refused our request");
                    metrics::counter!("payments_gateway_refused_requests_total").increment(1);
                    Status::Error
                };
                Verdict {
                    to,
                    why: format!("gateway answered {status}: {message}"),
                    response_code: Some(status.to_string()),
                    charge: None,
                }
            }
            Err(PolicyError::Inner(GatewayError::Decode(e))) => Verdict {
                to: Status::GatewayError,
                why: format!("gateway answer not understood: {e}"),
                response_code: None,
                charge: None,
            },
            Err(PolicyError::Inner(GatewayError::Unreachable(e))) => Verdict {
                to: Status::PendingOffline,
                why: format!("gateway unreachable: {e}"),
                response_code: None,
                charge: None,
            },
            Err(other) => Verdict {
                to: Status::PendingOffline,
                why: format!("gateway not called or no answer: {}", other.kind()),
                response_code: None,
                charge: None,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    store_id: Uuid,
    order_id: Uuid,
    status: String,
    amount_minor: i64,
    currency: String,
    customer_name: String,
    customer_email: String,
    idempotency_key: String,
    card_token: Option<String>,
    gateway_charge_id: Option<String>,
}

/// `SELECT` of a [`Row`] followed by the given clauses (a literal: no dynamic SQL).
macro_rules! select_row {
    ($tail:literal) => {
        concat!(
            "SELECT id, store_id, order_id, status, amount_minor, currency, customer_name,
                    customer_email, idempotency_key, card_token, gateway_charge_id
             FROM payments ",
            $tail
        )
    };
}

fn status_of(row: &Row) -> Status {
    // The CHECK constraint admits only the eight names; an unknown one is treated as final.
    Status::parse(&row.status).unwrap_or(Status::Error)
}

/// Payments over one gateway account, with the one policy that guards it.
pub struct Payments<G> {
    pool: PgPool,
    gateway: G,
    policy: Policy,
    settle_after: Duration,
    /// The gateway account's rate limit shared through Redis; every attempt waits on it.
    limit: Option<Arc<GatewayLimit>>,
    /// Stores' own gateway accounts; without them every store uses `gateway`.
    accounts: Option<Arc<StoreAccounts>>,
}

/// The composed stack, outermost first: the shared rate limit (once per logical call;
/// retries within honour the gateway's own 429 `Retry-After`), then the policy's retry →
/// breaker → bulkhead → timeout. The limit's wait is outside the per-call timeout.
async fn admitted<T, F, Fut>(
    limit: Option<&GatewayLimit>,
    policy: &Policy,
    call: F,
) -> Result<T, PolicyError<GatewayError>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, GatewayError>>,
{
    if let Some(limit) = limit {
        limit.acquire().await;
    }
    policy.call(call).await
}

impl<G: Gateway> Payments<G> {
    pub fn new(pool: PgPool, gateway: G, config: &PaymentsConfig) -> Self {
        Self {
            pool,
            gateway,
            policy: config.policy("gateway.pagarme"),
            settle_after: config.settle_after,
            limit: None,
            accounts: None,
        }
    }

    /// A store with its own gateway settings is charged through its own account.
    pub fn with_store_accounts(mut self, accounts: Arc<StoreAccounts>) -> Self {
        self.accounts = Some(accounts);
        self
    }

    /// Charges through the store's account (or the platform's).
    async fn gw_charge(
        &self,
        store: Uuid,
        request: &ChargeRequest,
    ) -> Result<GatewayCharge, PolicyError<GatewayError>> {
        match self.store_account(store).await? {
            None => {
                Box::pin(admitted(self.limit.as_deref(), &self.policy, || {
                    self.gateway.charge(request)
                }))
                .await
            }
            Some(a) => {
                Box::pin(admitted(a.limit.as_deref(), &a.policy, || {
                    a.gateway.charge(request)
                }))
                .await
            }
        }
    }

    /// Looks an order's charge up at the store's gateway (or the platform's).
    async fn gw_find(
        &self,
        store: Uuid,
        code: &str,
    ) -> Result<Option<GatewayCharge>, PolicyError<GatewayError>> {
        match self.store_account(store).await? {
            None => {
                Box::pin(admitted(self.limit.as_deref(), &self.policy, || {
                    self.gateway.find_by_code(code)
                }))
                .await
            }
            Some(a) => {
                Box::pin(admitted(a.limit.as_deref(), &a.policy, || {
                    a.gateway.find_by_code(code)
                }))
                .await
            }
        }
    }

    /// Voids or refunds at the store's gateway (or the platform's).
    async fn gw_cancel(
        &self,
        store: Uuid,
        charge_id: &str,
        key: &str,
    ) -> Result<GatewayCharge, PolicyError<GatewayError>> {
        match self.store_account(store).await? {
            None => {
                Box::pin(admitted(self.limit.as_deref(), &self.policy, || {
                    self.gateway.cancel(charge_id, key)
                }))
                .await
            }
            Some(a) => {
                Box::pin(admitted(a.limit.as_deref(), &a.policy, || {
                    a.gateway.cancel(charge_id, key)
                }))
                .await
            }
        }
    }

    async fn store_account(
        &self,
        store: Uuid,
    ) -> Result<Option<Arc<crate::accounts::StoreAccount>>, PolicyError<GatewayError>> {
        match &self.accounts {
            None => Ok(None),
            Some(accounts) => accounts.for_store(store).await.map_err(PolicyError::Inner),
        }
    }

    /// Every gateway call (each attempt) first waits for `limit`.
    pub fn with_limit(mut self, limit: Arc<GatewayLimit>) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The policy around the gateway (its breaker's state is readiness).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    async fn seen(
        conn: &mut PgConnection,
        cause: Option<&RawEnvelope>,
        handler: &str,
    ) -> Result<bool, sqlx::Error> {
        let Some(cause) = cause else {
            return Ok(false);
        };
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM inbox WHERE message_id = $1 AND handler = $2)",
        )
        .bind(cause.id)
        .bind(handler)
        .fetch_one(conn)
        .await
    }

    async fn call_charge(&self, row: &Row, token: SecretString) -> Verdict {
        let request = ChargeRequest {
            code: row.order_id.to_string(),
            amount_minor: row.amount_minor,
            currency: row.currency.clone(),
            customer_name: row.customer_name.clone(),
            customer_email: row.customer_email.clone(),
            card_token: token,
            idempotency_key: row.idempotency_key.clone(),
        };
        Verdict::of(Box::pin(self.gw_charge(row.store_id, &request)).await)
    }

    /// Handles `payments.charge`.
    pub async fn charge(
        &self,
        cause: Option<&RawEnvelope>,
        command: &Charge,
    ) -> Result<Handled, sqlx::Error> {
        let mut tx = db::begin_for(&self.pool, command.store_id).await?;
        if Self::seen(&mut tx, cause, CHARGE_HANDLER).await? {
            return Ok(Handled::Duplicate);
        }
        let inserted = sqlx::query(
            "INSERT INTO payments (id, store_id, order_id, status, amount_minor, currency,
                                   customer_name, customer_email, idempotency_key, card_token,
                                   gateway)
             VALUES ($1, $2, $3, 'processing', $4, $5, $6, $7, $8, $9,
                     COALESCE((SELECT provider FROM gateway_settings WHERE store_id = $2),
                              'pagarme'))
             ON CONFLICT DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(command.store_id)
        .bind(command.order_id)
        .bind(command.amount_minor)
        .bind(&command.currency)
        .bind(command.customer.name.as_deref().unwrap_or(""))
        .bind(&command.customer.email)
        .bind(gateway::charge_key(command.order_id))
        .bind(&command.payment_token)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row: Row = sqlx::query_as(select_row!(
            "WHERE store_id = $1 AND order_id = $2 FOR UPDATE"
        ))
        .bind(command.store_id)
        .bind(command.order_id)
        .fetch_one(&mut *tx)
        .await?;
        if inserted {
            history(
                &mut tx,
                &row,
                "charge",
                None,
                Status::Processing,
                "charge received",
                None,
            )
            .await?;
        }
        let status = status_of(&row);
        if !status.is_unsettled() {
            // A concurrent delivery of this very message settled it while we waited.
            let first = match cause {
                Some(cause) => outbox::inbox::record(&mut tx, cause.id, CHARGE_HANDLER).await?,
                None => true,
            };
            tx.commit().await?;
            return Ok(if first {
                Handled::AlreadySettled(status)
            } else {
                Handled::Duplicate
            });
        }
        // The row is committed `processing` before the gateway hears of it.
        tx.commit().await?;
        let token = row
            .card_token
            .clone()
            .unwrap_or_else(|| command.payment_token.clone());
        let verdict = self.call_charge(&row, SecretString::from(token)).await;
        let charged = verdict
            .charge
            .as_ref()
            .filter(|c| matches!(c.status.ours(), Status::Completed | Status::Authorized))
            .map(|c| c.charge_id.clone());
        let handled =
            Box::pin(self.conclude(cause, CHARGE_HANDLER, &row, "charge", verdict)).await?;
        if let (Handled::Stayed(Status::Voided), Some(charge_id)) = (&handled, charged) {
            // A void overtook this call (it found no charge yet): the money goes back.
            self.cancel_late_charge(&row, &charge_id).await;
        }
        Ok(handled)
    }

    /// Cancels a charge the gateway made after its payment was voided. A failure is logged
    /// for an operator (the payment is already `voided`; nothing retries this).
    async fn cancel_late_charge(&self, row: &Row, charge_id: &str) {
        let key = gateway::void_key(row.order_id);
        match Box::pin(self.gw_cancel(row.store_id, charge_id, &key)).await {
            Ok(_) => {
                tracing::warn!(payment_id = %row.id, "a charge made after its void was cancelled");
            }
            Err(e) => tracing::error!(
                payment_id = %row.id,
                error = e.kind(),
                "a charge made after its void could not be cancelled: refund it by hand"
            ),
        }
    }

    /// Handles `payments.void`: voids an authorization or refunds a capture; a payment whose
    /// charge the gateway never made is voided without a call.
    pub async fn void(
        &self,
        cause: Option<&RawEnvelope>,
        command: &Void,
    ) -> Result<Handled, PaymentsError> {
        let mut tx = db::begin_for(&self.pool, command.store_id).await?;
        if Self::seen(&mut tx, cause, VOID_HANDLER).await? {
            return Ok(Handled::Duplicate);
        }
        let row: Option<Row> = sqlx::query_as(select_row!(
            "WHERE store_id = $1 AND order_id = $2 FOR UPDATE"
        ))
        .bind(command.store_id)
        .bind(command.order_id)
        .fetch_optional(&mut *tx)
        .await?;
        let settled = match &row {
            None => Some(Handled::NothingToVoid),
            Some(row) if status_of(row).is_final() => Some(Handled::AlreadySettled(status_of(row))),
            Some(_) => None,
        };
        if let Some(handled) = settled {
            let first = match cause {
                Some(cause) => outbox::inbox::record(&mut tx, cause.id, VOID_HANDLER).await?,
                None => true,
            };
            tx.commit().await?;
            return Ok(if first { handled } else { Handled::Duplicate });
        }
        tx.commit().await?;
        let Some(row) = row else {
            return Ok(Handled::NothingToVoid);
        };
        let code = row.order_id.to_string();
        let charge_id = match &row.gateway_charge_id {
            Some(id) => Some(id.clone()),
            None => match Box::pin(self.gw_find(row.store_id, &code)).await {
                Ok(found) => found.map(|c| c.charge_id),
                Err(e) => return Err(PaymentsError::VoidUnreachable(e.kind())),
            },
        };
        let verdict = match charge_id {
            None => Verdict {
                to: Status::Voided,
                why: format!("voided before any charge was made: {}", command.reason),
                response_code: None,
                charge: None,
            },
            Some(id) => {
                let key = gateway::void_key(row.order_id);
                match Box::pin(self.gw_cancel(row.store_id, &id, &key)).await {
                    Ok(charge) => Verdict {
                        why: format!("voided: {}", command.reason),
                        ..Verdict::of(Ok(charge))
                    },
                    Err(e) => return Err(PaymentsError::VoidUnreachable(e.kind())),
                }
            }
        };
        Ok(Box::pin(self.conclude(cause, VOID_HANDLER, &row, "void", verdict)).await?)
    }

    /// Asks the gateway about every unsettled payment (a `processing` one only once it is
    /// older than `settle_after`) and settles what it can; returns how many moved. Runs as the
    /// periodic job `payments.settle` under its advisory lock.
    pub async fn settle_unsettled(&self) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.housekeeping', 'payments-settle', true)")
            .execute(&mut *tx)
            .await?;
        let rows: Vec<Row> = sqlx::query_as(select_row!(
            "WHERE status IN ('processing', 'pending_offline', 'gateway_error')
                   AND (status <> 'processing'
                        OR updated_at < now() - make_interval(secs => $1))
             ORDER BY updated_at LIMIT 200"
        ))
        .bind(self.settle_after.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut moved = 0;
        for row in rows {
            if let Handled::Moved(_) = self.settle(&row).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn settle(&self, row: &Row) -> Result<Handled, sqlx::Error> {
        let code = row.order_id.to_string();
        let found = Box::pin(self.gw_find(row.store_id, &code)).await;
        let (operation, verdict) = match found {
            Ok(Some(charge)) => ("lookup", Verdict::of(Ok(charge))),
            // The gateway never saw the charge: make it now, with the same key.
            Ok(None) => match &row.card_token {
                Some(token) => (
                    "charge",
                    self.call_charge(row, SecretString::from(token.clone()))
                        .await,
                ),
                None => (
                    "lookup",
                    Verdict {
                        to: Status::Error,
                        why: "the gateway has no charge and no card token is left".into(),
                        response_code: None,
                        charge: None,
                    },
                ),
            },
            Err(e) => ("lookup", Verdict::of(Err(e))),
        };
        Box::pin(self.conclude(None, "payments.settle", row, operation, verdict)).await
    }

    /// Applies a verdict in one transaction: inbox, status move, history, event.
    async fn conclude(
        &self,
        cause: Option<&RawEnvelope>,
        handler: &str,
        row: &Row,
        operation: &str,
        verdict: Verdict,
    ) -> Result<Handled, sqlx::Error> {
        let mut tx = db::begin_for(&self.pool, row.store_id).await?;
        if let Some(cause) = cause
            && !outbox::inbox::record(&mut tx, cause.id, handler).await?
        {
            return Ok(Handled::Duplicate);
        }
        let current: Row = sqlx::query_as(select_row!("WHERE id = $1 FOR UPDATE"))
            .bind(row.id)
            .fetch_one(&mut *tx)
            .await?;
        let from = status_of(&current);
        let to = match from.move_to(verdict.to) {
            Ok(to) => Some(to),
            Err(refused) => {
                if from != verdict.to {
                    tracing::warn!(payment_id = %row.id, %refused, "gateway answer refused");
                }
                None
            }
        };
        let settles = to.is_some_and(|to| !to.is_unsettled());
        sqlx::query(
            "UPDATE payments SET status = COALESCE($2, status), updated_at = now(),
                 gateway_order_id = COALESCE($3, gateway_order_id),
                 gateway_charge_id = COALESCE($4, gateway_charge_id),
                 card_token = CASE WHEN $5 THEN NULL ELSE card_token END
             WHERE id = $1",
        )
        .bind(row.id)
        .bind(to.map(Status::as_str))
        .bind(
            verdict
                .charge
                .as_ref()
                .map(|c| c.order_id.clone())
                .filter(|s| !s.is_empty()),
        )
        .bind(verdict.charge.as_ref().map(|c| c.charge_id.clone()))
        .bind(settles)
        .execute(&mut *tx)
        .await?;
        history(
            &mut tx,
            &current,
            operation,
            Some(from),
            to.unwrap_or(from),
            &verdict.why,
            verdict.response_code.as_deref(),
        )
        .await?;
        let handled = match to {
            Some(to) => {
                announce(&mut tx, &current, cause, from, to, &verdict.why).await?;
                Handled::Moved(to)
            }
            None => Handled::Stayed(from),
        };
        tx.commit().await?;
        Ok(handled)
    }
}

/// Writes one `payment_attempts` row.
async fn history(
    conn: &mut PgConnection,
    row: &Row,
    operation: &str,
    from: Option<Status>,
    to: Status,
    why: &str,
    response_code: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_attempts
             (payment_id, store_id, operation, from_status, to_status, why, response_code, attempt)
         VALUES ($1, $2, $3, $4, $5, $6, $7,
                 (SELECT count(*) + 1 FROM payment_attempts
                  WHERE payment_id = $1 AND operation = $3))",
    )
    .bind(row.id)
    .bind(row.store_id)
    .bind(operation)
    .bind(from.map(Status::as_str))
    .bind(to.as_str())
    .bind(why)
    .bind(response_code)
    .execute(conn)
    .await?;
    Ok(())
}

/// The event a move announces, in the outbox with the move.
async fn announce(
    conn: &mut PgConnection,
    row: &Row,
    cause: Option<&RawEnvelope>,
    from: Status,
    to: Status,
    why: &str,
) -> Result<(), sqlx::Error> {
    let payment = PaymentFacts {
        payment_id: row.id,
        order_id: row.order_id,
        store_id: row.store_id,
        amount_minor: row.amount_minor,
        currency: row.currency.clone(),
    };
    match to {
        Status::Completed => {
            outbox::enqueue(conn, envelope_of(row, cause, PaymentCompleted { payment })).await
        }
        Status::Authorized => {
            outbox::enqueue(conn, envelope_of(row, cause, PaymentAuthorized { payment })).await
        }
        Status::Declined => {
            let reason = why.to_owned();
            outbox::enqueue(
                conn,
                envelope_of(row, cause, PaymentDeclined { payment, reason }),
            )
            .await
        }
        Status::Error => {
            let reason = why.to_owned();
            outbox::enqueue(
                conn,
                envelope_of(row, cause, PaymentFailed { payment, reason }),
            )
            .await
        }
        Status::Voided => {
            outbox::enqueue(conn, envelope_of(row, cause, PaymentVoided { payment })).await
        }
        Status::PendingOffline | Status::GatewayError if from == Status::Processing => {
            outbox::enqueue(
                conn,
                envelope_of(row, cause, PaymentPendingOffline { payment }),
            )
            .await
        }
        Status::PendingOffline | Status::GatewayError | Status::Processing => Ok(()),
    }
}

fn envelope_of<P: Contract>(row: &Row, cause: Option<&RawEnvelope>, payload: P) -> Envelope<P> {
    let envelope = Envelope::new(Some(row.store_id), payload).correlated(row.order_id);
    match cause {
        Some(cause) => envelope.caused_by(cause),
        None => envelope,
    }
}

impl<G: Gateway> Handler for Payments<G> {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let cause = Some(&incoming.envelope);
        match &incoming.message {
            Message::Charge(command) => match self.charge(cause, command).await {
                Ok(handled) => {
                    tracing::debug!(?handled, order_id = %command.order_id, "charge handled");
                    Outcome::Done
                }
                Err(e) => outbox::classify::outcome_of(&e),
            },
            Message::Void(command) => match self.void(cause, command).await {
                Ok(handled) => {
                    tracing::debug!(?handled, order_id = %command.order_id, "void handled");
                    Outcome::Done
                }
                Err(PaymentsError::Database(e)) => outbox::classify::outcome_of(&e),
                Err(e @ PaymentsError::VoidUnreachable(_)) => Outcome::Retry(e.to_string()),
            },
            // Nothing else is routed to payments.commands.
            _ => Outcome::Done,
        }
    }
}
