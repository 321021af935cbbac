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
