//! Notifications against real PostgreSQL (a database per test), RabbitMQ (a vhost per test),
//! the maildev SMTP sink (mail read back over its HTTP API, an address per test) and webhook
//! receivers that are real HTTP servers of each test's own.
#![allow(clippy::unwrap_used)]

mod admin;
mod emails;
mod helpers;
mod lease;
mod record_after_send;
mod smtp_down;
mod webhooks;
