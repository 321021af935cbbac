//! The consumers of other contexts' events (`notifications.catalog-events`,
//! `notifications.checkout-events`, `notifications.payments-events`): each event becomes rows
//! of the delivery log — the mail it causes, one webhook delivery per subscribed endpoint — and
//! a send command per row, all in the transaction that records the event in the inbox.
//!
//! Nothing here talks to SMTP or an endpoint, so a dead mail server or endpoint never slows
//! these queues: sending happens on `notifications.send-email` / `send-webhook`.
//!
//! Invariants: an event is applied once per queue (inbox); it logs one delivery per (event,
//! channel, recipient, template) however often it arrives (the log's unique key), so a replay
//! that passes the inbox (trimmed) still adds nothing. An order event whose store or order is
//! not known yet is retried (its store's or order's first event may still be on its way).

use bus::{Handler, Incoming, Outcome};
use contracts::{Message, RawEnvelope};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::deliveries::{self, Channel, NewDelivery};
use crate::mail::{self, Kind};
use crate::stores::{self, Store};

/// The consumer of one source queue.
pub struct Intake {
    pool: PgPool,
    /// The inbox's handler name: the queue, so each queue applies an event once.
    name: String,
}

impl Intake {
    pub fn new(pool: PgPool, queue: &str) -> Self {
        Self {
            pool,
            name: queue.to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Something the event needs has not arrived yet: worth a retry.
    #[error("{0}")]
    NotYet(String),
}

impl Handler for Intake {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        match take(
            &self.pool,
            &self.name,
            &incoming.envelope,
            &incoming.message,
        )
        .await
        {
            Ok(_) => Outcome::Done,
            Err(IntakeError::Database(e)) => outbox::classify::outcome_of(&e),
            Err(IntakeError::NotYet(reason)) => Outcome::Retry(reason),
        }
    }
}

/// The store an event belongs to, if it is one notifications acts on.
pub fn store_of(message: &Message) -> Option<Uuid> {
    Some(match message {
        Message::StoreCreated(e) => e.store_id,
        Message::StoreUpdated(e) => e.store_id,
        Message::ProductUpserted(e) => e.store_id,
        Message::ProductDeleted(e) => e.store_id,
        Message::StockReserved(e) => e.store_id,
        Message::StockReservationRejected(e) => e.store_id,
        Message::StockReleased(e) => e.store_id,
        Message::OrderPlaced(e) => e.store_id,
        Message::OrderConfirmed(e) => e.store_id,
        Message::OrderCancelled(e) => e.store_id,
        Message::PaymentAuthorized(e) => e.payment.store_id,
        Message::PaymentCompleted(e) => e.payment.store_id,
        Message::PaymentDeclined(e) => e.payment.store_id,
        Message::PaymentFailed(e) => e.payment.store_id,
        Message::PaymentPendingOffline(e) => e.payment.store_id,
        Message::PaymentVoided(e) => e.payment.store_id,
        _ => return None,
    })
}

/// The event types a webhook endpoint may subscribe to: every event of catalog, checkout and
/// payments.
pub fn webhook_event_types() -> Vec<&'static str> {
    contracts::message::KNOWN_TYPES
        .iter()
        .copied()
        .filter(|kind| {
            let (context, name) = kind.split_once('.').unwrap_or_default();
            matches!(context, "catalog" | "checkout" | "payments")
                && name.starts_with(|c: char| c.is_ascii_uppercase())
        })
        .collect()
}

/// The order as OrderPlaced told it.
#[derive(sqlx::FromRow)]
struct OrderRow {
    customer_email: String,
    total_minor: i64,
    currency: String,
    lines: sqlx::types::Json<Value>,
}

fn store_facts(store: &Store) -> Value {
    json!({
        "name": store.name,
        "logo_url": store.logo_url,
        "temporary_domain": store.temporary_domain,
        "custom_domain": store.custom_domain,
    })
}

fn order_facts(id: Uuid, order: &OrderRow) -> Value {
    json!({
        "id": id,
        "total_minor": order.total_minor,
        "currency": order.currency,
        "lines": order.lines.0,
    })
}

