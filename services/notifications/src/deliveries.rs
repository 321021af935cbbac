//! The delivery log: one row per (event, channel, recipient, template), every attempt beside
//! it, and the events that say how it ended (NotificationSent, NotificationFailed).
//!
//! A delivery is written `pending` in the transaction that records the event in the inbox,
//! together with a `notifications.send-email` / `send-webhook` command for it (outbox). The
//! sender leases the row ([`lease`]) before it talks to SMTP or the endpoint, so a duplicate
//! command never sends beside it, and records the outcome with the attempt in one transaction.

use std::time::Duration;

use contracts::notifications::{NotificationFailed, NotificationSent, SendEmail, SendWebhook};
use contracts::{Envelope, RawEnvelope};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How a delivery travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }
}

/// A delivery about to be logged.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub store_id: Uuid,
    pub order_id: Option<Uuid>,
    pub channel: Channel,
    pub template: String,
    pub recipient: String,
    pub endpoint_id: Option<Uuid>,
    pub message_id: String,
    pub data: Value,
}

/// Logs `delivery` for `event` and, if it is new, queues the command that sends it (both in the
/// caller's transaction). Returns the new delivery's id; `None` if the event already had it.
pub async fn insert(
    conn: &mut PgConnection,
    event: &RawEnvelope,
    delivery: &NewDelivery,
) -> Result<Option<Uuid>, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO deliveries (id, store_id, event_id, event_type, event_at, order_id, channel,
                                 template, recipient, endpoint_id, message_id, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (event_id, channel, recipient, template) DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(delivery.store_id)
    .bind(event.id)
    .bind(&event.kind)
    .bind(event.occurred_at)
    .bind(delivery.order_id)
    .bind(delivery.channel.as_str())
    .bind(&delivery.template)
    .bind(&delivery.recipient)
    .bind(delivery.endpoint_id)
    .bind(&delivery.message_id)
    .bind(&delivery.data)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        send_command(conn, id, delivery.store_id, delivery.channel, Some(event)).await?;
    }
    Ok(id)
}

/// Queues the command that (re)sends delivery `id`.
pub async fn send_command(
    conn: &mut PgConnection,
    id: Uuid,
    store_id: Uuid,
    channel: Channel,
    cause: Option<&RawEnvelope>,
) -> Result<(), sqlx::Error> {
    match channel {
        Channel::Email => {
            let mut envelope = Envelope::new(
                Some(store_id),
                SendEmail {
                    delivery_id: id,
                    store_id,
                },
            );
            if let Some(cause) = cause {
                envelope = envelope.caused_by(cause);
            }
            outbox::enqueue(conn, envelope).await
        }
        Channel::Webhook => {
            let mut envelope = Envelope::new(
                Some(store_id),
                SendWebhook {
                    delivery_id: id,
                    store_id,
                },
            );
            if let Some(cause) = cause {
                envelope = envelope.caused_by(cause);
            }
            outbox::enqueue(conn, envelope).await
        }
    }
}

/// A logged delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub store_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub order_id: Option<Uuid>,
    pub channel: String,
    pub template: String,
    pub recipient: String,
    pub endpoint_id: Option<Uuid>,
    pub message_id: String,
    pub data: sqlx::types::Json<Value>,
    pub status: String,
    pub attempts: i32,
    /// Until when the sender that read this row holds it: its lease, compared by
    /// [`renew`] to tell whether another sender took the delivery since.
    pub leased_until: Option<chrono::DateTime<chrono::Utc>>,
}

/// What [`lease`] found.
#[derive(Debug)]
pub enum Lease {
    /// Ours to send until the lease runs out.
    Got(Box<Delivery>),
    /// Already sent: nothing to do.
    Sent,
    /// Another sender holds it right now.
    Held,
    /// No such delivery (deleted with its store's data).
    Missing,
}

