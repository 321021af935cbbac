//! The RabbitMQ backbone of Summit. Services and tests see [`Bus`], [`Publisher`],
//! [`Outgoing`], a [`Handler`] answering an [`Outcome`], and a [`RetryQueue`] — never lapin
//! types: lapin is an implementation detail of this crate.
//!
//! Layout:
//! - [`topology`]: the exchanges and queues of `docs/design.md`, and the declaration of a
//!   service's own work queues with their dead-letter queues.
//! - [`connection`]: [`Bus`], two named, self-recovering connections — one publishes, one
//!   consumes — so a broker that blocks publishers (memory or disk alarm) never stalls acks.
//! - [`publisher`]: confirmed, persistent publishes with a timeout on every confirm wait;
//!   commands are `mandatory` (unroutable is an error), events to a fanout with no subscriber
//!   are not.
//! - `confirms`: pairs each publisher confirm and `basic.return` with the publish it belongs
//!   to (lapin pairs them by arrival, which misreads out-of-order confirms).
//! - [`consumer`]: the consumer runtime — manual acks, bounded prefetch, retries handed to a
//!   [`RetryQueue`] (the service's own database), dead letters with the reason, and a kill
//!   switch that pauses consumption while the service's own infrastructure is away.
//! - [`inspect`]: reading queues without consuming them, for operators and tests.
//! - [`headers`]: the AMQP header names Summit writes and how they are read back.

mod confirms;
pub mod connection;
pub mod consumer;
pub mod dead_letters;
pub mod headers;
pub mod inspect;
mod kill_switch;
pub mod publisher;
mod queue_depth;
pub mod retry;
pub mod tap;
pub mod topology;

pub use connection::{Bus, BusConfig};
pub use consumer::{ConsumerConfig, Handler, Incoming, Outcome};
pub use dead_letters::{DeadLetter, DeadLetterHandler};
pub use inspect::{Peeked, QueueStats};
pub use publisher::{Outgoing, PublishError, Publisher};
pub use retry::{Retry, RetryQueue, ScheduleError};
pub use topology::{Binding, QueueSpec, Topology};

/// A failure of the AMQP client or the broker. Opaque on purpose: callers decide on the kind
/// of failure (retry later, report not-ready), never on lapin's error variants.
#[derive(Debug)]
pub struct BrokerError(lapin::Error);

impl std::fmt::Display for BrokerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<lapin::Error> for BrokerError {
    fn from(error: lapin::Error) -> Self {
        Self(error)
    }
}

/// Everything that can go wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl From<lapin::Error> for BusError {
    fn from(error: lapin::Error) -> Self {
        Self::Broker(BrokerError(error))
    }
}
