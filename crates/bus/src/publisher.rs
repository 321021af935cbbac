//! Confirmed publishing: persistent delivery, `mandatory` (an unroutable message is an error,
//! not silence), and publisher confirms awaited before a publish counts as done.
//!
//! A publish in flight when the connection drops fails even though the connection recovers:
//! the caller publishes again (the outbox relay does), and consumers' inboxes absorb duplicates.

use std::collections::BTreeMap;

use contracts::{Destination, RawEnvelope};
use futures_util::future::join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use lapin::{Confirmation, PublisherConfirm};

/// Why a publish did not count as done. Each is worth retrying by the caller.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused (nacked) the message")]
    Nacked,
    #[error("no queue is bound to exchange {exchange:?} with routing key {routing_key:?}")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
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
    /// String headers, e.g. W3C `traceparent` and `tracestate`.
    pub headers: BTreeMap<String, String>,
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
        }
    }

    fn properties(&self) -> BasicProperties {
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

/// A channel in confirm mode. Cheap to clone; clones share the channel.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    /// Puts `channel` in confirm mode.
    pub async fn new(channel: Channel) -> Result<Self, lapin::Error> {
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Self { channel })
    }

    /// Publishes one message and waits for the broker's confirm.
    pub async fn publish(&self, message: &Outgoing) -> Result<(), PublishError> {
        let confirm = self
            .send(
                &message.exchange,
                &message.routing_key,
                &message.body,
                message.properties(),
            )
            .await?;
        settle(&message.exchange, &message.routing_key, confirm.await?)
    }

    /// Publishes many messages with their confirms in flight together; one result per message,
    /// in order. This is what makes the outbox relay fast: one round trip per batch.
    pub async fn publish_all(&self, messages: &[Outgoing]) -> Vec<Result<(), PublishError>> {
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            pending.push(
                self.send(
                    &message.exchange,
                    &message.routing_key,
                    &message.body,
                    message.properties(),
                )
                .await,
            );
        }
        let confirms = pending.into_iter().map(|sent| async move {
            match sent {
                Ok(confirm) => confirm.await.map_err(PublishError::from),
                Err(e) => Err(e),
            }
        });
        join_all(confirms)
            .await
            .into_iter()
            .zip(messages)
            .map(|(confirmation, message)| {
                settle(&message.exchange, &message.routing_key, confirmation?)
            })
            .collect()
    }

    /// Publishes `message` to `queue` after `delay`, through the delay ladder.
    pub async fn publish_delayed(
        &self,
        message: &Outgoing,
        queue: &str,
        delay: std::time::Duration,
    ) -> Result<(), PublishError> {
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.publish_raw(
            &crate::delay::entry_exchange(),
            &crate::delay::routing_key(delay_ms, queue),
            &message.body,
            message.properties(),
        )
        .await
    }

    /// Publishes with explicit properties; the consumer runtime uses it to move a delivery on
    /// (to the delay ladder or towards the dead-letter queue) keeping its properties.
    pub(crate) async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), PublishError> {
        let confirm = self
            .send(
                exchange,
                routing_key,
                body,
                properties.with_delivery_mode(2),
            )
            .await?;
        settle(exchange, routing_key, confirm.await?)
    }

    /// Every publish of the bus: `mandatory`, so an unroutable message comes back as an error.
    async fn send(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<PublisherConfirm, PublishError> {
        Ok(self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await?)
    }

    pub fn is_connected(&self) -> bool {
        self.channel.status().connected()
    }
}

fn settle(
    exchange: &str,
    routing_key: &str,
    confirmation: Confirmation,
) -> Result<(), PublishError> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(PublishError::Unroutable {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
        }),
        Confirmation::Nack(_) => Err(PublishError::Nacked),
        // The channel is always in confirm mode; treat the impossible as a refusal.
        Confirmation::NotRequested => Err(PublishError::Nacked),
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
