//! Integration tests: each policy against a real HTTP server on a free loopback port
//! (in-process axum, real sockets), driven by a real reqwest client. One binary on purpose:
//! one link step for all of them.

// Test helpers may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

mod breaker;
mod budget;
mod bulkhead;
mod fallback;
mod policy;
mod retry;
mod timeout;
