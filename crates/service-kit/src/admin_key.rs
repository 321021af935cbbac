//! Admin keys: 256 random bits shown to the merchant once; only their SHA-256 is stored and
//! published. A hash (not a password KDF) is enough for a key this random, and it keeps the
//! lookup a single indexed equality — and lets every service check a key from the hash alone
//! (catalog issues keys; checkout authenticates merchants against the hash catalog's
//! StoreCreated/StoreUpdated carry).
//!
//! Invariant: a key is never logged or printed — [`AdminKey`] is deliberately not `Debug`, and
//! [`verify`] compares hashes, never keys.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Keys start with this, so a leaked one is recognizable by secret scanners.
pub const PREFIX: &str = "sk_";

/// A freshly generated key. Deliberately not `Debug`, so it cannot end up in a log line.
pub struct AdminKey(String);

impl AdminKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{PREFIX}{}", hex(&bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash(&self.0)
    }
}

/// SHA-256 of a key, lowercase hex: what catalog's `stores.admin_key_hash` and its events hold.
pub fn hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Whether `key` (as presented in `Authorization: Bearer`) is the key behind `stored_hash`.
/// Compares the hashes in constant time, so timing says nothing about how much matched.
pub fn verify(key: &str, stored_hash: &str) -> bool {
    let presented = hash(key);
    presented.len() == stored_hash.len()
        && presented
            .bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The key of an `Authorization: Bearer <key>` header value, if that is what it is.
pub fn from_bearer(header: &str) -> Option<&str> {
    header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The bytes of lowercase or uppercase hex, two digits a byte; `None` if `raw` is not that
/// (a sign, which `from_str_radix` would take, included). The one decoder of [`hex`]'s output:
/// admin keys, cursors, sealed idempotent responses.
pub fn unhex(raw: &str) -> Option<Vec<u8>> {
    if !raw.len().is_multiple_of(2) || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    raw.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhex_reverses_hex_and_refuses_what_is_not_hex() {
        let bytes = [0u8, 1, 0x7f, 0x80, 0xab, 0xff];
        assert_eq!(unhex(&hex(&bytes)), Some(bytes.to_vec()));
        assert_eq!(unhex("ABff"), Some(vec![0xab, 0xff]));
        assert_eq!(unhex(""), Some(Vec::new()));
        for bad in ["abc", "zz", "+1", "é0", "0é"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let a = AdminKey::generate();
        let b = AdminKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(a.expose().len(), PREFIX.len() + 64);
        assert_eq!(a.hash(), hash(a.expose()));
        assert_ne!(a.hash(), a.expose());
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn verify_matches_only_the_key_behind_the_hash() {
        let key = AdminKey::generate();
        assert!(verify(key.expose(), &key.hash()));
        assert!(!verify(AdminKey::generate().expose(), &key.hash()));
        assert!(!verify(key.expose(), ""));
        assert!(!verify(key.expose(), &key.hash()[1..]));
    }

    #[test]
    fn bearer_headers_are_parsed() {
        assert_eq!(from_bearer("Bearer sk_1"), Some("sk_1"));
        assert_eq!(from_bearer("bearer  sk_1 "), Some("sk_1"));
        assert_eq!(from_bearer("Basic sk_1"), None);
        assert_eq!(from_bearer("Bearer "), None);
        assert_eq!(from_bearer("sk_1"), None);
    }
}
