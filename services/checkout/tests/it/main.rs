//! Checkout against real Postgres (a database per test) and RabbitMQ (a vhost per test).
