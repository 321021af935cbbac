//! The consumer runtime: manual acks after the handler's effect, bounded prefetch, retries kept
//! in the service's own store, dead letters with the reason, and a kill switch.
//!
//! A delivery's life:
//! - A body over [`MAX_BODY_BYTES`] is dead-lettered at once (`x-error-kind: too-large`) without
//!   being parsed: no Summit message comes near it, and parsing a hostile megabyte per delivery
//!   on every redelivery is work a consumer must not be made to do.
//! - Decoded into an envelope and a known [`Message`]; a body that cannot be decoded (malformed,
//!   unknown type, unknown major version) is dead-lettered at once — redelivery cannot help.
//! - Handed to the [`Handler`] on its own task (a panic counts as a transient failure, never a
//!   dead consumer), which answers an [`Outcome`].
//! - `Done`: acked. `Retry`: handed to the [`RetryQueue`] with `x-attempts` + 1 and a delay from
//!   the workspace's one [`Backoff`] policy — committed there *before* the delivery is acked —
//!   or, at `max_attempts`, dead-lettered. `Reject`: dead-lettered. `Unavailable`: put back with
//!   its attempt count untouched, and the consumer pauses (see [`crate::kill_switch`]).
//! - Dead-lettering publishes (confirmed, on the publishing connection) the message back to its
//!   own queue carrying `x-error`, `x-error-kind`, `x-attempts` and a marker; seeing the marker,
//!   the runtime rejects it, so RabbitMQ moves it to `<queue>.dlq` at-least-once, adding `x-death`.
//!
//! Moving a message on (to the retry store or the dead-letter path) completes before the
//! original is acked. If it fails, the original is put back and the kill switch trips: the
//! consumer backs off instead of spinning on it, and the failure is counted. A crash between
//! the two duplicates the message; inboxes absorb duplicates.

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
use tokio_util::task::{AbortOnDropHandle, TaskTracker};
use tracing::Instrument;

use crate::connection::Bus;
use crate::kill_switch::KillSwitch;
use crate::publisher::{Outgoing, with_headers};
use crate::retry::{Retry, RetryQueue};
use crate::{BusError, headers};

/// The largest body a consumer decodes: 256 KiB. Summit's largest messages (an order's lines,
/// a rendered mail's variables) are a few KiB; RabbitMQ's own cap (128 MiB) is no bound at all.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// How a handler's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is committed: ack.
    Done,
    /// A failure that may pass for this message (a peer busy, a conflict): try again later,
    /// with backoff, counting an attempt.
    Retry(String),
    /// A permanent failure: the message can never succeed; dead-letter it now.
    Reject(String),
    /// The service's own infrastructure (its database, the broker) is away. Not the message's
    /// fault: it goes back to the queue without using an attempt, and the consumer pauses until
    /// the dependency answers again.
    Unavailable(String),
}

/// A decoded delivery, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub envelope: RawEnvelope,
    pub message: Message,
    /// 1 on the first delivery to a handler, growing with each retry.
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
    /// Delay before each retry.
    pub backoff: Backoff,
    /// Pause after consecutive infrastructure failures (the kill switch); its cap bounds how
    /// long consumption lags behind a dependency's return.
    pub pause: Backoff,
    /// How often the consumer publishes its queue's depth, `summit_queue_depth{queue}`: the
    /// messages waiting for it (its lag, in messages).
    pub depth_every: Duration,
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
            pause: Backoff {
                base: Duration::from_millis(500),
                cap: Duration::from_secs(10),
                jitter: Jitter::Equal,
            },
            depth_every: Duration::from_secs(15),
        }
    }
}

impl Bus {
    /// Consumes `queue` until `shutdown` fires, then stops taking deliveries, lets the ones in
    /// flight finish and be acked, and returns. Retries wait in `retries`.
    pub async fn consume<H: Handler>(
        self: &Arc<Self>,
        queue: &str,
        handler: Arc<H>,
        retries: Arc<dyn RetryQueue>,
        config: ConsumerConfig,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let runtime = Arc::new(Runtime {
            queue: queue.to_owned(),
            handler,
            config,
            bus: self.clone(),
            retries,
            switch: KillSwitch::new(queue, config.pause),
        });
        self.run_consumer(runtime, config, shutdown).await
    }

