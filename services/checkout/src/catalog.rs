//! Asking catalog over HTTP about a product the read model has not heard of yet (its
//! ProductUpserted still on the way), so an order for a product created a moment ago is not
//! refused.
//!
//! Invariants:
//! - Only products the read model has no row for are asked about (a tombstone counts as
//!   known: a deleted product stays deleted).
//! - Every call goes through one [`Policy`]: a per-call timeout, retries with capped, jittered
//!   backoff on transient failures, and a circuit breaker, so a catalog that is down costs one
//!   short wait and then none at all while the circuit is open.
//! - What catalog says is kept in the read model under the version it carries: the event that
//!   follows is then stale, and a newer one still wins.
//! - If catalog cannot answer, the order is refused with [`Unavailable`] (503 + `Retry-After`),
//!   never accepted on a guess.

use std::time::Duration;

use resilience::{
    Backoff, BreakerConfig, Class, Classify, Policy, PolicyError, RetryConfig, Window,
    classify_status,
};
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;
use crate::error::CheckoutError;
use crate::read_model::Store;

/// A product on sale, as catalog's `GET /stores/{slug}/products/{id}` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct OnSale {
    pub id: Uuid,
    pub store_id: Uuid,
    pub sku: String,
    pub name: String,
    pub price_minor: i64,
    pub currency: String,
    pub version: i64,
}

/// A store, as catalog's `GET /stores/resolve?slug=…` shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicStore {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub language: String,
}

/// Catalog could not say: the caller should try again after `retry_after`.
#[derive(Debug, thiserror::Error)]
#[error("catalog is unavailable: {reason}")]
pub struct Unavailable {
    pub reason: String,
    pub retry_after: Duration,
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("catalog answered {status}")]
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    #[error("catalog unreachable: {0}")]
    Transport(#[from] reqwest::Error),
}

impl Classify for CallError {
    fn classify(&self) -> Class {
        match self {
            Self::Status {
                status,
                retry_after,
            } => classify_status(*status, retry_after.as_deref()),
            Self::Transport(_) => Class::Transient { retry_after: None },
        }
    }
}

/// The HTTP client for catalog, with its policy (shared by clones).
#[derive(Debug, Clone)]
pub struct Catalog {
    http: reqwest::Client,
    base_url: String,
    policy: Policy,
}

impl Catalog {
    /// `base_url` like `http://127.0.0.1:8081`; `timeout` bounds one call.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        let policy = Policy::builder("catalog")
            .retry(RetryConfig {
                max_attempts: 3,
                max_elapsed: timeout * 4,
                backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(500)),
            })
            .breaker(BreakerConfig {
                failure_rate: 0.5,
                window: Window::Count(20),
                min_calls: 5,
                consecutive_failures: 3,
                open_for: Duration::from_secs(5),
                half_open_calls: 1,
            })
            .timeout(timeout)
            .build();
        Self {
            http: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            policy,
        }
    }

    /// The product on sale in `slug`'s store, `None` if catalog has no such product on sale.
    pub async fn product(&self, slug: &str, id: Uuid) -> Result<Option<OnSale>, Unavailable> {
        self.lookup(format!("{}/stores/{slug}/products/{id}", self.base_url))
            .await
    }

    /// The store with `slug`, `None` if catalog has none.
    pub async fn store(&self, slug: &str) -> Result<Option<PublicStore>, Unavailable> {
        let mut url =
            reqwest::Url::parse(&format!("{}/stores/resolve", self.base_url)).map_err(|e| {
                Unavailable {
                    reason: format!("catalog's URL: {e}"),
                    retry_after: Duration::from_secs(1),
                }
            })?;
        url.query_pairs_mut().append_pair("slug", slug);
        self.lookup(url.to_string()).await
    }

    /// GET `url` through the policy: the JSON body on success; `None` when catalog says there
    /// is no such thing (404) or that the name asked about cannot name one (another 4xx but
    /// 408 and 429, e.g. a slug with control characters: 422).
    async fn lookup<T: serde::de::DeserializeOwned>(
        &self,
        url: String,
    ) -> Result<Option<T>, Unavailable> {
        let answer = self
            .policy
            .call(|| async {
                let response = self.http.get(&url).send().await?;
                let status = response.status();
                if status.is_client_error()
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                {
                    return Ok(None);
                }
                if !status.is_success() {
                    return Err(CallError::Status {
                        status: status.as_u16(),
                        retry_after: response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    });
                }
                Ok(Some(response.json::<T>().await?))
            })
            .await;
        answer.map_err(|error| {
            let retry_after = match &error {
                PolicyError::CircuitOpen { retry_in } => *retry_in,
                _ => Duration::from_secs(1),
            };
            tracing::warn!(error = %service_kit::problem::cause_chain(&error), "catalog lookup failed");
            Unavailable {
                reason: error.to_string(),
                retry_after: retry_after.max(Duration::from_secs(1)),
            }
        })
    }

    /// True unless the circuit to catalog is open.
    pub fn is_ready(&self) -> bool {
        self.policy.is_ready()
    }
}

/// The store with `slug`: from the read model, or else from catalog when its StoreCreated has
/// not arrived yet (a store that signed up a moment ago already sells). A learned store is
/// kept under version 0 with no admin key hash, so StoreCreated (version 1) replaces it whole
/// and no admin key opens it until then.
pub async fn store(
    pool: &PgPool,
    catalog: &Catalog,
    slug: &str,
) -> Result<Option<Store>, CheckoutError> {
    if let Some(store) = crate::read_model::store_by_slug(pool, slug).await? {
        return Ok(Some(store));
    }
    let Some(public) = catalog.store(slug).await? else {
        return Ok(None);
    };
    if public.slug != slug {
        return Ok(None);
    }
    crate::read_model::learn_store(
        pool,
        public.id,
        &public.slug,
        &public.name,
        &public.language,
    )
    .await?;
    Ok(crate::read_model::store_by_slug(pool, slug).await?)
}

/// Asks catalog about each of `ids` the read model has no row for, and keeps the answers.
pub async fn learn_unknown(
    pool: &PgPool,
    catalog: &Catalog,
    store: &Store,
    ids: &[Uuid],
) -> Result<(), CheckoutError> {
    let known: Vec<Uuid> = {
        let mut tx = db::begin_for(pool, store.id).await?;
        let known = sqlx::query_scalar("SELECT id FROM products WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        known
    };
    let mut unknown: Vec<Uuid> = ids
        .iter()
        .filter(|id| !known.contains(id))
        .copied()
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    if unknown.is_empty() {
        return Ok(());
    }
    let answers =
        futures_util::future::join_all(unknown.iter().map(|id| catalog.product(&store.slug, *id)))
            .await;
    let mut tx = db::begin_for(pool, store.id).await?;
    for answer in answers {
        // Not on sale in this store: the order's validation names the line.
        let Some(product) = answer? else { continue };
        if product.store_id != store.id {
            continue;
        }
        sqlx::query(
            "INSERT INTO products (id, store_id, sku, name, price_minor, currency, active,
                                   deleted, version)
             VALUES ($1, $2, $3, $4, $5, $6, true, false, $7)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(product.id)
        .bind(product.store_id)
        .bind(&product.sku)
        .bind(&product.name)
        .bind(product.price_minor)
        .bind(&product.currency)
        .bind(product.version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
