//! Sealed cookies: merchants' and operators' sessions, the shopper's cart and the CSRF token.
//!
//! Each value is JSON sealed with ChaCha20-Poly1305 (`COOKIE_KEY`): `base64url(nonce ‖
//! ciphertext ‖ tag)`, a fresh random nonce per seal, the cookie's name as associated data (a
//! cart cookie never opens as a session). So a cookie is both secret (an admin key inside one
//! is not readable in the browser) and signed (changed or forged, it does not open).
//!
//! Invariants:
//! - Every cookie is host-only (no `Domain`: one store's cookies never reach another store's
//!   host), `Path=/`, `HttpOnly`, `SameSite=Lax`, and `Secure` when the visitor came over TLS
//!   (`X-Forwarded-Proto: https`) or `COOKIE_SECURE=true`.
//! - Sessions carry their expiry inside the sealed value; an expired one opens as nothing.
//! - Every form carries the CSRF token of the visitor's `sf_csrf` cookie; a POST whose form
//!   token is missing or differs is refused (403) before it does anything.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub const ADMIN_SESSION: &str = "sf_admin";
pub const OPS_SESSION: &str = "sf_ops";
pub const CART: &str = "sf_cart";
pub const CSRF: &str = "sf_csrf";

#[derive(Debug, thiserror::Error)]
#[error("COOKIE_KEY must be 32 bytes as 64 hex digits")]
pub struct KeyError;

/// Seals and opens cookie values.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer { key: [REDACTED] }")
    }
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Sealer {
    pub fn new(key: &SecretString) -> Result<Self, KeyError> {
        let bytes = from_hex(key.expose_secret())
            .filter(|b| b.len() == 32)
            .ok_or(KeyError)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| KeyError)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    pub fn seal<T: Serialize>(&self, name: &str, value: &T) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = serde_json::to_vec(value).expect("cookie values serialize");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .expect("a cookie value is far below ChaCha20-Poly1305's limit");
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    pub fn open<T: DeserializeOwned>(&self, name: &str, text: &str) -> Option<T> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let clear = self
            .key
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut buffer)
            .ok()?;
        serde_json::from_slice(clear).ok()
    }
}

/// The request's cookies by name (the first of a repeated name wins).
pub fn jar(headers: &HeaderMap) -> HashMap<String, String> {
    let mut jar = HashMap::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                jar.entry(name.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
    }
    jar
}

/// Whether the visitor reached us over TLS (a proxy terminating it says so).
pub fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value with Summit's flags; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie values are base64url and names are ASCII")
}

/// The visitor's CSRF token, put in the request's extensions by [`csrf_layer`].
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

#[derive(serde::Serialize, serde::Deserialize)]
struct CsrfCookie {
    token: String,
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Middleware: makes sure the visitor has a CSRF token (a new one in a new cookie if not),
/// available to handlers as [`CsrfToken`].
pub async fn csrf_layer(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = jar(request.headers())
        .get(CSRF)
        .and_then(|v| state.sealer.open::<CsrfCookie>(CSRF, v))
        .map(|c| c.token);
    let secure = state.config.cookie_secure || over_tls(request.headers());
    let (token, fresh) = match existing {
        Some(token) => (token, false),
        None => (random_token(), true),
    };
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if fresh {
        let sealed = state.sealer.seal(CSRF, &CsrfCookie { token });
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(CSRF, &sealed, 60 * 60 * 24, secure),
        );
    }
    response
}

/// Constant-time equality of the form's token and the cookie's.
pub fn same_token(expected: &CsrfToken, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    let (a, b) = (expected.0.as_bytes(), presented.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&SecretString::from(
            crate::config::DEVELOPMENT_COOKIE_KEY.to_owned(),
        ))
        .unwrap()
    }

    #[test]
    fn a_sealed_value_opens_only_under_its_own_name_and_unchanged() {
        let sealer = sealer();
        let sealed = sealer.seal(CART, &vec![1, 2, 3]);
        assert_eq!(sealer.open::<Vec<i32>>(CART, &sealed), Some(vec![1, 2, 3]));
        assert_eq!(
            sealer.open::<Vec<i32>>(ADMIN_SESSION, &sealed),
            None,
            "a cart cookie is no session"
        );
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            sealer.open::<Vec<i32>>(CART, &URL_SAFE_NO_PAD.encode(bytes)),
            None,
            "a changed cookie does not open"
        );
        assert!(!sealed.contains("1,2,3"), "the value is not readable");
    }

    #[test]
    fn keys_must_be_64_hex_digits_and_never_print() {
        assert!(Sealer::new(&SecretString::from("ab".repeat(16))).is_err());
        assert!(Sealer::new(&SecretString::from("zz".repeat(32))).is_err());
        assert_eq!(format!("{:?}", sealer()), "Sealer { key: [REDACTED] }");
    }

    #[test]
    fn reads_cookies_and_compares_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        let jar = jar(&headers);
        assert_eq!(jar.get("b").map(String::as_str), Some("2"));
        let token = CsrfToken("abc".into());
        assert!(same_token(&token, Some("abc")));
        assert!(!same_token(&token, Some("abd")));
        assert!(!same_token(&token, None));
        let cookie = set_cookie("x", "v", 10, true);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert!(cookie.contains("Secure"));
    }
}