    /// The subscription loop shared by every kind of consumer: subscribes, pumps deliveries
    /// into `runtime`, follows connection replacements, and drains in-flight work on shutdown.
    pub(crate) async fn run_consumer<P: Process>(
        self: &Arc<Self>,
        runtime: Arc<P>,
        config: ConsumerConfig,
        shutdown: CancellationToken,
    ) -> Result<(), BusError> {
        let queue = runtime.queue().to_owned();
        let queue = queue.as_str();
        let in_flight = TaskTracker::new();
        let _depth = AbortOnDropHandle::new(tokio::spawn(crate::queue_depth::report(
            self.clone(),
            queue.to_owned(),
            config.depth_every,
        )));
        // One subscription per connection generation: when the bus replaces a lost connection,
        // subscribe again on the new one. Deliveries in flight on the old one are redelivered
        // by the broker (their acks cannot reach it), and the inbox absorbs the duplicates.
        loop {
            let generation = self.generation();
            let subscribed = match self.subscribe(queue, config).await {
                Ok(subscribed) => Some(subscribed),
                Err(error) => {
                    tracing::warn!(%error, queue, "cannot subscribe; waiting for the connection");
                    None
                }
            };
            if let Some((channel, tag, mut deliveries)) = subscribed {
                let stopped = pump(
                    &runtime,
                    self,
                    &mut deliveries,
                    generation,
                    &in_flight,
                    &shutdown,
                )
                .await;
                if stopped {
                    // Each step of a stop is bounded: a channel whose connection went silent
                    // never answers, and a stop must end. What is left unacked goes back to
                    // the queue when the connection closes; the inbox absorbs a redelivery.
                    let cancel =
                        channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default());
                    match tokio::time::timeout(STOP_STEP_TIMEOUT, cancel).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::debug!(%error, queue, "cancelling the consumer"),
                        Err(_) => tracing::warn!(queue, "no answer to cancelling the consumer"),
                    }
                    drain(&in_flight, queue).await;
                    let close = channel.close(200, "consumer stopped".into());
                    if tokio::time::timeout(STOP_STEP_TIMEOUT, close)
                        .await
                        .is_err()
                    {
                        tracing::warn!(queue, "no answer to closing the consumer's channel");
                    }
                    return Ok(());
                }
                tracing::warn!(
                    queue,
                    "consumer interrupted; waiting for the connection to be replaced"
                );
            }
            if !self.next_generation(generation, &shutdown).await {
                drain(&in_flight, queue).await;
                return Ok(());
            }
        }
    }

    /// A channel with its prefetch and a consumer on `queue`.
    async fn subscribe(
        &self,
        queue: &str,
        config: ConsumerConfig,
    ) -> Result<(lapin::Channel, String, lapin::Consumer), BusError> {
        let channel = self.channel().await?;
        channel
            .basic_qos(config.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("{queue}.{}", uuid::Uuid::now_v7());
        let deliveries = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok((channel, tag, deliveries))
    }
}

/// What the subscription loop hands each delivery to: the handler runtime of a work queue, or
/// the dead-letter runtime of a `.dlq` ([`crate::dead_letters`]).
pub(crate) trait Process: Send + Sync + 'static {
    fn queue(&self) -> &str;
    fn switch(&self) -> &KillSwitch;
    fn process(&self, delivery: Delivery) -> impl Future<Output = ()> + Send;
}

/// How long one step of stopping a consumer (cancel, close) may wait for the broker.
const STOP_STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stopping consumer waits for its handlers in flight to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits for the deliveries in flight to be handled and settled, up to [`DRAIN_TIMEOUT`].
async fn drain(in_flight: &TaskTracker, queue: &str) {
    in_flight.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, in_flight.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            queue,
            left = in_flight.len(),
            "deliveries still in flight when the consumer stopped; the broker redelivers them"
        );
    }
}

