//! Proving a custom domain: the DNS TXT challenge.
//!
//! A merchant who sets a custom domain gets a claim, `pending`, with a token of 256 random
//! bits. The merchant publishes it as a TXT record named `_summit-challenge.<domain>`; a check
//! (`POST /admin/store/domain/verify`, or the periodic [`recheck_job`]) looks that record up
//! and, when one of its values is the token, marks the claim `verified`.
//!
//! Invariants:
//! - Only a verified domain resolves to its store, is shown to the public, or travels in
//!   StoreUpdated; a pending claim is visible to its own store's admin only.
//! - A pending claim blocks nobody: several stores may claim the same domain, and the first
//!   to prove it owns it. A verified domain cannot be claimed by another store (409), and the
//!   unique index over verified domains settles two proofs that race.
//! - A claim is verified only if it is still the one that was checked (same domain, same
//!   token, still pending) when the verification commits.
//! - No transaction is held open across a DNS lookup.
//! - Each check builds its own resolver, so no cached (negative) answer from an earlier check
//!   hides a record the merchant has just published.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use rand::RngCore;
use serde::Serialize;
use sqlx::PgPool;

use crate::CatalogConfig;

/// The label under the merchant's domain where the challenge record lives.
pub const CHALLENGE_LABEL: &str = "_summit-challenge";

/// How long one TXT lookup may take before the check reports a timeout.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Verified,
}

impl Status {
    /// The value in `stores.custom_domain_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verified => "verified",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "verified" => Some(Self::Verified),
            _ => None,
        }
    }
}

/// A fresh challenge token: 256 random bits, lowercase hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    crate::admin_key::hex(&bytes)
}

/// The name of the TXT record that proves `domain`.
pub fn challenge_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// The record the merchant is asked to create at the domain's DNS host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TxtRecord {
    /// `_summit-challenge.<domain>`.
    #[schema(example = "_summit-challenge.shop.example.com")]
    pub name: String,
    /// The token: 256 random bits, hex.
    pub value: String,
}

/// `GET /admin/store/domain`: the claim and the record that proves it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DomainClaim)]
pub struct DomainView {
    pub domain: String,
    pub status: Status,
    pub txt_record: TxtRecord,
}

/// What a lookup of the challenge record found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The values of the TXT records at that name (each record's strings joined).
    Values(Vec<String>),
    /// No record of any kind at that name (NXDOMAIN).
    NoSuchName,
    /// The name exists but has no TXT record.
    NoTxtRecord,
    /// The lookup itself failed (timeout, refused, unreachable resolver…).
    LookupFailed(String),
}

impl Found {
    /// Whether `token` is among the values found.
    pub fn proves(&self, token: &str) -> bool {
        matches!(self, Self::Values(values) if values.iter().any(|v| v.trim() == token))
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Values(values) if values.is_empty() => f.write_str("no TXT record"),
            Self::Values(values) => write!(f, "TXT {values:?}"),
            Self::NoSuchName => f.write_str("no such name (NXDOMAIN)"),
            Self::NoTxtRecord => f.write_str("no TXT record"),
            Self::LookupFailed(why) => write!(f, "the lookup failed ({why})"),
        }
    }
}

/// Looks up TXT records through the configured resolver (`DNS_RESOLVER`), or the system's.
#[derive(Debug, Clone)]
pub struct TxtLookup {
    /// `None`: the system's resolver configuration (`/etc/resolv.conf`).
    resolver: Option<SocketAddr>,
}

impl TxtLookup {
    pub fn new(config: &CatalogConfig) -> Self {
        Self {
            resolver: config.dns_resolver,
        }
    }

    fn build(&self) -> Result<TokioResolver, NetError> {
        let mut builder = match self.resolver {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.timeout = LOOKUP_TIMEOUT;
        options.attempts = 1;
        options.cache_size = 0;
        builder.build()
    }

    /// The TXT values at `name`. Never an error: a failure is one of the things it can find,
    /// and is reported to the merchant as such.
    pub async fn txt(&self, name: &str) -> Found {
        let resolver = match self.build() {
            Ok(resolver) => resolver,
            Err(error) => return Found::LookupFailed(format!("no resolver: {error}")),
        };
        // A fully qualified name: no search domains appended.
        let fqdn = format!("{name}.");
        match resolver.txt_lookup(fqdn).await {
            Ok(lookup) => {
                let values: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part))
                                .collect::<String>(),
                        ),
                        _ => None,
                    })
                    .collect();
                if values.is_empty() {
                    Found::NoTxtRecord
                } else {
                    Found::Values(values)
                }
            }
            Err(error) if error.is_nx_domain() => Found::NoSuchName,
            Err(error) if error.is_no_records_found() => Found::NoTxtRecord,
            Err(error) => Found::LookupFailed(error.to_string()),
        }
    }
}

/// Re-checks up to `limit` pending claims, least recently checked first, and verifies those
/// whose record is now published. Returns how many it verified. A claim whose record is
/// missing stays pending (its check time is recorded), as does one that lost to another
/// store's verification.
pub async fn recheck_pending(
    pool: &PgPool,
    config: &CatalogConfig,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let lookup = TxtLookup::new(config);
    let claims: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
        "SELECT id, custom_domain, custom_domain_token FROM stores
         WHERE custom_domain_status = 'pending'
         ORDER BY custom_domain_checked_at NULLS FIRST, id
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut verified = 0;
    for (store_id, domain, token) in claims {
        let found = lookup.txt(&challenge_name(&domain)).await;
        match crate::store::settle_claim(pool, config, store_id, &domain, &token, &found).await {
            Ok(true) => verified += 1,
            Ok(false) => {}
            Err(crate::CatalogError::Database(error)) => return Err(error),
            Err(error) => tracing::info!(%store_id, %domain, %error, "domain claim not verified"),
        }
    }
    Ok(verified)
}

/// The periodic re-check of pending claims, for the service's runtime.
pub fn recheck_job(config: CatalogConfig) -> service_kit::Job {
    service_kit::Job::new(
        "catalog.custom-domains.recheck",
        Duration::from_secs(300),
        move |pool| {
            let config = config.clone();
            async move { recheck_pending(&pool, &config, 100).await }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_fresh() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn only_the_token_proves() {
        let found = Found::Values(vec!["v=spf1 -all".into(), " abc ".into()]);
        assert!(found.proves("abc"));
        assert!(!found.proves("ab"));
        assert!(!Found::NoSuchName.proves("abc"));
        assert_eq!(
            challenge_name("shop.example.com"),
            "_summit-challenge.shop.example.com"
        );
    }
}
