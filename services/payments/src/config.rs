//! Payments' own settings, from the environment. The secret key is a [`SecretString`]: a
//! startup log or a panic message shows `[REDACTED]`.

use std::time::Duration;

use resilience::{Backoff, BreakerConfig, BulkheadConfig, Policy, RetryConfig, Window};
use secrecy::SecretString;
use service_kit::config::ConfigError;

#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// The platform's pagar.me account (`PAGARME_BASE_URL`; the local simulator by default).
    pub pagarme_base_url: String,
    /// `PAGARME_SECRET_KEY` (`sk_…`); the simulator accepts any `sk_` key.
    pub pagarme_secret_key: SecretString,
    /// Where stores with their own Stripe account are charged (`STRIPE_BASE_URL`;
    /// `https://api.stripe.com` in production, the local simulator by default).
    pub stripe_base_url: String,
    /// The key sealing stores' gateway secrets (`GATEWAY_SETTINGS_KEY`, 32 bytes as 64 hex digits
    /// or base64; the public development key of [`crate::settings::DEVELOPMENT_KEY`] when unset).
    pub gateway_settings_key: SecretString,
    /// One gateway call's limit (`GATEWAY_TIMEOUT_MS`; 5 s).
    pub timeout: Duration,
    /// Calls per charge, the first included (`GATEWAY_ATTEMPTS`; 3).
    pub attempts: u32,
    /// The retry backoff's first ceiling; full jitter, capped at 2 s.
    pub backoff_base: Duration,
    /// How long an open circuit stays open before trial calls (`GATEWAY_BREAKER_OPEN_MS`; 10 s).
    pub breaker_open_for: Duration,
    /// How often the settle job asks the gateway about unsettled payments
    /// (`PAYMENTS_SETTLE_EVERY_MS`; 10 s).
    pub settle_every: Duration,
    /// A `processing` payment younger than this is left to the call in flight
    /// (`PAYMENTS_SETTLE_AFTER_MS`; 30 s).
    pub settle_after: Duration,
    /// Keys that sealed stores' secrets before `gateway_settings_key`
    /// (`GATEWAY_SETTINGS_PREVIOUS_KEYS`, comma-separated, same format; none when unset): rows
    /// sealed under one are still opened, and re-sealed under the current key.
    pub gateway_settings_previous_keys: Option<SecretString>,
    /// Where the shared rate limit lives (`REDIS_URL`; local Redis by default).
    pub redis_url: String,
    /// Gateway calls per second for the whole account, across processes
    /// (`GATEWAY_RATE_LIMIT_PER_S`; 50).
    pub rate_limit_per_s: u32,
    /// The Redis keys of the shared limits start with this (`GATEWAY_RATE_LIMIT_PREFIX`;
    /// `payments:ratelimit`): every process of one deployment must share it; a test or a
    /// second deployment on the same Redis takes its own.
    pub rate_limit_prefix: String,
    /// How many payments processes share it; Redis away, each takes 1/replicas
    /// (`PAYMENTS_REPLICAS`; 3).
    pub replicas: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        Self {
            pagarme_base_url: format!("http://127.0.0.1:{}/core/v5", crate::sim::PORT),
            pagarme_secret_key: SecretString::from("sk_test_summit_local".to_owned()),
            stripe_base_url: format!("http://127.0.0.1:{}", crate::sim::PORT),
            gateway_settings_key: SecretString::from(crate::settings::DEVELOPMENT_KEY.to_owned()),
            gateway_settings_previous_keys: None,
            timeout: Duration::from_secs(5),
            attempts: 3,
            backoff_base: Duration::from_millis(100),
            breaker_open_for: Duration::from_secs(10),
            settle_every: Duration::from_secs(10),
            settle_after: Duration::from_secs(30),
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            rate_limit_per_s: 50,
            rate_limit_prefix: "payments:ratelimit".to_owned(),
            replicas: 3,
        }
    }
}

fn env_ms(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .ok_or(ConfigError {
                name: name.to_owned(),
                value: raw,
            }),
    }
}

