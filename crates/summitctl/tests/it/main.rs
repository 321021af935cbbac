//! `summitctl` against a real ops API (in-process, on this test's database and vhost): the
//! binary itself is run, its output and exit codes read.
#![allow(clippy::unwrap_used)]

mod failures;
mod harness;
mod operating;
mod outbox;
mod queues;
