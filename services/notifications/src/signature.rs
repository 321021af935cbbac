//! Standard Webhooks signing (<https://www.standardwebhooks.com>): a secret is `whsec_` plus
//! base64 of 32 random bytes; a delivery carries `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed with
//! the secret's decoded bytes. Several signatures are separated by spaces (during a rotation
//! both the new and the old secret sign).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const PREFIX: &str = "whsec_";

/// A fresh signing secret, `whsec_<base64 of 32 random bytes>`.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_…` secret.
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(secret.strip_prefix(PREFIX).unwrap_or(secret))
        .ok()
        .filter(|key| !key.is_empty())
}

/// `v1,<signature>` of one message under one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header value under every secret given (space-separated).
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_specifications_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let timestamp = 1_614_265_330;
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, timestamp, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_random_32_bytes() {
        let a = generate_secret();
        assert!(a.starts_with(PREFIX));
        assert_eq!(key_of(&a).unwrap().len(), 32);
        assert_ne!(a, generate_secret());
        assert_eq!(key_of("whsec_!!"), None);
    }

    #[test]
    fn rotation_signs_with_both_secrets() {
        let (new, old) = (generate_secret(), generate_secret());
        let value = header(&[&new, &old], "msg_1", 1, b"{}");
        let parts: Vec<&str> = value.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&new, "msg_1", 1, b"{}").unwrap());
        assert_eq!(parts[1], sign(&old, "msg_1", 1, b"{}").unwrap());
    }
}
