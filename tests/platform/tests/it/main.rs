//! The platform as operators see it: real binaries, real servers.

mod startup;
mod stock_flow;
