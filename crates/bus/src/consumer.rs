//! The consumer runtime: manual acks after the handler's effect, bounded prefetch, broker-side
//! retries with capped exponential backoff and jitter, and dead letters with the reason.
//!
//! A delivery's life:
//! - Decoded into an envelope and a known [`Message`]; a body that cannot be decoded (malformed,
//!   unknown type, unknown major version) is dead-lettered at once — redelivery cannot help.
//! - Handed to the [`Handler`] on its own task (a panic counts as a transient failure, never a
//!   dead consumer), which answers an [`Outcome`].
//! - `Done`: acked. `Retry`: republished through the delay ladder with `x-attempts` + 1 and a
//!   delay from the workspace's one [`Backoff`] policy, then acked; at `max_attempts` it is
//!   dead-lettered instead. `Reject`: dead-lettered.
//! - Dead-lettering republishes the message to its own queue carrying `x-error`,
//!   `x-error-kind`, `x-attempts` and a marker; seeing the marker, the runtime rejects it, so
//!   RabbitMQ moves it to `<queue>.dlq` adding its own `x-death`.
//!
//! Moving a message on (to the ladder or the dead-letter path) is a confirmed publish before
//! the original is acked: if the publish fails the original is returned to the queue, so
//! nothing is lost; a crash between the two duplicates it, and inboxes absorb duplicates.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use contracts::message::decode_body;
use contracts::{Message, RawEnvelope};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::FieldTable;
use resilience::{Backoff, Jitter};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::connection::Bus;
use crate::publisher::{Publisher, with_headers};
use crate::{BusError, delay, headers};

/// How a handler's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is committed: ack.
    Done,
    /// A transient failure: try again later, through the broker, with backoff.
    Retry(String),
    /// A permanent failure: the message can never succeed; dead-letter it now.
    Reject(String),
}

/// A decoded delivery, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub envelope: RawEnvelope,
    pub message: Message,
    /// 1 on the first delivery to a handler, growing with each broker-side retry.
    pub attempt: u32,
    pub queue: String,
}

impl Incoming {
    /// The envelope with its payload as the contract type `P`, for handlers that take one type.
    pub fn typed<P: contracts::Contract>(
        &self,
    ) -> Result<contracts::Envelope<P>, contracts::DecodeError> {
        contracts::message::decode_typed(&self.envelope)
    }
}

/// What a service implements to consume a queue.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, incoming: Incoming) -> impl Future<Output = Outcome> + Send;
}

/// Tuning of one consumer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConsumerConfig {
    /// Unacked deliveries in flight at once; also the handler concurrency.
    pub prefetch: u16,
    /// Deliveries to the handler before a retried message is dead-lettered.
    pub max_attempts: u32,
    pub backoff: Backoff,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            prefetch: 32,
            max_attempts: 6,
            backoff: Backoff {
                base: Duration::from_millis(200),
                cap: Duration::from_secs(30),
                jitter: Jitter::Full,
            },
        }
    }
}

impl Bus {
    /// Consumes `queue` until `shutdown` fires, then stops taking deliveries, lets the ones in
    /// flight finish and be acked, and returns.
    pub async fn consume<H: Handler>(
        &self,
        queue: &str,
        handler: Arc<H>,
        config: ConsumerConfig,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let channel = self.channel().await?;
        channel
            .basic_qos(config.prefetch, BasicQosOptions::default())
            .await?;
        let mover = Publisher::new(self.channel().await?).await?;
        let tag = format!("{queue}.{}", uuid::Uuid::now_v7());
        let mut deliveries = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let runtime = Arc::new(Runtime {
            queue: queue.to_owned(),
            handler,
            config,
            mover,
        });
        let in_flight = TaskTracker::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        let runtime = runtime.clone();
                        in_flight.spawn(async move { runtime.process(delivery).await });
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, queue, "consumer interrupted; waiting for recovery");
                        channel.wait_for_recovery(error).await?;
                    }
                    None => break,
                },
            }
        }
        if let Err(error) = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await
        {
            tracing::debug!(%error, queue, "cancelling the consumer");
        }
        in_flight.close();
        in_flight.wait().await;
        let _ = channel.close(200, "consumer stopped".into()).await;
        Ok(())
    }
}

struct Runtime<H> {
    queue: String,
    handler: Arc<H>,
    config: ConsumerConfig,
    /// A confirm channel of its own, for moving deliveries to the ladder or the DLQ.
    mover: Publisher,
}

