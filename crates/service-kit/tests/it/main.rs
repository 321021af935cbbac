//! service-kit against real sockets, a real database and a real broker.

mod health;
mod jobs;
mod problem;
mod runtime;