/// Takes deliveries until `shutdown` (true), or until the subscription ends with its
/// connection or the bus replaces the connection of `generation` (false).
async fn pump<P: Process>(
    runtime: &Arc<P>,
    bus: &Bus,
    deliveries: &mut lapin::Consumer,
    generation: u64,
    in_flight: &TaskTracker,
    shutdown: &CancellationToken,
) -> bool {
    let replaced = bus.next_generation(generation, shutdown);
    tokio::pin!(replaced);
    loop {
        if let Some(pause) = runtime.switch().pause_left() {
            tokio::select! {
                _ = shutdown.cancelled() => return true,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return true,
            // A connection that went silent never ends its stream: follow the bus instead.
            _ = &mut replaced => return shutdown.is_cancelled(),
            next = deliveries.next() => match next {
                // Half-open: while tripped, one delivery at a time decides whether to resume.
                Some(Ok(delivery)) if runtime.switch().is_tripped() => {
                    runtime.process(delivery).await;
                }
                Some(Ok(delivery)) => {
                    let runtime = runtime.clone();
                    in_flight.spawn(async move { runtime.process(delivery).await });
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, queue = %runtime.queue(), "consumer interrupted");
                    return false;
                }
                None => return false,
            },
        }
    }
}

struct Runtime<H> {
    queue: String,
    handler: Arc<H>,
    config: ConsumerConfig,
    /// Dead letters leave on the bus's publishing connection, never on the consuming one.
    bus: Arc<Bus>,
    retries: Arc<dyn RetryQueue>,
    switch: KillSwitch,
}

impl<H: Handler> Process for Runtime<H> {
    fn queue(&self) -> &str {
        &self.queue
    }

    fn switch(&self) -> &KillSwitch {
        &self.switch
    }

    async fn process(&self, delivery: Delivery) {
        self.process_delivery(delivery).await;
    }
}

