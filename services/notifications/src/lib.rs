//! Notifications: tells shoppers, merchants and merchants' systems what happened — by email
//! and by Standard Webhooks — once per event, and never in anyone's way (docs/notifications.md).
//!
//! Layout:
//! - [`mail`]: kinds of mail, languages, money and reasons in words, the stable `Message-ID`;
//!   pure.
//! - [`templates`]: the default templates and merchants' own, rendered by sandboxed minijinja.
//! - [`signature`]: Standard Webhooks secrets and signatures; pure.
//! - [`ssrf`]: which webhook URLs and addresses may be called; pure but for the DNS lookup.
//! - [`stores`]: stores from catalog's events (admin-key hashes, name, logo, contact).
//! - [`intake`]: the consumers of catalog's, checkout's and payments' events: the delivery log
//!   and its send commands, written in the inbox's transaction.
//! - [`deliveries`]: the delivery log — lease, attempts, sent / failed / dead, and the
//!   NotificationSent / NotificationFailed events.
//! - [`email`]: the `notifications.send-email` consumer (lettre over SMTP, one circuit).
//! - [`webhooks`]: the `notifications.send-webhook` consumer (signed POSTs, a circuit per
//!   endpoint, auto-disable).
//! - [`http`]: the merchant's API: settings, templates, webhook endpoints, deliveries;
//!   [`openapi`]: its description.
//! - [`config`]: notifications' settings from the environment.
//!
//! Invariants: one delivery per (event, channel, recipient, template); sending happens outside
//! any consumer of another context's events, so a dead SMTP server or endpoint slows none of
//! them; a crash between a receiver accepting and the log committing can still duplicate, and
//! the stable `Message-ID` / `webhook-id` lets the receiver drop it.

pub mod config;
pub mod deliveries;
pub mod email;
pub mod http;
pub mod intake;
pub mod mail;
pub mod openapi;
pub mod signature;
pub mod ssrf;
pub mod stores;
pub mod templates;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use bus::{QueueSpec, Topology};
use contracts::exchanges;
use sqlx::PgPool;
use sqlx::migrate::Migrator;

pub use config::NotificationsConfig;

/// docs/design.md's port.
pub const PORT: u16 = 8084;

/// The queues notifications consumes.
pub mod queues {
    pub const CATALOG_EVENTS: &str = "notifications.catalog-events";
    pub const CHECKOUT_EVENTS: &str = "notifications.checkout-events";
    pub const PAYMENTS_EVENTS: &str = "notifications.payments-events";
    /// Its own: one email of the delivery log each.
    pub const SEND_EMAIL: &str = "notifications.send-email";
    /// Its own: one webhook delivery each.
    pub const SEND_WEBHOOK: &str = "notifications.send-webhook";
}

static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

pub fn migrator() -> Migrator {
    outbox::migrator(&MIGRATIONS)
}

pub fn topology() -> Topology {
    Topology::new()
        .queue(QueueSpec::new(queues::CHECKOUT_EVENTS).events_from(exchanges::CHECKOUT_EVENTS))
        .queue(QueueSpec::new(queues::PAYMENTS_EVENTS).events_from(exchanges::PAYMENTS_EVENTS))
        .queue(QueueSpec::new(queues::CATALOG_EVENTS).events_from(exchanges::CATALOG_EVENTS))
        .queue(QueueSpec::new(queues::SEND_EMAIL).command("notifications.send-email"))
        .queue(QueueSpec::new(queues::SEND_WEBHOOK).command("notifications.send-webhook"))
}

/// The whole HTTP API (health is added by the runtime).
pub fn router(pool: PgPool, config: &NotificationsConfig) -> Router {
    http::router(http::Api {
        pool,
        allow_private: config.webhook_allow_private,
    })
}

/// The senders, built once: their circuits are shared by every delivery.
pub struct Senders {
    pub email: Arc<email::EmailSender>,
    pub webhooks: Arc<webhooks::WebhookSender>,
}

impl Senders {
    pub fn new(pool: &PgPool, config: &NotificationsConfig) -> anyhow::Result<Self> {
        Ok(Self {
            email: Arc::new(email::EmailSender::new(
                pool.clone(),
                email::Mailer::new(config)?,
                config,
            )),
            webhooks: Arc::new(webhooks::WebhookSender::new(pool.clone(), config.clone())?),
        })
    }
}

/// Every consumer: the three sources, and the two send queues with their own retry policies.
pub fn consumers(
    pool: &PgPool,
    senders: &Senders,
    config: &NotificationsConfig,
) -> Vec<service_kit::Consumer> {
    let intake = |queue: &str| {
        service_kit::Consumer::new(
            queue,
            Arc::new(intake::Intake::new(pool.clone(), queue)),
            config.intake_consumer(),
        )
    };
    vec![
        intake(queues::CATALOG_EVENTS),
        intake(queues::CHECKOUT_EVENTS),
        intake(queues::PAYMENTS_EVENTS),
        service_kit::Consumer::new(
            queues::SEND_EMAIL,
            senders.email.clone(),
            config.email_consumer(),
        ),
        service_kit::Consumer::new(
            queues::SEND_WEBHOOK,
            senders.webhooks.clone(),
            config.webhook_consumer(),
        ),
    ]
}
