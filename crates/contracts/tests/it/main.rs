//! Contract tests: every message type round-trips its JSON fixture, and decoding refuses what
//! it cannot understand with the reason a dead letter will carry.

// Test helpers may unwrap: a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod decode;
mod fixtures;
