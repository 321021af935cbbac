//! Payments' events (on `payments.events`) and the commands it takes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::exchanges::PAYMENTS_EVENTS;

/// Facts every payment event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFacts {
    pub payment_id: Uuid,
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentAuthorized {
    #[serde(flatten)]
    pub payment: PaymentFacts,
}
contract!(PaymentAuthorized, event "payments.PaymentAuthorized" on PAYMENTS_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentCompleted {
    #[serde(flatten)]
    pub payment: PaymentFacts,
}
contract!(PaymentCompleted, event "payments.PaymentCompleted" on PAYMENTS_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentDeclined {
    #[serde(flatten)]
    pub payment: PaymentFacts,
    pub reason: String,
}
contract!(PaymentDeclined, event "payments.PaymentDeclined" on PAYMENTS_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFailed {
    #[serde(flatten)]
    pub payment: PaymentFacts,
    pub reason: String,
}
contract!(PaymentFailed, event "payments.PaymentFailed" on PAYMENTS_EVENTS);

/// The gateway could not be reached; a reconciliation job settles the payment later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentPendingOffline {
    #[serde(flatten)]
    pub payment: PaymentFacts,
}
contract!(PaymentPendingOffline, event "payments.PaymentPendingOffline" on PAYMENTS_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentVoided {
    #[serde(flatten)]
    pub payment: PaymentFacts,
}
contract!(PaymentVoided, event "payments.PaymentVoided" on PAYMENTS_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub email: String,
    pub name: Option<String>,
}

/// Charge an order. `order_id` is the idempotency key towards the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub amount_minor: i64,
    pub currency: String,
    pub customer: Customer,
    /// A gateway token for the card; never a card number.
    pub payment_token: String,
}
contract!(Charge, command "payments.charge");

/// Cancel an order's authorization, if one exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Void {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub reason: String,
}
contract!(Void, command "payments.void");
