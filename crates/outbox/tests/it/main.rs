//! Outbox, relay and inbox against real Postgres (a database per test) and RabbitMQ (a vhost
//! per test).

mod faults;
mod harness;
mod inbox;
mod recovery;
mod relay;
mod retries;
