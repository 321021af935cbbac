//! Bus tests against the real RabbitMQ: each test declares the topology in a vhost of its own.

mod dead_letters;
mod delivery;
mod harness;
mod tap;
mod tracing_context;
