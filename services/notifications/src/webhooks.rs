//! Webhook deliveries (the Standard Webhooks specification): the `notifications.send-webhook`
//! consumer POSTs a logged delivery's JSON body to its endpoint, signed.
//!
//! - The URL is checked against SSRF at delivery time ([`crate::ssrf`]): the host is resolved
//!   now, every address checked, and the client connects only to addresses its own resolver
//!   checked (no rebinding between check and connect); no redirects are followed, no proxy used.
//! - One circuit per endpoint, so a dead endpoint fails fast and never slows the others.
//! - Retries: the workspace backoff through the bus's retry store; after the last attempt the
//!   delivery is `dead`, NotificationFailed says why, the command is dead-lettered.
//! - An endpoint whose every attempt has failed for `webhook_disable_after` (and at least
//!   `webhook_disable_min_failures` times) is disabled, and the store's contact gets a mail.
//! - `webhook-id` is the event's id (`msg_<uuid>`), the same on every attempt and resend.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{Handler, Incoming, Outcome};
use contracts::Message;
use contracts::notifications::SendWebhook;
use resilience::CircuitBreaker;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::config::NotificationsConfig;
use crate::deliveries::{self, Attempt, Channel, Delivery, Lease, NewDelivery};
use crate::mail::{self, Kind};
use crate::{signature, ssrf, stores};

/// The longest response excerpt kept per attempt.
pub const EXCERPT_CHARS: usize = 256;

/// A resolver that refuses forbidden addresses: what the client connects to was checked.
struct CheckedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            ssrf::check_addresses(&host, &addrs, allow_private)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An endpoint as the sender needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub enabled: bool,
}

/// The `notifications.send-webhook` consumer.
pub struct WebhookSender {
    pool: PgPool,
    client: reqwest::Client,
    config: NotificationsConfig,
    /// One circuit per endpoint.
    breakers: Mutex<HashMap<Uuid, Arc<CircuitBreaker>>>,
}

/// What one try came to.
struct Tried {
    attempt: Attempt,
    /// Why it failed, if it did.
    failure: Option<String>,
    /// The failure is the URL's (refused by the SSRF checks): no retry can help.
    permanent: bool,
    /// A request was really made (an open circuit's fast failure is not one).
    called: bool,
}

