//! The one error type of catalog's domain. Client mistakes say what is wrong and where;
//! database failures carry their cause. `http` turns each into a problem response, once.

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A field's value breaks a rule (422).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A unique value is already taken (409).
    #[error("{0}")]
    Conflict(String),
    /// Not there, or not this store's (404 either way, so ids cannot be probed).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Missing or unknown admin key (401).
    #[error("missing or invalid admin key")]
    Unauthorized,
    /// A body or upload over its cap (413).
    #[error("{0}")]
    TooLarge(String),
    /// An upload of a kind we do not take (415).
    #[error("{0}")]
    Unsupported(String),
    /// An Idempotency-Key already used for a different request (422).
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    /// A custom domain's challenge record is not (yet) what it must be (422).
    #[error("expected a TXT record {record} with the value {expected}; found {found}")]
    DomainNotVerified {
        record: String,
        expected: String,
        found: String,
    },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl CatalogError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The name of the unique constraint (or index) a write violated, if that is what failed.
pub(crate) fn unique_violation(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().unwrap_or_default().to_owned())
        }
        _ => None,
    }
}
