//! The RabbitMQ backbone of Summit. Services see `Bus`, `Publisher`, `Outgoing`, a
//! [`Handler`] answering an [`Outcome`] — never lapin types.
//!
//! Layout:
//! - [`topology`]: the exchanges and queues of design.md, and the declaration of a service's own
//!   work queues with their dead-letter queues.
//! - [`delay`]: the retry delay ladder — fixed-TTL queues of power-of-two delays that a message
//!   walks through, so expiry order always equals arrival order and jitter survives the broker.
//! - [`connection`]: [`Bus`], a named, self-recovering connection that declares the topology.
//! - [`publisher`]: confirmed, persistent, mandatory publishes, one at a time or pipelined.
//! - [`consumer`]: the consumer runtime — manual acks, bounded prefetch, retries through the
//!   ladder with capped exponential backoff and jitter, dead letters with the reason.
//! - [`headers`]: the AMQP header names Summit writes and how they are read back.

pub mod connection;
pub mod consumer;
pub mod dead_letters;
pub mod delay;
pub mod headers;
pub mod publisher;
pub mod tap;
pub mod topology;

pub use connection::{Bus, BusConfig};
pub use consumer::{ConsumerConfig, Handler, Incoming, Outcome};
pub use dead_letters::DeadLetter;
pub use publisher::{Outgoing, PublishError, Publisher};
pub use topology::{Binding, QueueSpec, Topology};

/// Everything that can go wrong talking to the broker.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker: {0}")]
    Amqp(#[from] lapin::Error),
    #[error(transparent)]
    Publish(#[from] PublishError),
}
