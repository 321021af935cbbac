//! The broker topology of `docs/design.md`.
//!
//! Shared by everyone (declared idempotently by every service): one durable fanout exchange per
//! publishing context (`<context>.events`), the `summit.commands` direct exchange and the
//! `summit.dlx` direct exchange for dead letters. There is no broker-side delay: retries wait in
//! the consuming service's database (see [`crate::retry`]) and return by the default exchange.
//!
//! Owned by a consumer: its work queues `<consumer>.<source>` — quorum, durable, dead-lettering
//! at-least-once (which needs `x-overflow: reject-publish`) to `summit.dlx` with the queue's own
//! name as routing key — each with a durable `<queue>.dlq` bound under that key.

use contracts::exchanges;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// A binding of a work queue to an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub exchange: String,
    pub routing_key: String,
}

/// A work queue a service consumes, and where its messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub bindings: Vec<Binding>,
}

impl QueueSpec {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            bindings: Vec::new(),
        }
    }

    /// Receives every event of a context's fanout exchange.
    pub fn events_from(mut self, exchange: &str) -> Self {
        self.bindings.push(Binding {
            exchange: exchange.to_owned(),
            routing_key: String::new(),
        });
        self
    }

    /// Receives the commands routed under `routing_key` on `summit.commands`.
    pub fn command(mut self, routing_key: &str) -> Self {
        self.bindings.push(Binding {
            exchange: exchanges::COMMANDS.to_owned(),
            routing_key: routing_key.to_owned(),
        });
        self
    }

    /// The name of this queue's dead-letter queue.
    pub fn dead_letter_queue(&self) -> String {
        dead_letter_queue(&self.name)
    }
}

pub fn dead_letter_queue(queue: &str) -> String {
    format!("{queue}.dlq")
}

/// A service's queues. The shared exchanges are always declared alongside.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub queues: Vec<QueueSpec>,
}

impl Topology {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn queue(mut self, queue: QueueSpec) -> Self {
        self.queues.push(queue);
        self
    }

    /// Declares the shared exchanges, the delay ladder and this service's queues.
    pub(crate) async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        declare_shared(channel).await?;
        for queue in &self.queues {
            declare_work_queue(channel, queue).await?;
        }
        Ok(())
    }
}

fn durable() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

/// Quorum queue arguments with at-least-once dead-lettering to `exchange` under `routing_key`.
fn quorum_dead_lettering_to(exchange: &str, routing_key: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(exchange.into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(routing_key.into()),
    );
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    args
}

async fn declare_shared(channel: &Channel) -> Result<(), lapin::Error> {
    for exchange in exchanges::EVENTS {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Fanout,
                durable(),
                FieldTable::default(),
            )
            .await?;
    }
    for exchange in [exchanges::COMMANDS, exchanges::DEAD_LETTERS] {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Direct,
                durable(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}

async fn declare_work_queue(channel: &Channel, queue: &QueueSpec) -> Result<(), lapin::Error> {
    let dlq = queue.dead_letter_queue();
    let mut dlq_args = FieldTable::default();
    dlq_args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(dlq.as_str().into(), durable_queue(), dlq_args)
        .await?;
    channel
        .queue_bind(
            dlq.as_str().into(),
            exchanges::DEAD_LETTERS.into(),
            queue.name.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let args = quorum_dead_lettering_to(exchanges::DEAD_LETTERS, &queue.name);
    channel
        .queue_declare(queue.name.as_str().into(), durable_queue(), args)
        .await?;
    for binding in &queue.bindings {
        channel
            .queue_bind(
                queue.name.as_str().into(),
                binding.exchange.as_str().into(),
                binding.routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    Ok(())
}
