//! Checkout's events, on `checkout.events`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::exchanges::CHECKOUT_EVENTS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub name: String,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub customer_email: String,
    pub lines: Vec<OrderLine>,
    pub total_minor: i64,
    pub currency: String,
}
contract!(OrderPlaced, event "checkout.OrderPlaced" on CHECKOUT_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderConfirmed {
    pub order_id: Uuid,
    pub store_id: Uuid,
}
contract!(OrderConfirmed, event "checkout.OrderConfirmed" on CHECKOUT_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub order_id: Uuid,
    pub store_id: Uuid,
    pub reason: String,
}
contract!(OrderCancelled, event "checkout.OrderCancelled" on CHECKOUT_EVENTS);
