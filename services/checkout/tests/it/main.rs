//! Checkout against real Postgres (a database per test) and RabbitMQ (a vhost per test).

mod broker;
mod catalog_fallback;
mod helpers;
mod orders;
mod read_model;
mod saga;
