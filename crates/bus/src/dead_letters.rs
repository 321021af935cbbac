//! What operators do with dead letters: look at them, and send them back to work.
//!
//! A dead letter in `<queue>.dlq` carries the reason (`x-error`, `x-error-kind`), the attempts
//! made (`x-attempts`), RabbitMQ's `x-death`, and the runtime's dead-letter marker. Replaying
//! publishes it (confirmed) back to `<queue>` without the marker and the retry history — so it
//! starts again at attempt 1 — and only then removes it from the dead-letter queue.
//!
//! A parking store (the ops service) drains `.dlq`s with [`Bus::consume_dead_letters`]: each
//! dead letter reaches a [`DeadLetterHandler`] whole — every header as JSON, `x-death`
//! included — and is acked only when the handler answers [`Outcome::Done`] (its row
//! committed). Any other answer puts it back and pauses the consumer (the kill switch): a
//! dead-letter queue has no dead-letter queue of its own, so nothing is ever rejected from it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio_util::sync::CancellationToken;

use crate::connection::Bus;
use crate::consumer::{ConsumerConfig, Outcome, Process, settle};
use crate::kill_switch::KillSwitch;
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
    /// The work queue it died in: from the `.dlq` it was read from (each `Q.dlq` is bound
    /// under `Q`), else RabbitMQ's `x-first-death-queue`.
    pub queue: Option<String>,
    pub correlation_id: Option<String>,
    /// Every header, as JSON: strings stay strings, integers numbers, `x-death` an array of
    /// objects (timestamps as seconds since the epoch), bytes as lossy UTF-8. Not the quorum
    /// queue's `x-delivery-count`, which changes with every look.
    pub headers: BTreeMap<String, serde_json::Value>,
    /// Whether the broker delivered it before (a parking store's earlier try did not commit).
    pub redelivered: bool,
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
            queue: headers::string(table, "x-first-death-queue"),
            correlation_id: properties
                .correlation_id()
                .as_ref()
                .map(std::string::ToString::to_string),
            headers: table
                .map(|t| {
                    t.inner()
                        .iter()
                        // The quorum queue's own redelivery counter: it changes with every
                        // look, and says nothing about the failure.
                        .filter(|(k, _)| k.as_str() != "x-delivery-count")
                        .map(|(k, v)| (k.to_string(), json(v)))
                        .collect()
                })
                .unwrap_or_default(),
            redelivered: false,
        }
    }
}

/// An AMQP header value as JSON.
fn json(value: &AMQPValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AMQPValue::Boolean(v) => Value::Bool(*v),
        AMQPValue::Float(v) => {
            serde_json::Number::from_f64(f64::from(*v)).map_or(Value::Null, Value::Number)
        }
        AMQPValue::Double(v) => serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number),
        AMQPValue::DecimalValue(v) => Value::String(format!("{}e-{}", v.value, v.scale)),
        AMQPValue::ShortString(v) => Value::String(v.to_string()),
        AMQPValue::LongString(v) => {
            Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned())
        }
        AMQPValue::ByteArray(v) => {
            Value::String(String::from_utf8_lossy(v.as_slice()).into_owned())
        }
        AMQPValue::FieldArray(v) => Value::Array(v.as_slice().iter().map(json).collect()),
        AMQPValue::FieldTable(v) => Value::Object(
            v.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), json(v)))
                .collect(),
        ),
        AMQPValue::Void => Value::Null,
        other => headers::as_int(other).map_or(Value::Null, Value::from),
    }
}

/// What a parking store implements to drain dead-letter queues: `Done` once the letter is kept
/// (committed); anything else puts it back and pauses the consumer.
pub trait DeadLetterHandler: Send + Sync + 'static {
    fn park(&self, letter: DeadLetter) -> impl Future<Output = Outcome> + Send;
}

struct DeadLetterRuntime<H> {
    /// The `.dlq` consumed.
    queue: String,
    handler: Arc<H>,
    switch: KillSwitch,
}

impl<H: DeadLetterHandler> Process for DeadLetterRuntime<H> {
    fn queue(&self) -> &str {
        &self.queue
    }

    fn switch(&self) -> &KillSwitch {
        &self.switch
    }

    async fn process(&self, delivery: Delivery) {
        let mut letter = DeadLetter::from_delivery(&delivery.properties, &delivery.data);
        letter.redelivered = delivery.redelivered;
        if let Some(queue) = work_queue(&self.queue) {
            letter.queue = Some(queue.to_owned());
        }
        let handler = self.handler.clone();
        let outcome = tokio::spawn(async move { handler.park(letter).await })
            .await
            .unwrap_or_else(|panic| Outcome::Unavailable(format!("handler panicked: {panic}")));
        match outcome {
            Outcome::Done => {
                self.switch.reset();
                settle(delivery.acker.ack(BasicAckOptions::default())).await;
            }
            Outcome::Retry(reason) | Outcome::Reject(reason) | Outcome::Unavailable(reason) => {
                self.switch.trip(&reason);
                settle(delivery.acker.nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                }))
                .await;
            }
        }
    }
}

/// The work queue a dead-letter queue belongs to.
pub fn work_queue(dead_letter_queue: &str) -> Option<&str> {
    dead_letter_queue.strip_suffix(".dlq")
}

impl Bus {
    /// Drains the dead-letter queue `dlq` (e.g. `payments.commands.dlq`) into `handler` until
    /// `shutdown`, acking each letter only once the handler answers `Done`. Only `prefetch` and
    /// `pause` of `config` apply.
    pub async fn consume_dead_letters<H: DeadLetterHandler>(
        self: &Arc<Self>,
        dlq: &str,
        handler: Arc<H>,
        config: ConsumerConfig,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let runtime = Arc::new(DeadLetterRuntime {
            queue: dlq.to_owned(),
            handler,
            switch: KillSwitch::new(dlq, config.pause),
        });
        self.run_consumer(runtime, config, shutdown).await
    }

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
