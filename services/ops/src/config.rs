//! Ops' own settings, from the environment.

use secrecy::SecretString;
use service_kit::config::{ConfigError, env_or};

#[derive(Debug, Clone)]
pub struct OpsConfig {
    /// `OPS_TOKEN`: the operator token every `/ops/…` request presents as
    /// `Authorization: Bearer <token>`. Unset or empty: every request is refused (401).
    pub token: SecretString,
    /// `OPS_QUEUES` (default: [`crate::WORK_QUEUES`]): the work queues, comma-separated, whose
    /// `.dlq` ops drains.
    pub queues: Vec<String>,
    /// `OPS_RETRY_RATE` (default 10): messages per second of a bulk retry that names no rate.
    pub default_rate_per_s: f64,
    /// `OPS_ARCHIVE_DAYS` (default 14): discarded failures are kept this many days, then
    /// trimmed.
    pub archive_days: u32,
    /// `OPS_MANAGEMENT_URL` (e.g. `http://user:pass@host:15672`; `off` disables; unset: the
    /// AMQP URL's host on port 15672 with its credentials): where queue rates come from.
    pub management_url: Option<String>,
}

impl OpsConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let queues: String = env_or("OPS_QUEUES", crate::WORK_QUEUES.join(","))?;
        Ok(Self {
            token: env_or::<String>("OPS_TOKEN", String::new())?.into(),
            queues: parse_queues(&queues),
            default_rate_per_s: env_or("OPS_RETRY_RATE", 10.0)?,
            archive_days: env_or("OPS_ARCHIVE_DAYS", 14)?,
            management_url: Some(env_or::<String>("OPS_MANAGEMENT_URL", String::new())?)
                .filter(|u| !u.trim().is_empty()),
        })
    }
}

fn parse_queues(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_a_comma_separated_list() {
        assert_eq!(
            parse_queues(" a.b , c.d,,"),
            vec!["a.b".to_owned(), "c.d".to_owned()]
        );
        assert_eq!(parse_queues(&crate::WORK_QUEUES.join(",")).len(), 10);
    }

    #[test]
    fn every_variable_read_is_documented() {
        const DOCS: &str = include_str!("../../../docs/ops.md");
        for name in [
            "OPS_TOKEN",
            "OPS_QUEUES",
            "OPS_RETRY_RATE",
            "OPS_ARCHIVE_DAYS",
            "OPS_URL",
        ] {
            assert!(DOCS.contains(name), "docs/ops.md names {name}");
        }
    }
}
