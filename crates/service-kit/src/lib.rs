//! The shape every Summit service shares, so each `main.rs` reads like a table of contents.
//!
//! - [`config`]: typed settings from the environment with defaults that work locally.
//! - [`database`]: a lazy pool (a service starts without its database) and migrations with retry.
//! - [`health`]: `/health/live` (the process answers) and `/health/ready` (migrations done and
//!   the database answering; named dependency checks, `required` or `degrading`, where a
//!   missing broker, Redis or peer makes the service `degraded`, still ready).
//! - [`problem`]: `application/problem+json` errors, and a JSON extractor whose rejections are
//!   problems too.
//! - [`http`]: the layers every service's HTTP edge wears: request ids, tracing, a timeout.
//! - [`metrics`]: Prometheus metrics at `/metrics`.
//! - [`outbox_status`]: `GET /outbox`, the outbox's backlog as JSON (and as gauges).
//! - [`idempotency`]: `Idempotency-Key` on HTTP writes, recorded with their effect.
//! - [`admin_key`]: merchant admin keys, kept and published only as SHA-256.
//! - [`cursor`]: opaque page cursors.
//! - [`tenant`]: the store-scoped transaction (row-level security) and the admin-key lookup.
//! - [`jobs`]: periodic jobs under an advisory lock, so one replica runs each at a time.
//! - [`listening`]: the line a service prints on stdout with the address it bound (`PORT=0`
//!   lets the system pick the port; tests read it back).
//! - [`runtime`]: the run loop — serve HTTP at once, then migrate, connect the bus, start the
//!   outbox relay and the consumers, report ready; on SIGINT/SIGTERM stop taking work, finish
//!   what is in flight, and exit.

pub mod admin_key;
pub mod config;
pub mod cursor;
pub mod database;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod jobs;
pub mod listening;
pub mod metrics;
pub mod outbox_status;
pub mod problem;
pub mod runtime;
pub mod tenant;

pub use config::ServiceConfig;
pub use health::{Check, Impact};
pub use jobs::{Job, JobError};
pub use listening::Listening;
pub use problem::{Problem, ProblemJson, ProblemQuery};
pub use runtime::{BusSlot, Consumer, Runtime, ServiceError};
