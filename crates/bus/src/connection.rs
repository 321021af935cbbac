//! [`Bus`]: two named AMQP connections per service — one for publishing, one for consuming —
//! that the bus replaces itself when they are lost.
//!
//! Why two: when RabbitMQ raises a memory or disk alarm it blocks every connection that
//! publishes, and a blocked connection stops carrying *anything* — acks included. With publishes
//! and acks on separate connections, consumers keep acking (draining the queues that caused the
//! alarm) while publishers wait, which is RabbitMQ's own advice.
//!
//! Recovery is the bus's own, not lapin's: lapin 4.12's auto-recovery was seen, after a broker
//! `kill -9` and restart, to leave a connection that reports itself connected while no confirm
//! or delivery ever arrives again (its io-loop thread panics in its reconnect backoff). So the
//! bus watches both connections (and the publishing channel); when one is lost it opens a new
//! pair with capped, jittered backoff, declares the topology again, swaps the publishing channel
//! under every [`Publisher`] clone and bumps a generation that consumers follow to subscribe
//! again (see `consumer`). Publishes while the broker is away fail fast; the outbox keeps
//! what they carried. [`Bus::connect_with_retry`] does the same for a broker that is not there
//! at start, so a service starts without its broker and reports degraded until it arrives.
//!
//! Failover: the URL may list several brokers (the nodes of a cluster), comma-separated. Each
//! opening tries them in turn, beginning after the one last used, so a connection lost with
//! its node is replaced on another member first; the node that failed is tried last.

use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use resilience::{Backoff, Jitter};
use tokio_util::sync::CancellationToken;

use crate::BusError;
use crate::publisher::{PublishLink, Publisher};
use crate::topology::Topology;

/// Where the broker is and how this service's connections show up in its tools.
#[derive(Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// `amqp://user:pass@host:port/vhost` (`%2f` is the default vhost), or several such URLs
    /// separated by commas (a cluster's nodes, tried in turn). Never printed.
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

/// `amqp://user:***@host/vhost`: each URL of the list with its password hidden.
fn redact(url: &str) -> String {
    url.split(',').map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(url: &str) -> String {
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

    /// The brokers to try, in the order given.
    pub fn urls(&self) -> Vec<&str> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// `AMQP_URL` from the environment (one URL, or a cluster's, comma-separated), or the
    /// local broker.
    pub fn from_env(connection_name: &str) -> Self {
        Self::new(
            std::env::var("AMQP_URL").unwrap_or_else(|_| Self::DEFAULT_URL.to_owned()),
            connection_name,
        )
    }
}

/// The connections with the topology declared and a confirmed publisher ready.
pub struct Bus {
    shared: std::sync::Arc<Shared>,
    publisher: Publisher,
    /// Stops the supervisor when the bus is closed or dropped.
    closed: CancellationToken,
}

/// What the bus and its supervisor share.
struct Shared {
    config: BusConfig,
    topology: Topology,
    links: std::sync::RwLock<std::sync::Arc<Links>>,
    /// The generation of [`Links`] in use; consumers wait on it to subscribe again.
    generation: tokio::sync::watch::Sender<u64>,
    /// Which of the config's brokers the first connections went to.
    used: usize,
}

/// One generation of connections.
struct Links {
    publishing: Connection,
    consuming: Connection,
}

impl Links {
    fn is_alive(&self, publisher: &Publisher) -> bool {
        self.publishing.status().connected()
            && self.consuming.status().connected()
            && publisher.is_connected()
    }
}

async fn open(url: &str, name: String) -> Result<Connection, lapin::Error> {
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url, properties).await
}

/// The longest the bus waits to open its connections and declare its topology: a broker that
/// accepts connections but does not answer (seen while a restarted node recovers its quorum
/// queues) must not hold startup or recovery forever.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens both connections on the first of the config's brokers that answers, trying them in
/// turn from index `from`; declares `topology` and opens the publishing channel. Returns the
/// index of the broker used.
async fn open_links(
    config: &BusConfig,
    topology: &Topology,
    from: usize,
) -> Result<(Links, PublishLink, usize), BusError> {
    let urls = config.urls();
    let mut last = None;
    for k in 0..urls.len().max(1) {
        let index = (from + k) % urls.len().max(1);
        let url = urls.get(index).copied().unwrap_or(BusConfig::DEFAULT_URL);
        match tokio::time::timeout(OPEN_TIMEOUT, open_links_on(url, config, topology)).await {
            Ok(Ok((links, link))) => return Ok((links, link, index)),
            Ok(Err(error)) => last = Some(error),
            Err(_) => {
                last = Some(BusError::Publish(crate::PublishError::Timeout(
                    OPEN_TIMEOUT,
                )));
            }
        }
        if urls.len() > 1 {
            tracing::warn!(broker = index, "broker did not answer; trying the next");
        }
    }
    Err(
        last.unwrap_or(BusError::Publish(crate::PublishError::Timeout(
            OPEN_TIMEOUT,
        ))),
    )
}