impl<H: Handler> Runtime<H> {
    async fn process_delivery(&self, delivery: Delivery) {
        let table = delivery.properties.headers().as_ref();
        if headers::has(table, headers::DEAD_LETTER) {
            // Our own copy on its way out: let RabbitMQ dead-letter it (and add x-death).
            settle(delivery.acker.reject(BasicRejectOptions { requeue: false })).await;
            return;
        }
        let attempt = headers::int(table, headers::ATTEMPTS)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(1)
            .max(1);
        if delivery.data.len() > MAX_BODY_BYTES {
            count(&self.queue, "undecodable");
            let reason = format!(
                "body of {} bytes is over the limit of {MAX_BODY_BYTES} bytes",
                delivery.data.len()
            );
            tracing::warn!(queue = %self.queue, %reason, "message too large: dead-lettering");
            return self
                .dead_letter(delivery, attempt, "too-large", &reason)
                .await;
        }
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
        // Every log line of the handling carries these: the message, its tenant, its trace.
        let span = tracing::info_span!(
            "consume",
            queue = %self.queue,
            message_type = %envelope.kind,
            message_id = %envelope.id,
            tenant = tracing::field::Empty,
            trace_id = tracing::field::Empty,
            attempt,
        );
        if let Some(tenant) = envelope.tenant_id {
            span.record("tenant", tracing::field::display(tenant));
        }
        telemetry::propagation::set_parent_from(&span, &headers::strings(table));
        if let Some(trace_id) = telemetry::propagation::trace_id_of(&span) {
            span.record("trace_id", trace_id.as_str());
        }
        let incoming = Incoming {
            envelope: envelope.clone(),
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
                Outcome::Unavailable(_) => "unavailable",
            },
        );
        match outcome {
            Outcome::Done => {
                self.switch.reset();
                settle(delivery.acker.ack(BasicAckOptions::default())).await;
            }
            Outcome::Retry(reason) if attempt >= self.config.max_attempts => {
                tracing::warn!(queue = %self.queue, attempt, %reason, "attempts exhausted: dead-lettering");
                self.dead_letter(delivery, attempt, "retries-exhausted", &reason)
                    .await;
            }
            Outcome::Retry(reason) => {
                self.retry_later(delivery, &envelope, attempt, &reason)
                    .await;
            }
            Outcome::Reject(reason) => {
                tracing::warn!(queue = %self.queue, %reason, "rejected: dead-lettering");
                self.dead_letter(delivery, attempt, "rejected", &reason)
                    .await;
            }
            Outcome::Unavailable(reason) => self.put_back(delivery, &reason).await,
        }
    }

    async fn retry_later(
        &self,
        delivery: Delivery,
        envelope: &RawEnvelope,
        attempt: u32,
        reason: &str,
    ) {
        let failed_at = std::time::Instant::now();
        let table = delivery.properties.headers().as_ref();
        let previous = headers::int(table, headers::RETRY_DELAY_MS)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis);
        let delay = self.config.backoff.delay(attempt, previous);
        let mut kept = headers::strings(table);
        // RabbitMQ's own dead-lettering history is not ours to carry into a new publish.
        kept.retain(|name, _| {
            !name.starts_with("x-first-death-") && !name.starts_with("x-last-death-")
        });
        kept.insert(headers::ATTEMPTS.to_owned(), (attempt + 1).to_string());
        kept.insert(
            headers::RETRY_DELAY_MS.to_owned(),
            delay.as_millis().to_string(),
        );
        kept.insert(headers::ERROR.to_owned(), reason.to_owned());
        let message = Outgoing {
            exchange: String::new(),
            routing_key: String::new(),
            message_id: envelope.id.to_string(),
            kind: envelope.kind.clone(),
            correlation_id: envelope.correlation_id.map(|id| id.to_string()),
            body: delivery.data.clone(),
            headers: kept,
            mandatory: true,
        }
        .to_queue(&self.queue);
        tracing::debug!(queue = %self.queue, attempt, ?delay, %reason, "retrying later");
        let scheduled = self
            .retries
            .schedule(Retry {
                queue: self.queue.clone(),
                message,
                attempt: attempt + 1,
                delay,
                failed_at,
            })
            .await;
        match scheduled {
            Ok(()) => {
                self.switch.reset();
                settle(delivery.acker.ack(BasicAckOptions::default())).await;
            }
            Err(error) => {
                self.put_back(delivery, &format!("scheduling the retry: {error}"))
                    .await;
            }
        }
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
            .bus
            .publisher()
            .publish_raw("", &self.queue, &delivery.data, properties, true)
            .await;
        match moved {
            Ok(()) => settle(delivery.acker.ack(BasicAckOptions::default())).await,
            Err(error) => {
                self.put_back(delivery, &format!("moving a dead letter: {error}"))
                    .await;
            }
        }
    }

    /// Returns the delivery to the queue untouched (its attempt count unchanged) and trips the
    /// kill switch, so the consumer backs off instead of spinning on it.
    async fn put_back(&self, delivery: Delivery, reason: &str) {
        count(&self.queue, "put_back");
        self.switch.trip(reason);
        settle(delivery.acker.nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        }))
        .await;
    }
}

/// `summit_messages_total{queue, outcome}`: done, retried, exhausted, rejected, undecodable,
/// unavailable, put_back.
fn count(queue: &str, outcome: &'static str) {
    metrics::counter!("summit_messages_total", "queue" => queue.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// How long an ack, nack or reject may wait to be written to its connection.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends an acknowledgement. One that fails (the channel died) is not an error of ours: the
/// broker redelivers the message and the handler's inbox absorbs it. One that never completes
/// — a frame queued on a connection that a `kill -9` of the broker ended, which is then
/// never written — is given up after [`SETTLE_TIMEOUT`] for the same reason, so no delivery
/// task outlives its connection (a stopping consumer waits for them all).
pub(crate) async fn settle(acknowledgement: impl Future<Output = Result<bool, lapin::Error>>) {
    match tokio::time::timeout(SETTLE_TIMEOUT, acknowledgement).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::debug!(%error, "acknowledgement lost with its channel; the broker will redeliver");
        }
        Err(_) => tracing::warn!(
            "acknowledgement not written within {SETTLE_TIMEOUT:?}; the broker will redeliver"
        ),
    }
}
