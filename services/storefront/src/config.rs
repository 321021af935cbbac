//! Settings from the environment, each with a default that works under `make run`.
//!
//! Invariant: secrets (the cookie key) are [`SecretString`]s, never printed by `Debug`.

use std::time::Duration;

use secrecy::SecretString;
use service_kit::config::{ConfigError, env_or};

/// A development-only cookie key (64 hex digits): `make run` and tests. Production sets
/// `COOKIE_KEY` from a secret store; the service warns at start when it runs on this one.
pub const DEVELOPMENT_COOKIE_KEY: &str =
    "5f0c2d6b8e1a4c7f9b3d5e2a1c8f7b6d4e3a2c1b0f9e8d7c6b5a4f3e2d1c0b9a";

#[derive(Debug, Clone)]
pub struct StorefrontConfig {
    /// `CATALOG_URL` (http://127.0.0.1:8081).
    pub catalog_url: String,
    /// `CHECKOUT_URL` (http://127.0.0.1:8082).
    pub checkout_url: String,
    /// `PAYMENTS_URL` (http://127.0.0.1:8083).
    pub payments_url: String,
    /// `NOTIFICATIONS_URL` (http://127.0.0.1:8084).
    pub notifications_url: String,
    /// `OPS_URL` (http://127.0.0.1:8085).
    pub ops_url: String,
    /// `BASE_DOMAIN` (summit.localhost): `<slug>.<BASE_DOMAIN>` is a store's temporary domain;
    /// the bare domain, `localhost` and IP addresses show the platform's own front page.
    pub base_domain: String,
    /// `GATEWAY_TOKENIZE_URL` (http://127.0.0.1:8090/core/v5): where the shopper's browser
    /// tokenizes the card (`POST <url>/tokens?appId=<public key>`), straight at the gateway.
    pub gateway_tokenize_url: String,
    /// `GATEWAY_PUBLIC_KEY` (`pk_summit_local`): the platform account's public key.
    pub gateway_public_key: String,
    /// `COOKIE_KEY`: 32 bytes as 64 hex digits sealing sessions, carts and CSRF tokens.
    pub cookie_key: SecretString,
    /// `COOKIE_SECURE` (false): mark cookies `Secure` even without `X-Forwarded-Proto: https`
    /// (which always does).
    pub cookie_secure: bool,
    /// `SESSION_TTL_S` (28 800, 8 h): a merchant's or operator's session expires then.
    pub session_ttl: Duration,
    /// `UPSTREAM_TIMEOUT_MS` (2 000): one call to a service.
    pub upstream_timeout: Duration,
    /// `FRESH_FOR_MS` (5 000): how long a read (store by host, search page, product) is served
    /// from memory without asking again.
    pub fresh_for: Duration,
    /// `STALE_FOR_S` (600): how long a copy may stand in for an answer while its service is
    /// down.
    pub stale_for: Duration,
}

impl StorefrontConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let key: String = env_or("COOKIE_KEY", DEVELOPMENT_COOKIE_KEY.to_owned())?;
        if key == DEVELOPMENT_COOKIE_KEY {
            tracing::warn!("COOKIE_KEY is not set: sealing cookies with the development key");
        }
        Ok(Self {
            catalog_url: env_or("CATALOG_URL", "http://127.0.0.1:8081".to_owned())?,
            checkout_url: env_or("CHECKOUT_URL", "http://127.0.0.1:8082".to_owned())?,
            payments_url: env_or("PAYMENTS_URL", "http://127.0.0.1:8083".to_owned())?,
            notifications_url: env_or("NOTIFICATIONS_URL", "http://127.0.0.1:8084".to_owned())?,
            ops_url: env_or("OPS_URL", "http://127.0.0.1:8085".to_owned())?,
            base_domain: env_or("BASE_DOMAIN", "summit.localhost".to_owned())?,
            gateway_tokenize_url: env_or(
                "GATEWAY_TOKENIZE_URL",
                "http://127.0.0.1:8090/core/v5".to_owned(),
            )?,
            gateway_public_key: env_or("GATEWAY_PUBLIC_KEY", "pk_summit_local".to_owned())?,
            cookie_key: key.into(),
            cookie_secure: env_or("COOKIE_SECURE", false)?,
            session_ttl: Duration::from_secs(env_or("SESSION_TTL_S", 28_800)?),
            upstream_timeout: Duration::from_millis(env_or("UPSTREAM_TIMEOUT_MS", 2_000)?),
            fresh_for: Duration::from_millis(env_or("FRESH_FOR_MS", 5_000)?),
            stale_for: Duration::from_secs(env_or("STALE_FOR_S", 600)?),
        })
    }

    /// The defaults, for tests that start the router in-process.
    pub fn local() -> Self {
        Self {
            catalog_url: "http://127.0.0.1:8081".into(),
            checkout_url: "http://127.0.0.1:8082".into(),
            payments_url: "http://127.0.0.1:8083".into(),
            notifications_url: "http://127.0.0.1:8084".into(),
            ops_url: "http://127.0.0.1:8085".into(),
            base_domain: "summit.localhost".into(),
            gateway_tokenize_url: "http://127.0.0.1:8090/core/v5".into(),
            gateway_public_key: "pk_summit_local".into(),
            cookie_key: DEVELOPMENT_COOKIE_KEY.to_owned().into(),
            cookie_secure: false,
            session_ttl: Duration::from_secs(28_800),
            upstream_timeout: Duration::from_secs(2),
            fresh_for: Duration::from_secs(5),
            stale_for: Duration::from_secs(600),
        }
    }
}