/// Applies one event; returns how many deliveries it logged.
pub async fn take(
    pool: &PgPool,
    handler: &str,
    envelope: &RawEnvelope,
    message: &Message,
) -> Result<usize, IntakeError> {
    let Some(store_id) = store_of(message) else {
        return Ok(0);
    };
    let mut tx = service_kit::tenant::begin_for(pool, store_id).await?;
    if !outbox::inbox::record(&mut tx, envelope.id, handler).await? {
        tx.commit().await?;
        return Ok(0);
    }
    stores::apply(&mut tx, message).await?;
    if let Message::OrderPlaced(e) = message {
        let lines: Vec<Value> = e
            .lines
            .iter()
            .map(|l| json!({"name": l.name, "quantity": l.quantity, "unit_price_minor": l.unit_price_minor}))
            .collect();
        sqlx::query(
            "INSERT INTO orders (id, store_id, customer_email, total_minor, currency, lines)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(e.order_id)
        .bind(store_id)
        .bind(&e.customer_email)
        .bind(e.total_minor)
        .bind(&e.currency)
        .bind(Value::from(lines))
        .execute(&mut *tx)
        .await?;
    }

    let mut planned = Vec::new();
    let wants_mail = mail_of(message);
    if let Some((kind, order_id)) = wants_mail {
        let store = stores::load(&mut tx, store_id)
            .await?
            .ok_or_else(|| IntakeError::NotYet(format!("store {store_id} is not known yet")))?;
        let mut facts = json!({ "store": store_facts(&store) });
        let recipient = match (message, order_id) {
            (Message::StoreCreated(e), _) => Some(e.contact_email.clone()),
            (_, Some(order_id)) => {
                let order: OrderRow = sqlx::query_as(
                    "SELECT customer_email, total_minor, currency, lines FROM orders
                     WHERE id = $1 AND store_id = $2",
                )
                .bind(order_id)
                .bind(store_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| IntakeError::NotYet(format!("order {order_id} is not known yet")))?;
                facts["order"] = order_facts(order_id, &order);
                Some(order.customer_email)
            }
            _ => None,
        };
        if let Message::OrderCancelled(e) = message {
            facts["reason"] = json!(e.reason);
        }
        if let Some(recipient) = recipient.filter(|r| r.contains('@')) {
            planned.push(NewDelivery {
                store_id,
                order_id,
                channel: Channel::Email,
                template: kind.as_str().to_owned(),
                message_id: mail::message_id(envelope.id, &recipient, kind),
                recipient,
                endpoint_id: None,
                data: facts,
            });
        }
    }

    let endpoints: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM webhook_endpoints
         WHERE store_id = $1 AND enabled AND $2 = ANY(event_types) ORDER BY id",
    )
    .bind(store_id)
    .bind(&envelope.kind)
    .fetch_all(&mut *tx)
    .await?;
    if !endpoints.is_empty() {
        let body = webhook_body(envelope);
        for endpoint in endpoints {
            planned.push(NewDelivery {
                store_id,
                order_id: order_of(message),
                channel: Channel::Webhook,
                template: envelope.kind.clone(),
                recipient: endpoint.to_string(),
                endpoint_id: Some(endpoint),
                message_id: format!("msg_{}", envelope.id.simple()),
                data: body.clone(),
            });
        }
    }

    let mut logged = 0;
    for delivery in &planned {
        if deliveries::insert(&mut tx, envelope, delivery)
            .await?
            .is_some()
        {
            logged += 1;
        }
    }
    tx.commit().await?;
    Ok(logged)
}

/// The mail an event causes, and the order it is about.
fn mail_of(message: &Message) -> Option<(Kind, Option<Uuid>)> {
    match message {
        Message::StoreCreated(_) => Some((Kind::Welcome, None)),
        Message::OrderPlaced(e) => Some((Kind::OrderReceived, Some(e.order_id))),
        Message::OrderConfirmed(e) => Some((Kind::OrderConfirmed, Some(e.order_id))),
        Message::OrderCancelled(e) => Some((Kind::OrderCancelled, Some(e.order_id))),
        Message::PaymentPendingOffline(e) => Some((Kind::PaymentPending, Some(e.payment.order_id))),
        _ => None,
    }
}

fn order_of(message: &Message) -> Option<Uuid> {
    match message {
        Message::OrderPlaced(e) => Some(e.order_id),
        Message::OrderConfirmed(e) => Some(e.order_id),
        Message::OrderCancelled(e) => Some(e.order_id),
        Message::StockReserved(e) => Some(e.order_id),
        Message::StockReservationRejected(e) => Some(e.order_id),
        Message::StockReleased(e) => Some(e.order_id),
        Message::PaymentAuthorized(e) => Some(e.payment.order_id),
        Message::PaymentCompleted(e) => Some(e.payment.order_id),
        Message::PaymentDeclined(e) => Some(e.payment.order_id),
        Message::PaymentFailed(e) => Some(e.payment.order_id),
        Message::PaymentPendingOffline(e) => Some(e.payment.order_id),
        Message::PaymentVoided(e) => Some(e.payment.order_id),
        _ => None,
    }
}

/// A webhook's body, Standard Webhooks' shape: `type`, `timestamp`, `data` (the event's
/// payload, without the admin key's hash).
pub fn webhook_body(envelope: &RawEnvelope) -> Value {
    let mut data = envelope.payload.clone();
    if let Some(object) = data.as_object_mut() {
        object.remove("admin_key_hash");
    }
    json!({
        "type": envelope.kind,
        "timestamp": envelope.occurred_at,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_subscribe_to_events_not_commands() {
        let types = webhook_event_types();
        assert!(types.contains(&"checkout.OrderPlaced"));
        assert!(types.contains(&"payments.PaymentPendingOffline"));
        assert!(types.contains(&"catalog.StoreUpdated"));
        assert!(!types.contains(&"payments.charge"));
        assert!(!types.contains(&"notifications.NotificationSent"));
        assert!(!types.contains(&"notifications.send-email"));
    }

    #[test]
    fn webhook_bodies_drop_the_key_hash() {
        let store = uuid::Uuid::now_v7();
        let envelope = contracts::Envelope::new(
            Some(store),
            contracts::catalog::StoreUpdated {
                store_id: store,
                slug: "s".into(),
                name: "S".into(),
                temporary_domain: "s.summit.localhost".into(),
                custom_domain: None,
                logo_url: None,
                admin_key_hash: "secret-hash".into(),
                language: None,
                version: 2,
            },
        )
        .into_raw();
        let body = webhook_body(&envelope);
        assert_eq!(body["type"], "catalog.StoreUpdated");
        assert_eq!(body["data"]["name"], "S");
        assert!(!body.to_string().contains("secret-hash"));
    }
}
