//! Notifications' own settings, from the environment (each with a local default).

use std::time::Duration;

use resilience::{Backoff, BreakerConfig, Jitter, Window};
use service_kit::config::{ConfigError, env_or};

#[derive(Debug, Clone)]
pub struct NotificationsConfig {
    /// `SMTP_URL` (default `smtp://127.0.0.1:2525`, the local sink): lettre's URL form —
    /// `smtp://` plain, `smtp://…?tls=required` STARTTLS, `smtps://` TLS; credentials as
    /// `user:password@`.
    pub smtp_url: String,
    /// `MAIL_FROM` (default `no-reply@summit.localhost`): the sender address; the display
    /// name is the store's.
    pub mail_from: String,
    /// `SMTP_TIMEOUT_MS` (default 10 000): one SMTP conversation's limit.
    pub smtp_timeout: Duration,
    /// `WEBHOOK_ALLOW_PRIVATE` (default `false`): allow `http` and loopback/private addresses
    /// for webhook endpoints — local runs and tests only.
    pub webhook_allow_private: bool,
    /// `WEBHOOK_TIMEOUT_MS` (default 10 000): one webhook request's limit.
    pub webhook_timeout: Duration,
    /// `WEBHOOK_DISABLE_AFTER_MS` (default 86 400 000, 24 h): an endpoint whose every attempt
    /// has failed for this long (and at least `WEBHOOK_DISABLE_MIN_FAILURES` times, default
    /// 10) is disabled and its merchant told.
    pub webhook_disable_after: Duration,
    pub webhook_disable_min_failures: u32,
    /// Attempts per email before it is dead-lettered (`EMAIL_ATTEMPTS`, default 12), and the
    /// backoff between them (full jitter, 2 s doubling up to 30 min: at most about an hour of
    /// trying, about half that on average).
    pub email_attempts: u32,
    pub email_backoff: Backoff,
    /// Attempts per webhook delivery (`WEBHOOK_ATTEMPTS`, default 18), backoff full jitter from
    /// 5 s doubling up to 6 h: at most about 35 h of trying, about 18 h on average — a day, as
    /// Standard Webhooks senders do.
    pub webhook_attempts: u32,
    pub webhook_backoff: Backoff,
    /// How long an open circuit (SMTP, or one endpoint) waits before a trial call.
    pub breaker_open_for: Duration,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            smtp_url: "smtp://127.0.0.1:2525".to_owned(),
            mail_from: "no-reply@summit.localhost".to_owned(),
            smtp_timeout: Duration::from_secs(10),
            webhook_allow_private: false,
            webhook_timeout: Duration::from_secs(10),
            webhook_disable_after: Duration::from_secs(24 * 3600),
            webhook_disable_min_failures: 10,
            email_attempts: 12,
            email_backoff: Backoff::new(Duration::from_secs(2), Duration::from_secs(1800)),
            webhook_attempts: 18,
            webhook_backoff: Backoff::new(Duration::from_secs(5), Duration::from_secs(6 * 3600)),
            breaker_open_for: Duration::from_secs(30),
        }
    }
}

fn ms(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    let millis = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
    Ok(Duration::from_millis(env_or(name, millis)?))
}

impl NotificationsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            smtp_url: env_or("SMTP_URL", default.smtp_url.clone())?,
            mail_from: env_or("MAIL_FROM", default.mail_from.clone())?,
            smtp_timeout: ms("SMTP_TIMEOUT_MS", default.smtp_timeout)?,
            webhook_allow_private: env_or("WEBHOOK_ALLOW_PRIVATE", false)?,
            webhook_timeout: ms("WEBHOOK_TIMEOUT_MS", default.webhook_timeout)?,
            webhook_disable_after: ms("WEBHOOK_DISABLE_AFTER_MS", default.webhook_disable_after)?,
            webhook_disable_min_failures: env_or(
                "WEBHOOK_DISABLE_MIN_FAILURES",
                default.webhook_disable_min_failures,
            )?,
            email_attempts: env_or("EMAIL_ATTEMPTS", default.email_attempts)?.max(1),
            webhook_attempts: env_or("WEBHOOK_ATTEMPTS", default.webhook_attempts)?.max(1),
            ..default
        })
    }

    /// The consumer settings of the queues of other contexts' events: an order event that
    /// overtakes its OrderPlaced (or its store's StoreCreated) waits for it through up to ten
    /// attempts, 0.5 s doubling up to 5 min (about 13 min at most).
    pub fn intake_consumer(&self) -> bus::ConsumerConfig {
        bus::ConsumerConfig {
            max_attempts: 10,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(300)),
            ..bus::ConsumerConfig::default()
        }
    }

    /// The consumer settings of the `notifications.send-email` queue.
    pub fn email_consumer(&self) -> bus::ConsumerConfig {
        bus::ConsumerConfig {
            max_attempts: self.email_attempts,
            backoff: self.email_backoff,
            ..bus::ConsumerConfig::default()
        }
    }

    /// The consumer settings of the `notifications.send-webhook` queue.
    pub fn webhook_consumer(&self) -> bus::ConsumerConfig {
        bus::ConsumerConfig {
            max_attempts: self.webhook_attempts,
            backoff: self.webhook_backoff,
            ..bus::ConsumerConfig::default()
        }
    }

    /// One breaker's settings: five failures in a row, or half of the last twenty calls, open
    /// it.
    pub fn breaker(&self) -> BreakerConfig {
        BreakerConfig {
            failure_rate: 0.5,
            window: Window::Count(20),
            min_calls: 10,
            consecutive_failures: 5,
            open_for: self.breaker_open_for,
            half_open_calls: 1,
        }
    }

    /// Short everything, for tests: retries in milliseconds.
    pub fn fast() -> Self {
        Self {
            webhook_allow_private: true,
            smtp_timeout: Duration::from_secs(2),
            webhook_timeout: Duration::from_secs(2),
            email_attempts: 4,
            email_backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
                .with_jitter(Jitter::Full),
            webhook_attempts: 4,
            webhook_backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
            breaker_open_for: Duration::from_millis(200),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    const SOURCE: &str = include_str!("config.rs");
    const DOCS: &str = include_str!("../../../docs/notifications.md");
    const README: &str = include_str!("../../../README.md");

    /// The quoted names in this file that look like environment variables (`SHOUTY_CASE`).
    fn variables_read() -> Vec<&'static str> {
        SOURCE
            .split(char::from(34))
            .skip(1)
            .step_by(2)
            .filter(|word| {
                word.len() > 3
                    && word.contains('_')
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect()
    }

    #[test]
    fn the_docs_and_the_readme_name_every_variable_this_reads() {
        let mut read = variables_read();
        read.sort_unstable();
        read.dedup();
        assert!(read.contains(&"SMTP_URL") && read.contains(&"WEBHOOK_ALLOW_PRIVATE"));
        assert_eq!(read.len(), 9, "{read:?}");
        for name in read {
            let named = format!("`{name}`");
            assert!(DOCS.contains(&named), "docs/notifications.md names {name}");
            assert!(README.contains(&named), "README.md names {name}");
        }
    }
}
