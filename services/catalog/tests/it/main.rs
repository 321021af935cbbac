//! Catalog against real Postgres (a database per test) and RabbitMQ (a vhost per test).

mod dns;
mod domains;
mod helpers;
mod idempotency;
mod isolation;
mod openapi;
mod products;
mod search;
mod stock;
mod stores;
