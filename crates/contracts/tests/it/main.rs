//! Contract tests: every message type round-trips its JSON fixture, and decoding refuses what
//! it cannot understand with the reason a dead letter will carry.

mod decode;
mod fixtures;
