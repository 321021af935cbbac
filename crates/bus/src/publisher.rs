//! Confirmed publishing: persistent delivery, publisher confirms awaited — with a timeout —
//! before a publish counts as done.
//!
//! - Commands and moved deliveries are `mandatory`: an unroutable one is an error, not silence.
//!   Events to a fanout exchange are not: an event nobody subscribes to yet (e.g. the first
//!   `notifications.events`) is published to no one, which is what a publish/subscribe event
//!   means, and must never stall an outbox.
//! - A publish while the broker blocks this connection (memory or disk alarm) fails at once
//!   with [`PublishError::Blocked`]; a confirm that does not come within the timeout fails with
//!   [`PublishError::Timeout`]. Callers retry later; nothing waits forever.
//! - A publish in flight when the connection drops fails even though the connection recovers:
//!   the caller publishes again (the outbox relay does), and consumers' inboxes absorb
//!   duplicates.

use std::collections::BTreeMap;
use std::time::Duration;

use contracts::{Destination, RawEnvelope};
use futures_util::future::join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, ConnectionStatus};
use tokio::sync::oneshot;

use crate::BrokerError;
use crate::confirms::{Address, Answer, Confirms, Sending, Verdict};

/// Why a publish did not count as done. Each is worth retrying by the caller, except
/// `Unroutable`, which only a topology change can fix.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error("the broker refused (nacked) the message")]
    Nacked,
    #[error("no queue is bound to exchange {exchange:?} with routing key {routing_key:?}")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    #[error("the broker blocks publishing on this connection (resource alarm)")]
    Blocked,
    #[error("no confirm from the broker within {0:?}")]
    Timeout(Duration),
}

impl From<lapin::Error> for PublishError {
    fn from(error: lapin::Error) -> Self {
        Self::Broker(error.into())
    }
}

impl PublishError {
    /// True when the message itself cannot be delivered as addressed (as opposed to the broker
    /// being away, blocked or slow): worth counting against the message, and setting aside.
    pub fn is_message_fault(&self) -> bool {
        matches!(self, Self::Unroutable { .. } | Self::Nacked)
    }
}

/// A message ready for the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    /// The envelope id; also the AMQP `message_id`.
    pub message_id: String,
    /// The envelope type; also the AMQP `type`.
    pub kind: String,
    pub correlation_id: Option<String>,
    pub body: Vec<u8>,
    /// String headers, e.g. W3C `traceparent` and `tracestate`, `x-attempts` on a retry.
    pub headers: BTreeMap<String, String>,
    /// Whether a publish nobody receives is an error (commands, retries) or not (events).
    pub mandatory: bool,
}

impl Outgoing {
    /// An envelope on its way to `destination`, carrying the current trace context.
    pub fn envelope(envelope: &RawEnvelope, destination: Destination) -> Self {
        let mut headers = BTreeMap::new();
        telemetry::propagation::inject_current(&mut headers);
        Self {
            exchange: destination.exchange().to_owned(),
            routing_key: destination.routing_key().to_owned(),
            message_id: envelope.id.to_string(),
            kind: envelope.kind.clone(),
            correlation_id: envelope.correlation_id.map(|id| id.to_string()),
            body: envelope.to_vec(),
            headers,
            mandatory: matches!(destination, Destination::Command { .. }),
        }
    }

    /// The same message addressed straight to one queue (the default exchange routes by queue
    /// name), as a retry or a replay is.
    pub fn to_queue(mut self, queue: &str) -> Self {
        self.exchange = String::new();
        queue.clone_into(&mut self.routing_key);
        self.mandatory = true;
        self
    }

