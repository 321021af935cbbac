//! Opaque page cursors: the shared [`service_kit::cursor`], refusals as catalog's error.

use serde::de::DeserializeOwned;

pub use service_kit::cursor::encode;

use crate::CatalogError;

/// The error for a cursor this API did not hand out (or not for this listing).
pub fn invalid() -> CatalogError {
    CatalogError::invalid("cursor", service_kit::cursor::InvalidCursor.to_string())
}

pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, CatalogError> {
    service_kit::cursor::decode(raw).map_err(|_| invalid())
}
