//! Notifications' events, on `notifications.events`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::exchanges::NOTIFICATIONS_EVENTS;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationSent {
    pub notification_id: Uuid,
    pub store_id: Uuid,
    pub order_id: Option<Uuid>,
    /// `email` or `webhook`.
    pub channel: String,
    pub recipient: String,
}
contract!(NotificationSent, event "notifications.NotificationSent" on NOTIFICATIONS_EVENTS);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationFailed {
    pub notification_id: Uuid,
    pub store_id: Uuid,
    pub order_id: Option<Uuid>,
    pub channel: String,
    pub recipient: String,
    pub reason: String,
}
contract!(NotificationFailed, event "notifications.NotificationFailed" on NOTIFICATIONS_EVENTS);

/// Notifications to itself: send one email of the delivery log. Written to the outbox in the
/// transaction that records the delivery, so every retry and dead letter of a single delivery
/// rides the bus's machinery without holding up the event that caused it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendEmail {
    pub delivery_id: Uuid,
    pub store_id: Uuid,
}
contract!(SendEmail, command "notifications.send-email");

/// Notifications to itself: make one webhook delivery of the delivery log (see [`SendEmail`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendWebhook {
    pub delivery_id: Uuid,
    pub store_id: Uuid,
}
contract!(SendWebhook, command "notifications.send-webhook");
