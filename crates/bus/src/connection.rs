//! [`Bus`]: one named AMQP connection per service that recovers by itself.
//!
//! lapin's auto-recovery reconnects after a dropped connection and replays the declared
//! topology, consumers, QoS and confirm mode. What it cannot do is reach a broker that is not
//! there at start: [`Bus::connect_with_retry`] keeps trying with capped, jittered backoff so a
//! service starts without its broker and reports not-ready until it arrives.

use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use resilience::{Backoff, Jitter};
use tokio_util::sync::CancellationToken;

use crate::BusError;
use crate::publisher::Publisher;
use crate::topology::Topology;

/// Where the broker is and how this connection shows up in its tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// `amqp://user:pass@host:port/vhost` (`%2f` is the default vhost).
    pub url: String,
    /// Shown by `rabbitmqctl list_connections` and the management UI, so an operator (or a test)
    /// can find and close exactly this service's connection.
    pub connection_name: String,
}

impl BusConfig {
    pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

    /// `AMQP_URL` from the environment, or the local broker.
    pub fn from_env(connection_name: &str) -> Self {
        Self {
            url: std::env::var("AMQP_URL").unwrap_or_else(|_| Self::DEFAULT_URL.to_owned()),
            connection_name: connection_name.to_owned(),
        }
    }
}

/// A connection with the topology declared and a confirmed publisher ready.
pub struct Bus {
    connection: Connection,
    publisher: Publisher,
    topology: Topology,
}

impl Bus {
    /// Connects once, declares `topology` and opens the publisher's channel.
    pub async fn connect(config: &BusConfig, topology: Topology) -> Result<Self, BusError> {
        // lapin's recovery loop takes backon's builder: capped exponential with jitter, and
        // enough attempts to outlast a broker restart (the service reports not-ready meanwhile).
        let reconnect = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .with_max_times(10_000);
        let properties = ConnectionProperties::default()
            .with_connection_name(config.connection_name.as_str().into())
            .with_backoff(reconnect)
            .enable_auto_recover();
        let connection = Connection::connect(&config.url, properties).await?;
        let channel = connection.create_channel().await?;
        topology.declare(&channel).await?;
        let publisher = Publisher::new(connection.create_channel().await?).await?;
        tracing::info!(connection = %config.connection_name, "connected to the broker");
        Ok(Self {
            connection,
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
        let mut attempt = 0;
        loop {
            // lapin retries the TCP connect itself for a while: race it against shutdown.
            let connected = tokio::select! {
                _ = shutdown.cancelled() => return None,
                connected = Self::connect(config, topology.clone()) => connected,
            };
            match connected {
                Ok(bus) => return Some(bus),
                Err(error) => {
                    attempt += 1;
                    let delay = backoff.delay(attempt, None);
                    tracing::warn!(%error, attempt, ?delay, "broker unreachable; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// True while the connection is up (false while it recovers).
    pub fn is_connected(&self) -> bool {
        self.connection.status().connected() && self.publisher.is_connected()
    }

    /// A fresh channel on this connection.
    pub async fn channel(&self) -> Result<Channel, BusError> {
        Ok(self.connection.create_channel().await?)
    }

    /// Closes the connection politely.
    pub async fn close(&self) {
        if let Err(error) = self.connection.close(200, "shutdown".into()).await {
            tracing::debug!(%error, "closing the broker connection");
        }
    }
}
