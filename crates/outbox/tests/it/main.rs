//! Outbox, relay and inbox against real Postgres (a database per test) and RabbitMQ (a vhost
//! per test).

// Test helpers may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod faults;
mod harness;
mod inbox;
mod recovery;
mod relay;
mod retries;
mod status;
