//! Stores' own gateway accounts: a store's settings ([`crate::settings`]) choose the adapter
//! and the key; each account has its own policy (so its own circuit breaker) and its own
//! shared rate-limit key, named by the provider and a hash of the secret key.
//!
//! Invariants: an account is built once per (provider, key) and reused, so its breaker sees
//! every call made with that key; a store whose settings change gets the new account on its
//! next call; nothing here logs a secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use resilience::Policy;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::PaymentsConfig;
use crate::gateway::{AnyGateway, GatewayError, PagarMe, Stripe};
use crate::ratelimit::{GatewayLimit, LimitConfig};
use crate::settings::{self, GatewaySettings, Provider, Sealer};

/// One store-owned gateway account with its own guards.
#[derive(Debug)]
pub struct StoreAccount {
    /// `provider:hash` (never the key).
    pub id: String,
    pub gateway: AnyGateway,
    pub policy: Policy,
    pub limit: Option<Arc<GatewayLimit>>,
}

/// Where stores' accounts come from.
pub struct StoreAccounts {
    pool: PgPool,
    sealer: Arc<Sealer>,
    config: PaymentsConfig,
    /// Each account gets a Redis-shared limit when set.
    shared_limit: bool,
    built: Mutex<HashMap<String, Arc<StoreAccount>>>,
}

impl std::fmt::Debug for StoreAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAccounts").finish_non_exhaustive()
    }
}

impl StoreAccounts {
    pub fn new(pool: PgPool, sealer: Arc<Sealer>, config: &PaymentsConfig) -> Self {
        Self {
            pool,
            sealer,
            config: config.clone(),
            shared_limit: false,
            built: Mutex::new(HashMap::new()),
        }
    }

    /// Every store account waits on its own limit in Redis (`GATEWAY_RATE_LIMIT_PER_S` each).
    pub fn with_shared_limit(mut self) -> Self {
        self.shared_limit = true;
        self
    }

    /// How many store accounts have their circuit open now (readiness says `degraded`; their
    /// charges wait as `pending_offline`). A count, so readiness names no account.
    pub fn open_circuits(&self) -> usize {
        self.built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .filter_map(|a| a.policy.breaker())
            .filter(|b| b.state() == resilience::BreakerState::Open)
            .count()
    }

    /// The store's own account, or `None` when it uses the platform's.
    pub async fn for_store(&self, store: Uuid) -> Result<Option<Arc<StoreAccount>>, GatewayError> {
        let settings = settings::load(&self.pool, &self.sealer, store)
            .await
            .map_err(|e| {
                tracing::error!(%store, error = %e, "store gateway settings unavailable");
                GatewayError::Unreachable(format!("store gateway settings unavailable: {e}"))
            })?;
        settings.map(|s| self.account(&s)).transpose()
    }

    fn account(&self, settings: &GatewaySettings) -> Result<Arc<StoreAccount>, GatewayError> {
        let id = settings.account_id();
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(account) = built.get(&id) {
            return Ok(account.clone());
        }
        let gateway = match settings.provider {
            Provider::PagarMe => AnyGateway::PagarMe(PagarMe::new(
                self.config.pagarme_base_url.clone(),
                settings.secret_key.clone(),
            )?),
            Provider::Stripe => AnyGateway::Stripe(Stripe::new(
                self.config.stripe_base_url.clone(),
                settings.secret_key.clone(),
            )?),
        };
        let limit = if self.shared_limit {
            let limit = GatewayLimit::new(
                &self.config.redis_url,
                LimitConfig {
                    key: format!("{}:{id}", self.config.rate_limit_prefix),
                    rate_per_s: self.config.rate_limit_per_s,
                    burst: 1,
                    replicas: self.config.replicas,
                },
            )
            .map_err(|e| GatewayError::Unreachable(format!("rate limit: {e}")))?;
            Some(Arc::new(limit))
        } else {
            None
        };
        let account = Arc::new(StoreAccount {
            policy: self.config.policy(&format!("gateway.{id}")),
            id: id.clone(),
            gateway,
            limit,
        });
        built.insert(id, account.clone());
        Ok(account)
    }
}