impl<H: Handler> Runtime<H> {
    async fn process(&self, delivery: Delivery) {
        let table = delivery.properties.headers().as_ref();
        if headers::has(table, headers::DEAD_LETTER) {
            // Our own copy on its way out: let RabbitMQ dead-letter it (and add x-death).
            settle(
                delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await,
            );
            return;
        }
        let attempt = headers::int(table, headers::ATTEMPTS)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(1)
            .max(1);
        let (envelope, message) = match decode_body(&delivery.data) {
            Ok(decoded) => decoded,
            Err(error) => {
                count(&self.queue, "undecodable");
                tracing::warn!(queue = %self.queue, %error, "undecodable message: dead-lettering");
                return self
                    .dead_letter(delivery, attempt, error.kind(), &error.to_string())
                    .await;
            }
        };
        let span = tracing::info_span!(
            "consume",
            queue = %self.queue,
            message_type = %envelope.kind,
            message_id = %envelope.id,
            attempt,
        );
        telemetry::propagation::set_parent_from(&span, &headers::strings(table));
        let incoming = Incoming {
            envelope,
            message,
            attempt,
            queue: self.queue.clone(),
        };
        let handler = self.handler.clone();
        let started = std::time::Instant::now();
        let outcome = tokio::spawn(async move { handler.handle(incoming).await }.instrument(span))
            .await
            .unwrap_or_else(|panic| Outcome::Retry(format!("handler panicked: {panic}")));
        metrics::histogram!("summit_handler_seconds", "queue" => self.queue.clone())
            .record(started.elapsed().as_secs_f64());
        count(
            &self.queue,
            match &outcome {
                Outcome::Done => "done",
                Outcome::Retry(_) if attempt >= self.config.max_attempts => "exhausted",
                Outcome::Retry(_) => "retried",
                Outcome::Reject(_) => "rejected",
            },
        );
        match outcome {
            Outcome::Done => settle(delivery.acker.ack(BasicAckOptions::default()).await),
            Outcome::Retry(reason) if attempt >= self.config.max_attempts => {
                tracing::warn!(queue = %self.queue, attempt, %reason, "attempts exhausted: dead-lettering");
                self.dead_letter(delivery, attempt, "retries-exhausted", &reason)
                    .await
            }
            Outcome::Retry(reason) => self.retry_later(delivery, attempt, &reason).await,
            Outcome::Reject(reason) => {
                tracing::warn!(queue = %self.queue, %reason, "rejected: dead-lettering");
                self.dead_letter(delivery, attempt, "rejected", &reason)
                    .await
            }
        }
    }

    async fn retry_later(&self, delivery: Delivery, attempt: u32, reason: &str) {
        let table = delivery.properties.headers().as_ref();
        let previous = headers::int(table, headers::RETRY_DELAY_MS)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis);
        let delay = self.config.backoff.delay(attempt, previous);
        let delay_ms = u64::try_from(delay.as_millis())
            .unwrap_or(u64::MAX)
            .min(delay::MAX_DELAY_MS);
        let properties = with_headers(&delivery.properties, |t| {
            headers::forget_deaths(t);
            headers::set_int(t, headers::ATTEMPTS, i64::from(attempt) + 1);
            headers::set_int(t, headers::RETRY_DELAY_MS, delay_ms as i64);
            headers::set_string(t, headers::ERROR, reason);
        });
        tracing::debug!(queue = %self.queue, attempt, delay_ms, %reason, "retrying later");
        let moved = self
            .mover
            .publish_raw(
                &delay::entry_exchange(),
                &delay::routing_key(delay_ms, &self.queue),
                &delivery.data,
                properties,
            )
            .await;
        self.finish_move(delivery, moved).await;
    }

    async fn dead_letter(&self, delivery: Delivery, attempt: u32, kind: &str, reason: &str) {
        let properties = with_headers(&delivery.properties, |t| {
            headers::set_int(t, headers::ATTEMPTS, i64::from(attempt));
            headers::set_string(t, headers::ERROR, reason);
            headers::set_string(t, headers::ERROR_KIND, kind);
            headers::set_int(t, headers::DEAD_LETTER, 1);
        });
        // The default exchange routes to the queue named by the routing key.
        let moved = self
            .mover
            .publish_raw("", &self.queue, &delivery.data, properties)
            .await;
        self.finish_move(delivery, moved).await;
    }

    /// Acks the original once its successor is safely with the broker; otherwise puts it back.
    async fn finish_move(&self, delivery: Delivery, moved: Result<(), crate::PublishError>) {
        match moved {
            Ok(()) => settle(delivery.acker.ack(BasicAckOptions::default()).await),
            Err(error) => {
                tracing::warn!(queue = %self.queue, %error, "could not move the message on; requeueing");
                // A short pause so a broker that refuses publishes is not spun against.
                tokio::time::sleep(Duration::from_millis(100)).await;
                settle(
                    delivery
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await,
                );
            }
        }
    }
}

/// `summit_messages_total{queue, outcome}`: done, retried, exhausted, rejected, undecodable.
fn count(queue: &str, outcome: &'static str) {
    metrics::counter!("summit_messages_total", "queue" => queue.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// An ack that fails (the channel died) is not an error of ours: the broker redelivers the
/// message and the handler's inbox absorbs it.
fn settle(result: Result<bool, lapin::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "acknowledgement lost with its channel; the broker will redeliver");
    }
}
