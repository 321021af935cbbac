//! Checkout's own settings, from the environment.

use std::time::Duration;

use service_kit::config::ConfigError;

#[derive(Debug, Clone)]
pub struct CheckoutConfig {
    /// How long an order may stay unpaid before the deadline job cancels it
    /// (`ORDER_PAYMENT_DEADLINE`: `30m`, `45s`, `2h` or plain seconds; 30 minutes by default).
    pub payment_deadline: Duration,
    /// How often the deadline job looks (`ORDER_DEADLINE_EVERY`, same format; 15 s).
    pub deadline_every: Duration,
    /// The largest order body taken (64 KiB).
    pub json_max_bytes: usize,
    /// Where catalog answers, for products the read model has not heard of yet
    /// (`CATALOG_URL`, `http://127.0.0.1:8081`).
    pub catalog_url: String,
    /// The longest one call to catalog may take (`CATALOG_TIMEOUT`, same format; 2 s).
    pub catalog_timeout: Duration,
}

impl Default for CheckoutConfig {
    fn default() -> Self {
        Self {
            payment_deadline: Duration::from_secs(30 * 60),
            deadline_every: Duration::from_secs(15),
            json_max_bytes: 64 * 1024,
            catalog_url: "http://127.0.0.1:8081".to_owned(),
            catalog_timeout: Duration::from_secs(2),
        }
    }
}

/// `30m`, `45s`, `2h`, `1800`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits.parse().ok()?;
    let seconds = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds)).filter(|d| !d.is_zero())
}

fn duration_env(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(raw) => parse_duration(&raw).ok_or_else(|| ConfigError {
            name: name.to_owned(),
            value: raw,
        }),
    }
}

impl CheckoutConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            payment_deadline: duration_env("ORDER_PAYMENT_DEADLINE", default.payment_deadline)?,
            deadline_every: duration_env("ORDER_DEADLINE_EVERY", default.deadline_every)?,
            catalog_url: std::env::var("CATALOG_URL").unwrap_or(default.catalog_url.clone()),
            catalog_timeout: duration_env("CATALOG_TIMEOUT", default.catalog_timeout)?,
            ..default
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("3d"), None);
    }
}
