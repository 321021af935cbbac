//! service-kit against real sockets, a real database and a real broker.

mod problem;
mod runtime;
