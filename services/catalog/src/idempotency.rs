//! `Idempotency-Key` on HTTP writes: the shared [`service_kit::idempotency`], with its errors
//! mapped into catalog's one error type.

pub use service_kit::idempotency::*;

use crate::CatalogError;
use crate::http::ApiError;

impl From<IdempotencyError> for CatalogError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::InvalidKey(message) => Self::invalid("Idempotency-Key", message),
            IdempotencyError::Reused => Self::IdempotencyKeyReused,
            IdempotencyError::InProgress => Self::Conflict(error.to_string()),
            IdempotencyError::Database(error) => Self::Database(error),
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(error: IdempotencyError) -> Self {
        CatalogError::from(error).into()
    }
}