impl WebhookSender {
    pub fn new(pool: PgPool, config: NotificationsConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("Summit-Webhooks/1")
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: config.webhook_allow_private,
            }))
            .build()?;
        Ok(Self {
            pool,
            client,
            config,
            breakers: Mutex::new(HashMap::new()),
        })
    }

    fn breaker(&self, endpoint: Uuid) -> Arc<CircuitBreaker> {
        let mut breakers = self
            .breakers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        breakers
            .entry(endpoint)
            .or_insert_with(|| {
                Arc::new(CircuitBreaker::new(
                    format!("webhook:{endpoint}"),
                    self.config.breaker(),
                ))
            })
            .clone()
    }

    async fn send(&self, command: &SendWebhook, attempt: u32) -> Result<Outcome, sqlx::Error> {
        let hold = self.config.webhook_timeout * 2 + Duration::from_secs(5);
        let delivery =
            match deliveries::lease(&self.pool, command.store_id, command.delivery_id, hold).await?
            {
                Lease::Got(delivery) => delivery,
                Lease::Sent | Lease::Missing => return Ok(Outcome::Done),
                Lease::Held => {
                    return Ok(Outcome::Retry(
                        "another sender holds this delivery".to_owned(),
                    ));
                }
            };
        let mut tx = service_kit::tenant::begin_for(&self.pool, delivery.store_id).await?;
        let endpoint: Option<Endpoint> = sqlx::query_as(
            "SELECT id, url, secret,
                    CASE WHEN previous_expires_at > now() THEN previous_secret END
                        AS previous_secret,
                    enabled
             FROM webhook_endpoints WHERE id = $1 AND store_id = $2",
        )
        .bind(delivery.endpoint_id)
        .bind(delivery.store_id)
        .fetch_optional(&mut *tx)
        .await?;
        let endpoint = match endpoint {
            Some(endpoint) if endpoint.enabled => endpoint,
            other => {
                let reason = if other.is_some() {
                    "the endpoint is disabled"
                } else {
                    "the endpoint was deleted"
                };
                deliveries::record_failure(&mut tx, &delivery, &Attempt::default(), reason, true)
                    .await?;
                tx.commit().await?;
                return Ok(Outcome::Done);
            }
        };
        tx.commit().await?;

        let tried = self.try_once(&endpoint, &delivery).await;
        let mut tx = service_kit::tenant::begin_for(&self.pool, delivery.store_id).await?;
        let outcome = match tried.failure {
            None => {
                deliveries::record_sent(&mut tx, &delivery, &tried.attempt).await?;
                sqlx::query(
                    "UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
                     WHERE id = $1 AND consecutive_failures > 0",
                )
                .bind(endpoint.id)
                .execute(&mut *tx)
                .await?;
                metrics::counter!("summit_notifications_sent_total", "channel" => "webhook")
                    .increment(1);
                Outcome::Done
            }
            Some(reason) => {
                let last = tried.permanent || attempt >= self.config.webhook_attempts;
                deliveries::record_failure(&mut tx, &delivery, &tried.attempt, &reason, last)
                    .await?;
                if tried.called {
                    self.count_failure(&mut tx, &endpoint, &delivery).await?;
                }
                tracing::warn!(delivery = %delivery.id, endpoint = %endpoint.id, attempt, last, %reason, "webhook not delivered");
                if tried.permanent {
                    Outcome::Reject(reason)
                } else {
                    Outcome::Retry(reason)
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// One signed POST, through the endpoint's circuit.
    async fn try_once(&self, endpoint: &Endpoint, delivery: &Delivery) -> Tried {
        let started = Instant::now();
        let failed = |reason: String, permanent: bool, called: bool| Tried {
            attempt: Attempt {
                ok: false,
                latency: started.elapsed(),
                error: Some(reason.clone()),
                ..Attempt::default()
            },
            failure: Some(reason),
            permanent,
            called,
        };
        let allow_private = self.config.webhook_allow_private;
        let target = match ssrf::parse(&endpoint.url, allow_private) {
            Ok(target) => target,
            Err(refused) => return failed(format!("refused: {refused}"), true, false),
        };
        if let Err(refused) = ssrf::resolve(&target, allow_private).await {
            let permanent = matches!(refused, ssrf::Refused::Forbidden { .. });
            return failed(format!("refused: {refused}"), permanent, false);
        }
        let breaker = self.breaker(endpoint.id);
        let permit = match breaker.try_acquire::<std::convert::Infallible>() {
            Ok(permit) => permit,
            Err(open) => return failed(format!("endpoint {open}"), false, false),
        };
        let body = serde_json::to_vec(&delivery.data.0).unwrap_or_default();
        let timestamp = chrono::Utc::now().timestamp();
        let mut secrets = vec![endpoint.secret.as_str()];
        if let Some(previous) = endpoint.previous_secret.as_deref() {
            secrets.push(previous);
        }
        let signature = signature::header(&secrets, &delivery.message_id, timestamp, &body);
        let response = self
            .client
            .post(target.url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status();
                let excerpt = excerpt(response).await;
                let latency = started.elapsed();
                if status.is_success() {
                    permit.success();
                    Tried {
                        attempt: Attempt {
                            ok: true,
                            status_code: Some(i32::from(status.as_u16())),
                            latency,
                            excerpt: Some(excerpt),
                            error: None,
                        },
                        failure: None,
                        permanent: false,
                        called: true,
                    }
                } else {
                    permit.failure();
                    let reason = format!("the endpoint answered {status}");
                    Tried {
                        attempt: Attempt {
                            ok: false,
                            status_code: Some(i32::from(status.as_u16())),
                            latency,
                            excerpt: Some(excerpt),
                            error: Some(reason.clone()),
                        },
                        failure: Some(reason),
                        permanent: false,
                        called: true,
                    }
                }
            }
            Err(error) => {
                permit.failure();
                failed(
                    format!(
                        "request failed: {}",
                        service_kit::problem::cause_chain(&error)
                    ),
                    false,
                    true,
                )
            }
        }
    }

    /// Extends the endpoint's failure streak; disables it (and tells the merchant) once the
    /// streak is long enough.
    async fn count_failure(
        &self,
        conn: &mut PgConnection,
        endpoint: &Endpoint,
        delivery: &Delivery,
    ) -> Result<(), sqlx::Error> {
        let (failures, failing_for): (i32, f64) = sqlx::query_as(
            "UPDATE webhook_endpoints
             SET consecutive_failures = consecutive_failures + 1,
                 failing_since = coalesce(failing_since, clock_timestamp())
             WHERE id = $1
             RETURNING consecutive_failures,
                       EXTRACT(EPOCH FROM clock_timestamp() - failing_since)::float8",
        )
        .bind(endpoint.id)
        .fetch_one(&mut *conn)
        .await?;
        let min = i32::try_from(self.config.webhook_disable_min_failures).unwrap_or(i32::MAX);
        if failures < min || failing_for < self.config.webhook_disable_after.as_secs_f64() {
            return Ok(());
        }
        let reason = format!(
            "every delivery failed for {} ({failures} attempts in a row)",
            human(Duration::from_secs_f64(failing_for.max(0.0)))
        );
        let disabled = sqlx::query(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2,
                    updated_at = now()
             WHERE id = $1 AND enabled",
        )
        .bind(endpoint.id)
        .bind(&reason)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !disabled {
            return Ok(());
        }
        tracing::warn!(endpoint = %endpoint.id, store = %delivery.store_id, %reason, "webhook endpoint disabled");
        let Some(store) = stores::load(conn, delivery.store_id).await? else {
            return Ok(());
        };
        let Some(contact) = store.contact_email.clone() else {
            return Ok(());
        };
        // The disabling is the event this mail is about.
        let notice = contracts::RawEnvelope {
            id: Uuid::now_v7(),
            kind: "notifications.EndpointDisabled".to_owned(),
            version: 1,
            occurred_at: chrono::Utc::now(),
            tenant_id: Some(store.id),
            correlation_id: None,
            causation_id: Some(delivery.event_id),
            payload: json!({"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason}),
        };
        deliveries::insert(
            conn,
            &notice,
            &NewDelivery {
                store_id: store.id,
                order_id: None,
                channel: Channel::Email,
                template: Kind::WebhookDisabled.as_str().to_owned(),
                message_id: mail::message_id(notice.id, &contact, Kind::WebhookDisabled),
                recipient: contact,
                endpoint_id: None,
                data: json!({
                    "store": {
                        "name": store.name,
                        "logo_url": store.logo_url,
                        "temporary_domain": store.temporary_domain,
                        "custom_domain": store.custom_domain,
                    },
                    "endpoint": {"id": endpoint.id, "url": endpoint.url, "reason": reason},
                }),
            },
        )
        .await?;
        Ok(())
    }
}

/// A duration as a merchant reads it: `3 s`, `5 min`, `26 h`.
fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 2 * 3600 {
        format!("{} min", secs / 60)
    } else {
        format!("{} h", secs / 3600)
    }
}

/// The start of a response body, for the delivery log.
async fn excerpt(response: reqwest::Response) -> String {
    let bytes = response.bytes().await.unwrap_or_default();
    let head = &bytes[..bytes.len().min(EXCERPT_CHARS * 4)];
    String::from_utf8_lossy(head)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

impl Handler for WebhookSender {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let Message::SendWebhook(command) = &incoming.message else {
            return Outcome::Reject(format!(
                "{} does not belong on notifications.send-webhook",
                incoming.message.kind()
            ));
        };
        match self.send(command, incoming.attempt).await {
            Ok(outcome) => outcome,
            Err(error) => outbox::classify::outcome_of(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(Duration::from_secs(3)), "3 s");
        assert_eq!(human(Duration::from_secs(600)), "10 min");
        assert_eq!(human(Duration::from_secs(26 * 3600)), "26 h");
    }
}
