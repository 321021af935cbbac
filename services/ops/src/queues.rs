//! `GET /ops/queues`: every work queue ops drains, as the broker and the parking store see it —
//! depth and consumers of the queue and of its `.dlq`, parked failures, and message rates where
//! the RabbitMQ management API offers them.
//!
//! Depth and consumers always come from the bus ([`bus::Bus::queue_stats`], a passive declare:
//! exact, and present on any broker; ready messages only). Rates exist only in the management
//! plugin's samples; when it is not enabled, not reachable or refuses, the answer says so in
//! `rates_note` and every `rates` is null — the rest is unchanged.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::Bus;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// Where the management API is, and as whom; the vhost the bus uses.
#[derive(Debug, Clone)]
pub struct Management {
    /// `http://host:port`, without credentials.
    base: String,
    user: String,
    password: SecretString,
    vhost: String,
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Management {
    /// From `OPS_MANAGEMENT_URL` (`off` disables; unset: the AMQP URL's host on port 15672
    /// with its credentials); the vhost is always the AMQP URL's.
    pub fn from_settings(amqp_url: &str, management_url: Option<&str>) -> Option<Self> {
        let amqp = reqwest::Url::parse(amqp_url).ok()?;
        let vhost = match amqp.path().trim_start_matches('/') {
            "" => "/".to_owned(),
            path => percent_decode(path),
        };
        let url = match management_url.map(str::trim) {
            Some("off") => return None,
            Some(url) if !url.is_empty() => reqwest::Url::parse(url).ok()?,
            _ => {
                let mut url =
                    reqwest::Url::parse(&format!("http://{}:15672", amqp.host_str()?)).ok()?;
                url.set_username(amqp.username()).ok()?;
                url.set_password(amqp.password()).ok()?;
                url
            }
        };
        let user = match percent_decode(url.username()) {
            user if user.is_empty() => "guest".to_owned(),
            user => user,
        };
        let password = url
            .password()
            .map_or_else(|| "guest".to_owned(), percent_decode);
        Some(Self {
            base: format!(
                "{}://{}:{}",
                url.scheme(),
                url.host_str()?,
                url.port_or_known_default()?
            ),
            user,
            password: password.into(),
            vhost,
        })
    }

    /// Every queue's rates in the vhost, by name.
    async fn rates(&self) -> Result<BTreeMap<String, Rates>, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        let queues: Vec<serde_json::Value> = http
            .get(format!(
                "{}/api/queues/{}",
                self.base,
                percent_encode(&self.vhost)
            ))
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(queues
            .iter()
            .filter_map(|q| {
                let stats = &q["message_stats"];
                let rate = |name: &str| stats[name]["rate"].as_f64().unwrap_or(0.0);
                Some((
                    q["name"].as_str()?.to_owned(),
                    Rates {
                        publish_per_s: rate("publish_details"),
                        deliver_per_s: rate("deliver_get_details"),
                        ack_per_s: rate("ack_details"),
                    },
                ))
            })
            .collect())
    }
}

/// Messages a second, as the management plugin last sampled them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Rates {
    pub publish_per_s: f64,
    pub deliver_per_s: f64,
    pub ack_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueView {
    pub queue: String,
    /// Ready messages (null when the queue could not be read: see `error`).
    pub depth: Option<u32>,
    pub consumers: Option<u32>,
    pub dead_letter_queue: String,
    pub dead_letters: Option<u32>,
    pub dead_letter_consumers: Option<u32>,
    /// Failures of this queue parked in ops' store.
    pub parked: i64,
    /// The work queue's rates, when the management API gave them.
    pub rates: Option<Rates>,
    /// Why a figure is missing (no such queue, the broker away).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Queues {
    pub queues: Vec<QueueView>,
    /// Why there are no rates, when there are none.
    pub rates_note: Option<String>,
}

async fn stats(bus: &Bus, queue: &str) -> Result<(u32, u32), String> {
    match bus.queue_stats(queue).await {
        Ok(Some(stats)) => Ok((stats.messages, stats.consumers)),
        Ok(None) => Err(format!("no queue {queue}")),
        Err(error) => Err(format!("{queue}: {error}")),
    }
}

pub async fn overview(
    pool: &PgPool,
    bus: &Bus,
    queues: &[String],
    management: Option<&Management>,
) -> Result<Queues, sqlx::Error> {
    let parked: BTreeMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT queue, count(*) FROM failures WHERE status = 'parked' GROUP BY queue",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let (rates, rates_note) = match management {
        None => (
            None,
            Some("the management API is off (OPS_MANAGEMENT_URL=off)".to_owned()),
        ),
        Some(management) => match management.rates().await {
            Ok(rates) => (Some(rates), None),
            Err(error) => (
                None,
                Some(format!("the management API did not answer: {error}")),
            ),
        },
    };
    let mut out = Vec::with_capacity(queues.len());
    for queue in queues {
        let dlq = bus::topology::dead_letter_queue(queue);
        let work = stats(bus, queue).await;
        let dead = stats(bus, &dlq).await;
        let error = [&work, &dead]
            .into_iter()
            .filter_map(|r| r.as_ref().err().cloned())
            .collect::<Vec<_>>();
        out.push(QueueView {
            queue: queue.clone(),
            depth: work.as_ref().ok().map(|s| s.0),
            consumers: work.as_ref().ok().map(|s| s.1),
            dead_letter_queue: dlq.clone(),
            dead_letters: dead.as_ref().ok().map(|s| s.0),
            dead_letter_consumers: dead.as_ref().ok().map(|s| s.1),
            parked: parked.get(queue).copied().unwrap_or(0),
            rates: rates.as_ref().and_then(|r| r.get(queue).copied()),
            error: (!error.is_empty()).then(|| error.join("; ")),
        });
    }
    Ok(Queues {
        queues: out,
        rates_note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_management_api_is_found_from_the_amqp_url() {
        let m = Management::from_settings("amqp://ops:s%40cret@broker:5672/%2f", None).unwrap();
        assert_eq!(m.base, "http://broker:15672");
        assert_eq!(
            (m.user.as_str(), m.password.expose_secret()),
            ("ops", "s@cret")
        );
        assert_eq!(m.vhost, "/");
        let m = Management::from_settings(
            "amqp://guest:guest@127.0.0.1:5672/test-1",
            Some("https://admin:pw@mgmt.example:443"),
        )
        .unwrap();
        assert_eq!(m.base, "https://mgmt.example:443");
        assert_eq!(m.user, "admin");
        assert_eq!(m.vhost, "test-1");
        assert!(Management::from_settings("amqp://127.0.0.1", Some("off")).is_none());
        assert_eq!(percent_encode("/"), "%2F");
    }
}
