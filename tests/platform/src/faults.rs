//! The links of the platform a drill can put a fault on, and the faults.
//!
//! Every link a service has — to Postgres, to RabbitMQ, to Redis (payments), to the gateway
//! (payments) and to catalog (checkout's fallback lookups) — runs through a
//! [`testkit::FaultProxy`] of its own from the start, in `Pass` mode, so a drill switches a
//! fault on and off mid-flow without restarting anything: [`crate::platform::Platform::fault`].
//! The gateway's own misbehaviour (an outage answering 503, 429 with `Retry-After`, latency)
//! is the simulator's fault controls instead: [`crate::platform::Platform::sim_faults`].

pub use testkit::FaultMode as Mode;

/// One of the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Svc {
    Catalog,
    Checkout,
    Payments,
    Notifications,
}

impl Svc {
    pub const ALL: [Svc; 4] = [
        Svc::Catalog,
        Svc::Checkout,
        Svc::Payments,
        Svc::Notifications,
    ];

    /// The binary's (and database's) name.
    pub fn name(self) -> &'static str {
        match self {
            Svc::Catalog => "catalog",
            Svc::Checkout => "checkout",
            Svc::Payments => "payments",
            Svc::Notifications => "notifications",
        }
    }

    /// The links this service has, each behind a proxy of its own.
    pub fn links(self) -> &'static [Link] {
        match self {
            Svc::Catalog | Svc::Notifications => &[Link::Postgres, Link::Broker],
            Svc::Checkout => &[Link::Postgres, Link::Broker, Link::Catalog],
            Svc::Payments => &[Link::Postgres, Link::Broker, Link::Redis, Link::Gateway],
        }
    }

    /// The work queues it consumes (each with a `.dlq`).
    pub fn queues(self) -> &'static [&'static str] {
        match self {
            Svc::Catalog => &["catalog.commands"],
            Svc::Checkout => &["checkout.catalog-events", "checkout.payments-events"],
            Svc::Payments => &["payments.commands", "payments.catalog-events"],
            Svc::Notifications => &[
                "notifications.checkout-events",
                "notifications.payments-events",
                "notifications.catalog-events",
                "notifications.send-email",
                "notifications.send-webhook",
            ],
        }
    }
}

impl std::fmt::Display for Svc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a service talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    Postgres,
    Broker,
    Redis,
    Gateway,
    /// Checkout's lookups of products its read model has not heard of.
    Catalog,
}
