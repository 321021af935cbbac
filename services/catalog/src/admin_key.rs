//! Admin keys: the shared [`service_kit::admin_key`] (256 random bits, only the SHA-256 kept).

pub use service_kit::admin_key::*;
