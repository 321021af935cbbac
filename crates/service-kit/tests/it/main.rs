//! service-kit against real sockets, a real database and a real broker.

mod jobs;
mod problem;
mod runtime;