/// Takes delivery `id` for `hold` unless it is sent or another sender holds it.
pub async fn lease(
    pool: &PgPool,
    store_id: Uuid,
    id: Uuid,
    hold: Duration,
) -> Result<Lease, sqlx::Error> {
    let mut tx = service_kit::tenant::begin_for(pool, store_id).await?;
    let got: Option<Delivery> = sqlx::query_as(
        "UPDATE deliveries SET leased_until = clock_timestamp() + make_interval(secs => $3)
         WHERE id = $1 AND store_id = $2 AND status <> 'sent'
           AND (leased_until IS NULL OR leased_until <= clock_timestamp())
         RETURNING id, store_id, event_id, event_type, order_id, channel, template, recipient,
                   endpoint_id, message_id, data, status, attempts, leased_until",
    )
    .bind(id)
    .bind(store_id)
    .bind(hold.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    let lease = match got {
        Some(delivery) => Lease::Got(Box::new(delivery)),
        None => {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1 AND store_id = $2")
                    .bind(id)
                    .bind(store_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match status.as_deref() {
                None => Lease::Missing,
                Some("sent") => Lease::Sent,
                Some(_) => Lease::Held,
            }
        }
    };
    tx.commit().await?;
    Ok(lease)
}

/// Extends the lease `delivery` was read under to `hold` from now, if it is still that lease:
/// false when it ran out and another sender took the delivery (or it was sent meanwhile). A
/// sender renews right before handing the message over, so it only ever sends while the
/// lease covers the whole exchange, however long the steps before it took.
pub async fn renew(
    pool: &PgPool,
    delivery: &mut Delivery,
    hold: Duration,
) -> Result<bool, sqlx::Error> {
    let mut tx = service_kit::tenant::begin_for(pool, delivery.store_id).await?;
    let renewed: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "UPDATE deliveries SET leased_until = clock_timestamp() + make_interval(secs => $4)
         WHERE id = $1 AND store_id = $2 AND status <> 'sent' AND leased_until = $3
         RETURNING leased_until",
    )
    .bind(delivery.id)
    .bind(delivery.store_id)
    .bind(delivery.leased_until)
    .bind(hold.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    match renewed {
        Some(until) => {
            delivery.leased_until = Some(until);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// [`Lease::Sent`] if `delivery` is recorded `sent`, [`Lease::Held`] otherwise: whether a
/// record whose answer was lost did commit.
pub async fn status_is_sent(pool: &PgPool, delivery: &Delivery) -> Result<Lease, sqlx::Error> {
    let mut tx = service_kit::tenant::begin_for(pool, delivery.store_id).await?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1 AND store_id = $2")
            .bind(delivery.id)
            .bind(delivery.store_id)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(if status.as_deref() == Some("sent") {
        Lease::Sent
    } else {
        Lease::Held
    })
}

/// One try, as the log keeps it.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub ok: bool,
    pub status_code: Option<i32>,
    pub latency: Duration,
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

async fn insert_attempt(
    conn: &mut PgConnection,
    delivery: &Delivery,
    attempt: &Attempt,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, store_id, ok, status_code, latency_ms,
                                        excerpt, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(delivery.id)
    .bind(delivery.store_id)
    .bind(attempt.ok)
    .bind(attempt.status_code)
    .bind(i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX))
    .bind(&attempt.excerpt)
    .bind(&attempt.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks `delivery` sent with its attempt and announces NotificationSent, in `conn`'s
/// transaction.
pub async fn record_sent(
    conn: &mut PgConnection,
    delivery: &Delivery,
    attempt: &Attempt,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, last_error = NULL,
                sent_at = clock_timestamp(), updated_at = clock_timestamp(), leased_until = NULL
         WHERE id = $1",
    )
    .bind(delivery.id)
    .execute(&mut *conn)
    .await?;
    insert_attempt(conn, delivery, attempt).await?;
    outbox::enqueue(
        conn,
        envelope_for(
            delivery,
            NotificationSent {
                notification_id: delivery.id,
                store_id: delivery.store_id,
                order_id: delivery.order_id,
                channel: delivery.channel.clone(),
                recipient: delivery.recipient.clone(),
            },
        ),
    )
    .await
}

/// Records a failed attempt. `last`: no attempt follows — the delivery is `dead` and
/// NotificationFailed announces it with the reason; otherwise it is `failed` until the retry.
pub async fn record_failure(
    conn: &mut PgConnection,
    delivery: &Delivery,
    attempt: &Attempt,
    reason: &str,
    last: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE deliveries SET status = $2, attempts = attempts + 1, last_error = $3,
                updated_at = clock_timestamp(), leased_until = NULL
         WHERE id = $1 AND status <> 'sent'",
    )
    .bind(delivery.id)
    .bind(if last { "dead" } else { "failed" })
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    insert_attempt(conn, delivery, attempt).await?;
    if last {
        outbox::enqueue(
            conn,
            envelope_for(
                delivery,
                NotificationFailed {
                    notification_id: delivery.id,
                    store_id: delivery.store_id,
                    order_id: delivery.order_id,
                    channel: delivery.channel.clone(),
                    recipient: delivery.recipient.clone(),
                    reason: reason.to_owned(),
                },
            ),
        )
        .await?;
    }
    Ok(())
}

/// Gives the lease back without an attempt (the sender decided not to try now).
pub async fn release(pool: &PgPool, delivery: &Delivery) -> Result<(), sqlx::Error> {
    let mut tx = service_kit::tenant::begin_for(pool, delivery.store_id).await?;
    sqlx::query("UPDATE deliveries SET leased_until = NULL WHERE id = $1")
        .bind(delivery.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

fn envelope_for<P: contracts::Contract>(delivery: &Delivery, payload: P) -> Envelope<P> {
    let mut envelope = Envelope::new(Some(delivery.store_id), payload);
    envelope.causation_id = Some(delivery.event_id);
    envelope.correlation_id = delivery.order_id;
    envelope
}