async fn open_links_on(
    url: &str,
    config: &BusConfig,
    topology: &Topology,
) -> Result<(Links, PublishLink), BusError> {
    let name = &config.connection_name;
    let publishing = open(url, format!("{name}.publish")).await?;
    let consuming = open(url, format!("{name}.consume")).await?;
    let channel = consuming.create_channel().await?;
    topology.declare(&channel).await?;
    let _ = channel.close(200, "declared".into()).await;
    let link = PublishLink::open(
        publishing.create_channel().await?,
        publishing.status().clone(),
    )
    .await?;
    Ok((
        Links {
            publishing,
            consuming,
        },
        link,
    ))
}

/// How often the supervisor looks at the connections.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Replaces lost connections until `closed`.
async fn supervise(
    shared: std::sync::Arc<Shared>,
    publisher: Publisher,
    closed: CancellationToken,
) {
    let backoff = Backoff {
        base: Duration::from_millis(100),
        cap: Duration::from_secs(5),
        jitter: Jitter::Full,
    };
    let mut used = shared.used;
    loop {
        tokio::select! {
            _ = closed.cancelled() => return,
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let lost = !shared.current().is_alive(&publisher);
        if !lost {
            continue;
        }
        tracing::warn!(connection = %shared.config.connection_name, "broker connection lost; reconnecting");
        let reopened = resilience::retry_until_cancelled(
            "broker unreachable",
            backoff,
            &closed,
            || open_links(&shared.config, &shared.topology, used + 1),
            |_: &BusError| true,
        )
        .await;
        let Ok(Some((links, link, index))) = reopened else {
            return;
        };
        used = index;
        publisher.replace(link);
        let old = std::mem::replace(
            &mut *shared
                .links
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            std::sync::Arc::new(links),
        );
        shared.generation.send_modify(|g| *g += 1);
        tracing::info!(connection = %shared.config.connection_name, broker = index, "reconnected to the broker");
        // A silent connection never answers a close: do not wait for it here.
        tokio::spawn(async move {
            for connection in [&old.consuming, &old.publishing] {
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    connection.close(200, "replaced".into()),
                )
                .await;
            }
        });
    }
}

impl Shared {
    fn current(&self) -> std::sync::Arc<Links> {
        self.links
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Bus {
    /// Connects once (both connections), declares `topology` and opens the publisher's channel;
    /// from then on replaces lost connections by itself.
    pub async fn connect(config: &BusConfig, topology: Topology) -> Result<Self, BusError> {
        let (links, link, used) = open_links(config, &topology, 0).await?;
        let publisher = Publisher::new(link, config.confirm_timeout);
        let (generation, _) = tokio::sync::watch::channel(0);
        let shared = std::sync::Arc::new(Shared {
            config: config.clone(),
            topology,
            links: std::sync::RwLock::new(std::sync::Arc::new(links)),
            generation,
            used,
        });
        let closed = CancellationToken::new();
        tokio::spawn(supervise(shared.clone(), publisher.clone(), closed.clone()));
        tracing::info!(connection = %config.connection_name, broker = used, "connected to the broker");
        Ok(Self {
            shared,
            publisher,
            closed,
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
        &self.shared.topology
    }

    /// True while both connections are up (false while they are being replaced).
    pub fn is_connected(&self) -> bool {
        self.shared.current().is_alive(&self.publisher)
    }

    /// True while the broker blocks this service's publishes (memory or disk alarm).
    pub fn is_blocked(&self) -> bool {
        self.publisher.is_blocked()
    }

    /// A fresh channel on the consuming connection (consumers, gets, declarations).
    pub(crate) async fn channel(&self) -> Result<Channel, BusError> {
        Ok(self.shared.current().consuming.create_channel().await?)
    }

    /// The current connection generation, to wait for the next with [`Bus::next_generation`].
    pub(crate) fn generation(&self) -> u64 {
        *self.shared.generation.borrow()
    }

    /// Waits until the connections are newer than `seen` (or `shutdown`); false on shutdown.
    pub(crate) async fn next_generation(&self, seen: u64, shutdown: &CancellationToken) -> bool {
        let mut generation = self.shared.generation.subscribe();
        tokio::select! {
            _ = shutdown.cancelled() => false,
            changed = generation.wait_for(|g| *g > seen) => changed.is_ok(),
        }
    }

    /// Closes both connections politely and stops replacing them.
    pub async fn close(&self) {
        self.closed.cancel();
        let links = self.shared.current();
        for connection in [&links.consuming, &links.publishing] {
            if let Err(error) = connection.close(200, "shutdown".into()).await {
                tracing::debug!(%error, "closing a broker connection");
            }
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.closed.cancel();
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

    #[test]
    fn a_list_of_brokers_is_read_in_order_and_never_prints_a_password() {
        let config = BusConfig::new(
            "amqp://summit:s3cret@node-a:5672/v, amqp://summit:s3cret@node-b:5672/v,",
            "catalog",
        );
        assert_eq!(
            config.urls(),
            [
                "amqp://summit:s3cret@node-a:5672/v",
                "amqp://summit:s3cret@node-b:5672/v"
            ]
        );
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("@node-b"), "{printed}");
    }
}
