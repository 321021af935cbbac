//! What the platform sends out, as its receivers see it.
//!
//! - Mail goes to the shared maildev (deploy/local/servers.sh starts it; SMTP on 2525, its
//!   JSON API on 1080). Other tests send there too, so a test only ever reads the mails to
//!   addresses of its own ([`recipient`]), and tells a mail's kind by its `Message-ID`
//!   (`<order_confirmed.<event>.<hash>@notifications.summit>`, notifications' `mail.rs`).
//! - Webhooks go to a [`WebhookReceiver`] of the test's own: a small axum server recording
//!   every delivery (its `webhook-id`, the event's type and data) and answering 204.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// The shared sink's SMTP address, as notifications' `SMTP_URL`.
pub const MAILDEV_SMTP_URL: &str = "smtp://127.0.0.1:2525";
/// The shared sink's HTTP API.
pub const MAILDEV_HTTP: &str = "http://127.0.0.1:1080";

/// An address of the test's own at the sink.
pub fn recipient(who: &str) -> String {
    format!("{who}-{}@drill.example.com", uuid::Uuid::new_v4().simple())
}

/// One mail as the sink holds it: to whom, and its kind (the `Message-ID`'s first part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub kind: String,
    pub subject: String,
}

/// Every mail the sink holds to one of `addresses`.
pub async fn mails_to(addresses: &std::collections::HashSet<String>) -> anyhow::Result<Vec<Mail>> {
    let all: Vec<Value> = reqwest::get(format!("{MAILDEV_HTTP}/api/email"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut mails = Vec::new();
    for mail in all {
        let message_id = mail["headers"]["message-id"].as_str().unwrap_or_default();
        let kind = message_id
            .trim_start_matches('<')
            .split('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        for to in mail["to"].as_array().into_iter().flatten() {
            if let Some(to) = to["address"].as_str()
                && addresses.contains(to)
            {
                mails.push(Mail {
                    to: to.to_owned(),
                    kind: kind.clone(),
                    subject: mail["subject"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    Ok(mails)
}

/// One webhook delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id`: the same on every attempt of one (event, endpoint).
    pub id: String,
    /// The event's type (`checkout.OrderConfirmed`).
    pub event_type: String,
    /// The event's payload.
    pub data: Value,
}

/// A webhook endpoint of the test's own on 127.0.0.1.
pub struct WebhookReceiver {
    addr: SocketAddr,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start() -> anyhow::Result<Self> {
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/hooks", post(receive))
            .with_state(deliveries.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            deliveries,
            server,
        })
    }

    /// The endpoint's URL, as a merchant registers it.
    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(deliveries): State<Arc<Mutex<Vec<Delivery>>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    deliveries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Delivery {
            id,
            event_type: body["type"].as_str().unwrap_or_default().to_owned(),
            data: body["data"].clone(),
        });
    StatusCode::NO_CONTENT
}