    pub(crate) fn properties(&self) -> BasicProperties {
        let mut table = FieldTable::default();
        for (key, value) in &self.headers {
            table.insert(
                key.as_str().into(),
                AMQPValue::LongString(value.as_str().into()),
            );
        }
        let mut properties = BasicProperties::default()
            .with_message_id(self.message_id.as_str().into())
            .with_type(self.kind.as_str().into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_headers(table);
        if let Some(correlation_id) = &self.correlation_id {
            properties = properties.with_correlation_id(correlation_id.as_str().into());
        }
        properties
    }
}

/// A channel in confirm mode on the publishing connection, with the task that settles its
/// confirms. Replaced as a whole when the connection is replaced.
pub(crate) struct PublishLink {
    channel: Channel,
    connection: ConnectionStatus,
    confirms: std::sync::Arc<Confirms>,
    /// Set when a confirm did not come in time. A broker restarted after `kill -9` was seen to
    /// accept the new connection and then never confirm on it (its channel process stuck while
    /// the quorum queue recovered); the bus replaces a stalled link like a lost one.
    stalled: std::sync::atomic::AtomicBool,
}

impl PublishLink {
    /// Puts `channel` in confirm mode.
    pub(crate) async fn open(
        channel: Channel,
        connection: ConnectionStatus,
    ) -> Result<Self, lapin::Error> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self {
            channel,
            connection,
            confirms: Confirms::start(),
            stalled: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

/// Publishes on the bus's current publishing channel. Cheap to clone; clones share it, and
/// follow it when the bus replaces a lost connection.
#[derive(Clone)]
pub struct Publisher {
    link: std::sync::Arc<std::sync::RwLock<std::sync::Arc<PublishLink>>>,
    confirm_timeout: Duration,
}

impl Publisher {
    pub(crate) fn new(link: PublishLink, confirm_timeout: Duration) -> Self {
        Self {
            link: std::sync::Arc::new(std::sync::RwLock::new(std::sync::Arc::new(link))),
            confirm_timeout,
        }
    }

    /// The channel publishes go to from now on.
    pub(crate) fn replace(&self, link: PublishLink) {
        *self
            .link
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = std::sync::Arc::new(link);
    }

    fn current(&self) -> std::sync::Arc<PublishLink> {
        self.link
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Publishes one message and waits for the broker's confirm.
    pub async fn publish(&self, message: &Outgoing) -> Result<(), PublishError> {
        self.publish_raw(
            &message.exchange,
            &message.routing_key,
            &message.body,
            message.properties(),
            message.mandatory,
        )
        .await
    }

    /// Publishes many messages with their confirms in flight together; one result per message,
    /// in order. This is what makes the outbox relay fast: one round trip per batch. The whole
    /// batch shares one confirm timeout.
    pub async fn publish_all(&self, messages: &[Outgoing]) -> Vec<Result<(), PublishError>> {
        let link = self.current();
        if link.connection.blocked() {
            return messages
                .iter()
                .map(|_| Err(PublishError::Blocked))
                .collect();
        }
        let batch = async {
            let mut pending = Vec::with_capacity(messages.len());
            {
                let sending = link.confirms.sending().await;
                for message in messages {
                    pending.push(
                        link.send(
                            &sending,
                            &message.exchange,
                            &message.routing_key,
                            &message.body,
                            message.properties(),
                            message.mandatory,
                        )
                        .await,
                    );
                }
            }
            let confirms = pending.into_iter().map(|sent| async move {
                match sent {
                    Ok(verdict) => answer(verdict.await, self.confirm_timeout),
                    Err(e) => Err(e),
                }
            });
            join_all(confirms).await
        };
        match tokio::time::timeout(self.confirm_timeout, batch).await {
            Ok(verdicts) => verdicts
                .into_iter()
                .zip(messages)
                .map(|(verdict, message)| settle(&message.exchange, &message.routing_key, verdict?))
                .collect(),
            Err(_) => {
                link.stall();
                messages
                    .iter()
                    .map(|_| Err(PublishError::Timeout(self.confirm_timeout)))
                    .collect()
            }
        }
    }

    /// Publishes with explicit properties; the consumer runtime and dead-letter replay use it to
    /// move a delivery on keeping its properties.
    pub(crate) async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        mandatory: bool,
    ) -> Result<(), PublishError> {
        let link = self.current();
        if link.connection.blocked() {
            return Err(PublishError::Blocked);
        }
        let confirmed = async {
            let verdict = {
                let sending = link.confirms.sending().await;
                link.send(
                    &sending,
                    exchange,
                    routing_key,
                    body,
                    properties.with_delivery_mode(2),
                    mandatory,
                )
                .await?
            };
            answer(verdict.await, self.confirm_timeout)
        };
        match tokio::time::timeout(self.confirm_timeout, confirmed).await {
            Ok(verdict) => settle(exchange, routing_key, verdict?),
            Err(_) => {
                link.stall();
                Err(PublishError::Timeout(self.confirm_timeout))
            }
        }
    }

    /// True while the channel is open and confirming.
    pub fn is_connected(&self) -> bool {
        let link = self.current();
        link.channel.status().connected()
            && link.connection.connected()
            && !link.stalled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True while the broker blocks this connection's publishes (memory or disk alarm).
    pub fn is_blocked(&self) -> bool {
        self.current().connection.blocked()
    }
}

impl PublishLink {
    fn stall(&self) {
        if !self
            .stalled
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            tracing::warn!(
                "no publisher confirm in time: the publishing connection will be replaced"
            );
        }
    }

    /// Every publish of the bus: sends under `sending` and hands the confirm to [`Confirms`].
    async fn send(
        &self,
        sending: &Sending<'_>,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        mandatory: bool,
    ) -> Result<oneshot::Receiver<Answer>, PublishError> {
        let address = Address {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            message_id: properties.message_id().as_ref().map(ToString::to_string),
        };
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await?;
        Ok(sending.track(address, confirm))
    }
}

/// The verdict the settling task sent, or a broker error if it could not answer.
fn answer(
    received: Result<Answer, oneshot::error::RecvError>,
    timeout: Duration,
) -> Result<Verdict, PublishError> {
    match received {
        Ok(answer) => Ok(answer?),
        // The settling task is gone (the runtime is shutting down): no confirm will come.
        Err(_) => Err(PublishError::Timeout(timeout)),
    }
}

fn settle(exchange: &str, routing_key: &str, verdict: Verdict) -> Result<(), PublishError> {
    match verdict {
        Verdict::Delivered => Ok(()),
        Verdict::Returned => Err(PublishError::Unroutable {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
        }),
        Verdict::Nacked => Err(PublishError::Nacked),
    }
}

/// A copy of `properties` whose header table `edit` has changed.
pub(crate) fn with_headers(
    properties: &BasicProperties,
    edit: impl FnOnce(&mut FieldTable),
) -> BasicProperties {
    let mut table = properties.headers().clone().unwrap_or_default();
    edit(&mut table);
    properties.clone().with_headers(table)
}
