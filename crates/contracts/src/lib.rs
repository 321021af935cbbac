//! The language services speak to each other.
//!
//! - [`envelope`]: the JSON wrapper every message travels in (id, type, version, tenant,
//!   correlation and causation ids, payload).
//! - [`catalog`], [`checkout`], [`payments`], [`notifications`]: each context's events and the
//!   commands it accepts, one serde struct per message, each tagged with its [`Contract`].
//! - [`message`]: the closed set of known messages and the decoding that turns an envelope into
//!   one of them or says why it cannot (malformed, unknown type, unsupported major version).
//!
//! Invariants: payloads never use `deny_unknown_fields` (a newer producer may add fields and
//! older consumers keep working); a breaking change bumps the major `version`, and consumers
//! dead-letter versions they do not know.

/// Implements [`Contract`] for a payload: `contract!(T, event "ctx.Name" on EXCHANGE)` or
/// `contract!(T, command "service.command")` (a command's type is its routing key).
macro_rules! contract {
    ($ty:ty, event $name:literal on $exchange:expr) => {
        impl $crate::message::Contract for $ty {
            const TYPE: &'static str = $name;
            const VERSION: u32 = 1;
            const DESTINATION: $crate::message::Destination = $crate::message::Destination::Event {
                exchange: $exchange,
            };
        }
    };
    ($ty:ty, command $key:literal) => {
        impl $crate::message::Contract for $ty {
            const TYPE: &'static str = $key;
            const VERSION: u32 = 1;
            const DESTINATION: $crate::message::Destination =
                $crate::message::Destination::Command { routing_key: $key };
        }
    };
}

pub mod catalog;
pub mod checkout;
pub mod envelope;
pub mod message;
pub mod notifications;
pub mod payments;

pub use envelope::{Envelope, RawEnvelope};
pub use message::{Contract, DecodeError, Destination, Message};

/// Exchange names of docs/design.md: one fanout exchange per publishing context.
pub mod exchanges {
    pub const CATALOG_EVENTS: &str = "catalog.events";
    pub const CHECKOUT_EVENTS: &str = "checkout.events";
    pub const PAYMENTS_EVENTS: &str = "payments.events";
    pub const NOTIFICATIONS_EVENTS: &str = "notifications.events";
    /// Every fanout event exchange.
    pub const EVENTS: [&str; 4] = [
        CATALOG_EVENTS,
        CHECKOUT_EVENTS,
        PAYMENTS_EVENTS,
        NOTIFICATIONS_EVENTS,
    ];
    /// The direct exchange for commands; routing key `<service>.<command>`.
    pub const COMMANDS: &str = "summit.commands";
    /// The direct exchange for dead letters; routing key = the work queue's name.
    pub const DEAD_LETTERS: &str = "summit.dlx";
}
