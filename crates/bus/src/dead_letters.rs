//! What operators do with dead letters: look at them, and send them back to work.
//!
//! A dead letter in `<queue>.dlq` carries the reason (`x-error`, `x-error-kind`), the attempts
//! made (`x-attempts`), RabbitMQ's `x-death`, and the runtime's dead-letter marker. Replaying
//! publishes it (confirmed) back to `<queue>` without the marker and the retry history — so it
//! starts again at attempt 1 — and only then removes it from the dead-letter queue.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::FieldTable;

use crate::connection::Bus;
use crate::publisher::with_headers;
use crate::{BusError, headers};

/// One dead letter, as an operator reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub message_id: Option<String>,
    pub kind: Option<String>,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub attempts: Option<i64>,
    pub body: Vec<u8>,
}

impl DeadLetter {
    fn from_delivery(properties: &lapin::BasicProperties, body: &[u8]) -> Self {
        let table = properties.headers().as_ref();
        Self {
            message_id: properties
                .message_id()
                .as_ref()
                .map(std::string::ToString::to_string),
            kind: properties
                .kind()
                .as_ref()
                .map(std::string::ToString::to_string),
            error: headers::string(table, headers::ERROR),
            error_kind: headers::string(table, headers::ERROR_KIND),
            attempts: headers::int(table, headers::ATTEMPTS),
            body: body.to_vec(),
        }
    }
}

/// The work queue a dead-letter queue belongs to.
pub fn work_queue(dead_letter_queue: &str) -> Option<&str> {
    dead_letter_queue.strip_suffix(".dlq")
}

impl Bus {
    /// Up to `max` dead letters of `queue` (a work queue's name), left in place.
    pub async fn peek_dead_letters(
        &self,
        queue: &str,
        max: usize,
    ) -> Result<Vec<DeadLetter>, BusError> {
        let channel = self.channel().await?;
        let dlq = crate::topology::dead_letter_queue(queue);
        let mut letters = Vec::new();
        let mut last_tag = None;
        while letters.len() < max {
            let Some(message) = channel
                .basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            letters.push(DeadLetter::from_delivery(
                &message.delivery.properties,
                &message.delivery.data,
            ));
            last_tag = Some(message.delivery.delivery_tag);
        }
        if let Some(tag) = last_tag {
            // Put every one back, in one go.
            channel
                .basic_nack(
                    tag,
                    BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    },
                )
                .await?;
        }
        let _ = channel.close(200, "peeked".into()).await;
        Ok(letters)
    }

    /// Moves up to `max` dead letters of `queue` back onto it, each confirmed before it leaves
    /// the dead-letter queue; returns how many moved.
    pub async fn replay_dead_letters(&self, queue: &str, max: usize) -> Result<usize, BusError> {
        let channel = self.channel().await?;
        let dlq = crate::topology::dead_letter_queue(queue);
        let mut moved = 0;
        while moved < max {
            let Some(message) = channel
                .basic_get(dlq.as_str().into(), BasicGetOptions { no_ack: false })
                .await?
            else {
                break;
            };
            let properties = with_headers(&message.delivery.properties, |table| {
                let mut kept = FieldTable::default();
                for (key, value) in table.inner() {
                    let name = key.as_str();
                    if name != headers::DEAD_LETTER
                        && name != headers::ATTEMPTS
                        && name != headers::RETRY_DELAY_MS
                    {
                        kept.insert(key.clone(), value.clone());
                    }
                }
                headers::forget_deaths(&mut kept);
                *table = kept;
            });
            // The default exchange routes to the queue named by the routing key.
            self.publisher()
                .publish_raw("", queue, &message.delivery.data, properties, true)
                .await?;
            channel
                .basic_ack(message.delivery.delivery_tag, BasicAckOptions::default())
                .await?;
            moved += 1;
        }
        let _ = channel.close(200, "replayed".into()).await;
        Ok(moved)
    }
}
