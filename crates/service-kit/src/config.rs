//! Settings from the environment. Every setting has a default that works on a developer's
//! machine with `make run`; production overrides them.

use std::net::SocketAddr;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// A typed environment variable, or its default when unset. A set but unparsable value is a
/// startup error, not a silent default.
pub fn env_or<T: FromStr>(name: &str, default: T) -> Result<T, ConfigError> {
    match std::env::var(name) {
        Ok(raw) => raw.parse().map_err(|_| ConfigError {
            name: name.to_owned(),
            value: raw,
        }),
        Err(_) => Ok(default),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} has an invalid value {value:?}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
}

/// What every service needs to start. URLs that hold passwords are [`SecretString`]s: `Debug`
/// (a startup log, a panic message) shows `[REDACTED]`, never the password.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The service's name: its database, its role, its broker connection's name.
    pub name: String,
    /// `BIND` (default 127.0.0.1) and `PORT` (default from docs/design.md; 0: the system picks a free one, and the service prints it on stdout
    /// — see [`crate::Listening`]).
    pub addr: SocketAddr,
    /// `DATABASE_URL`; default: the service's own database and role on the local server.
    pub database_url: SecretString,
    /// `AMQP_URL`; default: the local broker's default vhost.
    pub amqp_url: SecretString,
    /// `DB_MAX_CONNECTIONS` (default 10).
    pub db_max_connections: u32,
    /// `REQUEST_TIMEOUT_MS` (default 30 000): no HTTP request holds a connection longer.
    pub request_timeout: std::time::Duration,
}

impl ServiceConfig {
    pub fn from_env(name: &str, default_port: u16) -> Result<Self, ConfigError> {
        let bind: std::net::IpAddr = env_or("BIND", [127, 0, 0, 1].into())?;
        let port: u16 = env_or("PORT", default_port)?;
        Ok(Self {
            name: name.to_owned(),
            addr: SocketAddr::new(bind, port),
            database_url: env_or::<String>(
                "DATABASE_URL",
                format!("postgres://{name}:{name}@127.0.0.1:5432/{name}"),
            )?
            .into(),
            amqp_url: env_or::<String>("AMQP_URL", bus::BusConfig::DEFAULT_URL.to_owned())?.into(),
            db_max_connections: env_or("DB_MAX_CONNECTIONS", 10)?,
            request_timeout: std::time::Duration::from_millis(env_or(
                "REQUEST_TIMEOUT_MS",
                30_000,
            )?),
        })
    }

    pub fn bus(&self) -> bus::BusConfig {
        bus::BusConfig::new(
            self.amqp_url.expose_secret().to_owned(),
            format!("{}@{}", self.name, std::process::id()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_passwords_in_urls() {
        let config = ServiceConfig {
            name: "catalog".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: "postgres://catalog:db-pass-s3cret@db:5432/catalog".into(),
            amqp_url: "amqp://catalog:amqp-pass-s3cret@broker:5672/%2f".into(),
            db_max_connections: 10,
            request_timeout: std::time::Duration::from_secs(30),
        };
        let printed = format!("{config:?}");
        assert!(!printed.contains("db-pass-s3cret"), "{printed}");
        assert!(!printed.contains("amqp-pass-s3cret"), "{printed}");
        assert!(printed.contains("REDACTED"), "{printed}");
        assert_eq!(
            config.bus().url,
            "amqp://catalog:amqp-pass-s3cret@broker:5672/%2f",
            "the bus still gets the real URL"
        );
    }
}
