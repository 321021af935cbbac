//! Reading queues without a consumer: how deep a queue is and who consumes it, and taking what
//! is in it. For operators' tools and tests; services consume through [`crate::Bus::consume`].
//!
//! Depth and consumers come from a passive `queue.declare`: exact at that instant (unlike the
//! management API's sampled figures), and available on any broker — but they count ready
//! messages only, not those delivered and not yet acked.

use std::collections::BTreeMap;

use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};

use crate::BusError;
use crate::connection::Bus;

/// One message taken off a queue, with its headers rendered as text (integers in decimal,
/// RabbitMQ's `x-death` table as its debug form).
#[derive(Debug, Clone, PartialEq)]
pub struct Peeked {
    pub message_id: Option<String>,
    pub kind: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// Whether the broker delivered it before (and it was put back).
    pub redelivered: bool,
}

impl Peeked {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

pub(crate) fn render(table: Option<&FieldTable>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value) in table.map(|t| t.inner().iter()).into_iter().flatten() {
        let text = match value {
            AMQPValue::LongString(v) => v.to_string(),
            AMQPValue::ShortString(v) => v.to_string(),
            AMQPValue::Boolean(v) => v.to_string(),
            other => match crate::headers::as_int(other) {
                Some(number) => number.to_string(),
                None => format!("{other:?}"),
            },
        };
        out.insert(key.to_string(), text);
    }
    out
}

/// A queue as a passive declare sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Messages ready (not counting those delivered and unacked).
    pub messages: u32,
    pub consumers: u32,
}

impl Bus {
    /// Depth and consumers of `queue`; `None` when the broker has no such queue.
    pub async fn queue_stats(&self, queue: &str) -> Result<Option<QueueStats>, BusError> {
        let channel = self.channel().await?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        match declared {
            Ok(declared) => {
                let _ = channel.close(200, "inspected".into()).await;
                Ok(Some(QueueStats {
                    messages: declared.message_count(),
                    consumers: declared.consumer_count(),
                }))
            }
            // The broker closed the channel saying NOT_FOUND: no such queue.
            Err(error) if matches!(error.kind(), lapin::ErrorKind::ProtocolError(e) if e.get_id() == 404) => {
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Messages ready in `queue` (not counting those delivered and unacked).
    pub async fn depth(&self, queue: &str) -> Result<u32, BusError> {
        let channel = self.channel().await?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        let _ = channel.close(200, "inspected".into()).await;
        Ok(declared?.message_count())
    }

    /// Takes up to `max` messages off `queue`, oldest first: they are gone from it.
    pub async fn take(&self, queue: &str, max: usize) -> Result<Vec<Peeked>, BusError> {
        let channel = self.channel().await?;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(message) = channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await?
            else {
                break;
            };
            let properties = &message.delivery.properties;
            out.push(Peeked {
                message_id: properties
                    .message_id()
                    .as_ref()
                    .map(std::string::ToString::to_string),
                kind: properties
                    .kind()
                    .as_ref()
                    .map(std::string::ToString::to_string),
                headers: render(properties.headers().as_ref()),
                body: message.delivery.data.clone(),
                redelivered: message.delivery.redelivered,
            });
        }
        let _ = channel.close(200, "taken".into()).await;
        Ok(out)
    }
}
