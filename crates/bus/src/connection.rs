//! [`Bus`]: two named AMQP connections per service that recover by themselves — one for
//! publishing, one for consuming.
//!
//! Why two: when RabbitMQ raises a memory or disk alarm it blocks every connection that
//! publishes, and a blocked connection stops carrying *anything* — acks included. With publishes
//! and acks on separate connections, consumers keep acking (draining the queues that caused the
//! alarm) while publishers wait, which is RabbitMQ's own advice.
//!
//! lapin's auto-recovery reconnects after a dropped connection and replays the declared
//! topology, consumers, QoS and confirm mode. What it cannot do is reach a broker that is not
//! there at start: [`Bus::connect_with_retry`] keeps trying with capped, jittered backoff so a
//! service starts without its broker and reports degraded until it arrives.

use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use resilience::{Backoff, Jitter};
use tokio_util::sync::CancellationToken;

use crate::BusError;
use crate::publisher::Publisher;
use crate::topology::Topology;

/// Where the broker is and how this service's connections show up in its tools.
#[derive(Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// `amqp://user:pass@host:port/vhost` (`%2f` is the default vhost). Never printed.
    pub url: String,
    /// Shown by `rabbitmqctl list_connections` and the management UI (suffixed `.publish` and
    /// `.consume`), so an operator (or a test) can find and close exactly this service's
    /// connections.
    pub connection_name: String,
    /// The longest wait for a publisher confirm before the publish counts as failed.
    pub confirm_timeout: Duration,
}

impl std::fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusConfig")
            .field("url", &redact(&self.url))
            .field("connection_name", &self.connection_name)
            .field("confirm_timeout", &self.confirm_timeout)
            .finish()
    }
}

/// `amqp://user:***@host/vhost`: the URL with its password hidden.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl BusConfig {
    pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
    pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

    /// A config for `url`, named `connection_name`, with the default confirm timeout.
    pub fn new(url: impl Into<String>, connection_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connection_name: connection_name.into(),
            confirm_timeout: Self::DEFAULT_CONFIRM_TIMEOUT,
        }
    }

    /// `AMQP_URL` from the environment, or the local broker.
    pub fn from_env(connection_name: &str) -> Self {
        Self::new(
            std::env::var("AMQP_URL").unwrap_or_else(|_| Self::DEFAULT_URL.to_owned()),
            connection_name,
        )
    }
}

/// The connections with the topology declared and a confirmed publisher ready.
pub struct Bus {
    publishing: Connection,
    consuming: Connection,
    publisher: Publisher,
    topology: Topology,
}

async fn open(url: &str, name: String) -> Result<Connection, lapin::Error> {
    // lapin's recovery loop takes backon's builder: capped exponential with jitter, and
    // enough attempts to outlast a broker restart (the service reports degraded meanwhile).
    let reconnect = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
        .with_max_times(10_000);
    let properties = ConnectionProperties::default()
        .with_connection_name(name.into())
        .with_backoff(reconnect)
        .enable_auto_recover();
    Connection::connect(url, properties).await
}

impl Bus {
    /// Connects once (both connections), declares `topology` and opens the publisher's channel.
    pub async fn connect(config: &BusConfig, topology: Topology) -> Result<Self, BusError> {
        let name = &config.connection_name;
        let publishing = open(&config.url, format!("{name}.publish")).await?;
        let consuming = open(&config.url, format!("{name}.consume")).await?;
        let channel = consuming.create_channel().await?;
        topology.declare(&channel).await?;
        let _ = channel.close(200, "declared".into()).await;
        let publisher = Publisher::new(
            publishing.create_channel().await?,
            publishing.status().clone(),
            config.confirm_timeout,
        )
        .await?;
        tracing::info!(connection = %name, "connected to the broker");
        Ok(Self {
            publishing,
            consuming,
            publisher,
            topology,
        })
    }

    /// Connects, retrying with capped exponential backoff and full jitter until it succeeds or
    /// `shutdown` fires (then `None`).
    pub async fn connect_with_retry(
        config: &BusConfig,
        topology: Topology,
        shutdown: &CancellationToken,
    ) -> Option<Self> {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(10),
            jitter: Jitter::Full,
        };
        // lapin retries the TCP connect itself for a while: race it against shutdown.
        let attempt = || async {
            tokio::select! {
                _ = shutdown.cancelled() => Ok(None),
                connected = Self::connect(config, topology.clone()) => connected.map(Some),
            }
        };
        let connected = resilience::retry_until_cancelled(
            "broker unreachable",
            backoff,
            shutdown,
            attempt,
            |_: &BusError| true,
        )
        .await;
        match connected {
            Ok(Some(Some(bus))) => Some(bus),
            _ => None,
        }
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// True while both connections are up (false while they recover).
    pub fn is_connected(&self) -> bool {
        self.publishing.status().connected()
            && self.consuming.status().connected()
            && self.publisher.is_connected()
    }

    /// True while the broker blocks this service's publishes (memory or disk alarm).
    pub fn is_blocked(&self) -> bool {
        self.publishing.status().blocked()
    }

    /// A fresh channel on the consuming connection (consumers, gets, declarations).
    pub(crate) async fn channel(&self) -> Result<Channel, BusError> {
        Ok(self.consuming.create_channel().await?)
    }

    /// Closes both connections politely.
    pub async fn close(&self) {
        for connection in [&self.consuming, &self.publishing] {
            if let Err(error) = connection.close(200, "shutdown".into()).await {
                tracing::debug!(%error, "closing a broker connection");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_password() {
        let config = BusConfig::new("amqp://summit:s3cret@broker:5672/%2f", "catalog");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("summit:***@broker"), "{printed}");
    }
}
