//! Payments against the gateway simulator (in-process, port 0, over real HTTP), real Postgres
//! (a database per test) and RabbitMQ (a vhost per test).

mod admin;
mod broker;
mod charges;
mod drill;
mod gateway;
mod helpers;
mod ratelimit;
mod settings;
mod stripe;
