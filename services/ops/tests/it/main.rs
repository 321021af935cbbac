//! Ops against real PostgreSQL (a database per test) and RabbitMQ (a vhost per test): real
//! messages dead-lettered by the bus's own consumer runtime, parked, browsed, retried.
#![allow(clippy::unwrap_used)]

mod archive;
mod edits;
mod failures;
mod helpers;
mod queues;
mod retries;
mod topology;
