//! The tenant transaction: names its store in `app.store_id` (transaction-local), which the
//! row-level security policies compare every tenant row against. The setting dies with the
//! transaction, so a pooled connection never carries one store's identity into another's work.

pub use service_kit::tenant::begin_for;
