//! Catalog's own settings, beside the runtime's. Every one has a local default.

use std::net::SocketAddr;

use service_kit::config::{ConfigError, env_or};

#[derive(Debug, Clone)]
pub struct CatalogConfig {
    /// `BASE_DOMAIN`: stores live at `<slug>.<base_domain>` until they bring their own domain.
    pub base_domain: String,
    /// `PUBLIC_URL`: where this service is reachable from outside; logo URLs start with it.
    pub public_url: String,
    /// `LOGO_MAX_BYTES`: the largest logo accepted (default 1 MiB).
    pub logo_max_bytes: usize,
    /// `JSON_MAX_BYTES`: the largest JSON body accepted (default 64 KiB).
    pub json_max_bytes: usize,
    /// `DNS_RESOLVER` (`ip:port`): the resolver that custom domains' TXT challenges are looked
    /// up through; unset, the system's (`/etc/resolv.conf`).
    pub dns_resolver: Option<SocketAddr>,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            base_domain: "summit.localhost".into(),
            public_url: "http://127.0.0.1:8081".into(),
            logo_max_bytes: 1024 * 1024,
            json_max_bytes: 64 * 1024,
            dns_resolver: None,
        }
    }
}

impl CatalogConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        let default = Self::default();
        Ok(Self {
            base_domain: env_or("BASE_DOMAIN", default.base_domain)?.to_ascii_lowercase(),
            public_url: env_or("PUBLIC_URL", default.public_url)?
                .trim_end_matches('/')
                .to_owned(),
            logo_max_bytes: env_or("LOGO_MAX_BYTES", default.logo_max_bytes)?,
            json_max_bytes: env_or("JSON_MAX_BYTES", default.json_max_bytes)?,
            dns_resolver: match std::env::var("DNS_RESOLVER") {
                Ok(raw) if !raw.trim().is_empty() => {
                    Some(raw.trim().parse().map_err(|_| ConfigError {
                        name: "DNS_RESOLVER".into(),
                        value: raw.clone(),
                    })?)
                }
                _ => None,
            },
        })
    }

    /// `<slug>.<base_domain>`.
    pub fn temporary_domain(&self, slug: &str) -> String {
        format!("{slug}.{}", self.base_domain)
    }
}
