//! Checkout against real Postgres (a database per test) and RabbitMQ (a vhost per test).

mod broker;
mod helpers;
mod orders;
mod read_model;
mod saga;
