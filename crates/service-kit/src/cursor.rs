//! Opaque page cursors: a small JSON value, hex-encoded, so clients pass them back unchanged
//! and never build one (the shape may change between releases).
//!
//! Invariant: [`decode`] accepts only what [`encode`] made for the same type (bounded length),
//! so a hand-made cursor is refused, never half-understood.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A cursor this API did not hand out (or not for this listing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor this API returned")]
pub struct InvalidCursor;

pub fn encode<T: Serialize>(value: &T) -> String {
    // A value of a plain data type serializes; an empty cursor would only fail to decode.
    crate::admin_key::hex(&serde_json::to_vec(value).unwrap_or_default())
}

pub fn decode<T: DeserializeOwned>(raw: &str) -> Result<T, InvalidCursor> {
    if raw.len() > 2048 {
        return Err(InvalidCursor);
    }
    let bytes = crate::admin_key::unhex(raw).ok_or(InvalidCursor)?;
    serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)
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
