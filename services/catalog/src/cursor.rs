//! Opaque page cursors: a small JSON value, hex-encoded, so clients pass them back unchanged
//! and never build one (the shape may change between releases).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::CatalogError;

pub fn encode<T: Serialize>(value: &T) -> String {
    crate::admin_key::hex(&serde_json::to_vec(value).expect("cursors serialize"))
}

/// The error for a cursor this API did not hand out (or not for this listing).
pub fn invalid() -> CatalogError {
    CatalogError::invalid("cursor", "is not a cursor this API returned")
}

pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, CatalogError> {
    if raw.len() > 2048 {
        return Err(invalid());
    }
    let bytes = crate::admin_key::unhex(raw).ok_or_else(invalid)?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let c = encode(&("café", 3));
        assert_eq!(decode::<(String, i32)>(&c).unwrap(), ("café".to_owned(), 3));
        assert!(decode::<(String, i32)>("zz").is_err());
        assert!(decode::<(String, i32)>("abc").is_err());
        assert!(decode::<(String, i32)>(&encode(&"x")).is_err());
    }
}
