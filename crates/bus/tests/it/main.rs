//! Bus tests against the real RabbitMQ: each test declares the topology in a vhost of its own.

// Test helpers may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod dead_letters;
mod delivery;
mod failover;
mod harness;
mod tap;
mod tracing_context;
