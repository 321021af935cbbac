//! The one error type of checkout's domain. Client mistakes say what is wrong and where;
//! database failures carry their cause. [`http`](crate::http) maps each to a problem, once.

use service_kit::idempotency::IdempotencyError;

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// A field's value breaks a rule (422), named like `lines[2].quantity`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Malformed request (400), e.g. no `Idempotency-Key`.
    #[error("{0}")]
    BadRequest(String),
    /// Not there, or not this store's, or the wrong token (404 either way).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Missing or unknown admin key (401).
    #[error("missing or invalid admin key")]
    Unauthorized,
    /// A request with this Idempotency-Key is still in progress (409).
    #[error("{0}")]
    Conflict(String),
    /// An Idempotency-Key already used for a different request (422).
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// Catalog had to be asked about a product and could not answer (503 + Retry-After).
    #[error(transparent)]
    CatalogUnavailable(#[from] crate::catalog::Unavailable),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl CheckoutError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<IdempotencyError> for CheckoutError {
    fn from(error: IdempotencyError) -> Self {
        match error {
            IdempotencyError::InvalidKey(message) => Self::invalid("Idempotency-Key", message),
            IdempotencyError::Reused => Self::IdempotencyKeyReused,
            IdempotencyError::InProgress => Self::Conflict(error.to_string()),
            IdempotencyError::Database(error) => Self::Database(error),
        }
    }
}