fn env_count(name: &str, default: u32) -> Result<u32, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(raw) => raw
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(ConfigError {
                name: name.to_owned(),
                value: raw,
            }),
    }
}

impl PaymentsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        let attempts = env_count("GATEWAY_ATTEMPTS", default.attempts)?;
        Ok(Self {
            pagarme_base_url: std::env::var("PAGARME_BASE_URL")
                .unwrap_or(default.pagarme_base_url.clone()),
            pagarme_secret_key: std::env::var("PAGARME_SECRET_KEY")
                .map(SecretString::from)
                .unwrap_or(default.pagarme_secret_key.clone()),
            stripe_base_url: std::env::var("STRIPE_BASE_URL")
                .unwrap_or(default.stripe_base_url.clone()),
            gateway_settings_key: std::env::var("GATEWAY_SETTINGS_KEY")
                .map(SecretString::from)
                .unwrap_or(default.gateway_settings_key.clone()),
            gateway_settings_previous_keys: std::env::var("GATEWAY_SETTINGS_PREVIOUS_KEYS")
                .ok()
                .filter(|keys| !keys.trim().is_empty())
                .map(SecretString::from),
            timeout: env_ms("GATEWAY_TIMEOUT_MS", default.timeout)?,
            attempts,
            settle_every: env_ms("PAYMENTS_SETTLE_EVERY_MS", default.settle_every)?,
            settle_after: env_ms("PAYMENTS_SETTLE_AFTER_MS", default.settle_after)?,
            breaker_open_for: env_ms("GATEWAY_BREAKER_OPEN_MS", default.breaker_open_for)?,
            redis_url: std::env::var("REDIS_URL").unwrap_or(default.redis_url.clone()),
            rate_limit_per_s: env_count("GATEWAY_RATE_LIMIT_PER_S", default.rate_limit_per_s)?,
            rate_limit_prefix: std::env::var("GATEWAY_RATE_LIMIT_PREFIX")
                .unwrap_or(default.rate_limit_prefix.clone()),
            replicas: env_count("PAYMENTS_REPLICAS", default.replicas)?,
            ..default
        })
    }

    /// The one composed policy around the gateway account: retry with full-jitter backoff on
    /// transient errors (honouring `Retry-After`) → circuit breaker → bulkhead → timeout.
    pub fn policy(&self, name: &str) -> Policy {
        Policy::builder(name)
            .retry(RetryConfig {
                max_attempts: self.attempts,
                max_elapsed: self.timeout * (self.attempts + 1),
                backoff: Backoff::new(self.backoff_base, Duration::from_secs(2)),
            })
            .breaker(BreakerConfig {
                failure_rate: 0.5,
                window: Window::Count(20),
                min_calls: 10,
                consecutive_failures: 5,
                open_for: self.breaker_open_for,
                half_open_calls: 1,
            })
            .bulkhead(BulkheadConfig::default())
            .timeout(self.timeout)
            .build()
    }
}

#[cfg(test)]
mod tests {
    const SOURCES: [&str; 2] = [
        include_str!("config.rs"),
        include_str!("bin/gateway_sim.rs"),
    ];
    const DOCS: &str = include_str!("../../../docs/payments.md");

    /// The quoted words that look like environment variables (upper case with underscores).
    fn variables_read() -> Vec<&'static str> {
        let mut read: Vec<&str> = SOURCES
            .iter()
            .flat_map(|source| source.split(char::from(34)).skip(1).step_by(2))
            .filter(|word| {
                word.len() > 3
                    && word.contains('_')
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        read.sort_unstable();
        read.dedup();
        read
    }

    #[test]
    fn the_docs_name_every_variable_payments_reads() {
        let read = variables_read();
        assert!(read.contains(&"GATEWAY_SETTINGS_KEY") && read.contains(&"STRIPE_BASE_URL"));
        assert_eq!(read.len(), 15, "{read:?}");
        for name in read {
            let named = format!("`{name}`");
            assert!(DOCS.contains(&named), "docs/payments.md names {name}");
        }
    }
}
