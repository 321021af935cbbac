//! Stores: the tenants. Creation hands out the admin key once; every change bumps the store's
//! version and publishes StoreUpdated (with the key's hash, never the key) in the same
//! transaction, so other services can authenticate admins without calling catalog.
//!
//! A custom domain is a claim until proven ([`custom_domain`]): only a verified one resolves
//! to the store, shows in [`PublicStore`] and travels in StoreUpdated.

use chrono::{DateTime, Utc};
use contracts::Envelope;
use contracts::catalog::{StoreCreated, StoreUpdated};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::admin_key::{self, AdminKey};
use crate::custom_domain::{self, DomainView, Found, Status, TxtLookup, TxtRecord};
use crate::error::unique_violation;
use crate::idempotency::{self, Idempotency, Outcome};
use crate::slug::Slug;
use crate::{CatalogConfig, CatalogError, db, hostname, logo};

/// `POST /stores` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStore {
    /// 1-100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 3-63 lowercase letters, digits and inner hyphens; reserved words refused.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    pub slug: String,
    #[schema(format = Email)]
    pub contact_email: String,
    /// `pt-BR` (default) or `en`: the language shoppers' messages and mails are written in.
    #[serde(default)]
    pub language: Option<String>,
}

/// A store as catalog keeps it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Store {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub contact_email: String,
    pub temporary_domain: String,
    /// The claimed custom domain, verified or not (see `custom_domain_status`).
    pub custom_domain: Option<String>,
    /// `pending` or `verified` when there is a custom domain.
    pub custom_domain_status: Option<String>,
    /// The challenge token the claim is proven with.
    pub custom_domain_token: Option<String>,
    pub admin_key_hash: String,
    pub language: String,
    pub version: i64,
    /// The logo's ETag, when there is a logo.
    pub logo_etag: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the API shows of a store (never the key's hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Store)]
pub struct StoreView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub contact_email: String,
    pub temporary_domain: String,
    /// The claimed custom domain; it serves the store only once `custom_domain_status` is
    /// `verified`.
    pub custom_domain: Option<String>,
    pub custom_domain_status: Option<Status>,
    pub logo_url: Option<String>,
    pub language: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A store with its admin key: the answer to creation and rotation (the key is shown then only).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StoreWithKey)]
pub struct WithKey {
    #[serde(flatten)]
    pub store: StoreView,
    /// Shown once.
    pub admin_key: String,
}

impl WithKey {
    pub fn new(store: &Store, key: &AdminKey, config: &CatalogConfig) -> Self {
        Self {
            store: store.view(config),
            admin_key: key.expose().to_owned(),
        }
    }
}

/// What anyone may learn about a store from its host.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicStore {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub temporary_domain: String,
    /// Only a verified custom domain.
    pub custom_domain: Option<String>,
    pub logo_url: Option<String>,
    /// `pt-BR` or `en`: what the store's pages speak (the web edge reads it).
    pub language: String,
}

impl Store {
    /// The public, cache-busting URL of the logo: a new logo gets a new URL.
    pub fn logo_url(&self, config: &CatalogConfig) -> Option<String> {
        self.logo_etag.as_ref().map(|etag| {
            format!(
                "{}/stores/{}/logo?v={}",
                config.public_url,
                self.slug,
                etag.trim_matches('"')
            )
        })
    }

    pub fn domain_status(&self) -> Option<Status> {
        self.custom_domain_status.as_deref().and_then(Status::parse)
    }

    /// The custom domain, if it is proven: the only one that serves the store.
    pub fn verified_domain(&self) -> Option<String> {
        self.custom_domain
            .clone()
            .filter(|_| self.domain_status() == Some(Status::Verified))
    }

    /// The claim and the TXT record that proves it, when there is a custom domain.
    pub fn domain_view(&self) -> Option<DomainView> {
        let domain = self.custom_domain.clone()?;
        Some(DomainView {
            txt_record: TxtRecord {
                name: custom_domain::challenge_name(&domain),
                value: self.custom_domain_token.clone().unwrap_or_default(),
            },
            status: self.domain_status().unwrap_or(Status::Pending),
            domain,
        })
    }

    pub fn view(&self, config: &CatalogConfig) -> StoreView {
        StoreView {
            id: self.id,
            slug: self.slug.clone(),
            name: self.name.clone(),
            contact_email: self.contact_email.clone(),
            temporary_domain: self.temporary_domain.clone(),
            custom_domain: self.custom_domain.clone(),
            custom_domain_status: self.domain_status(),
            logo_url: self.logo_url(config),
            language: self.language.clone(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    pub fn public(&self, config: &CatalogConfig) -> PublicStore {
        PublicStore {
            id: self.id,
            slug: self.slug.clone(),
            name: self.name.clone(),
            temporary_domain: self.temporary_domain.clone(),
            custom_domain: self.verified_domain(),
            logo_url: self.logo_url(config),
            language: self.language.clone(),
        }
    }

    fn updated_event(&self, config: &CatalogConfig) -> Envelope<StoreUpdated> {
        Envelope::new(
            Some(self.id),
            StoreUpdated {
                store_id: self.id,
                slug: self.slug.clone(),
                name: self.name.clone(),
                temporary_domain: self.temporary_domain.clone(),
                custom_domain: self.verified_domain(),
                logo_url: self.logo_url(config),
                admin_key_hash: self.admin_key_hash.clone(),
                language: Some(self.language.clone()),
                version: self.version,
            },
        )
    }
}

const SELECT_STORE: &str = "SELECT s.id, s.slug, s.name, s.contact_email, s.temporary_domain,
        s.custom_domain, s.custom_domain_status, s.custom_domain_token, s.admin_key_hash, s.language, s.version, l.etag AS logo_etag, s.created_at, s.updated_at
    FROM stores s LEFT JOIN store_logos l ON l.store_id = s.id";

/// The languages Summit writes in (BCP 47); a store without one speaks Portuguese.
fn parse_language(raw: Option<&str>) -> Result<&'static str, CatalogError> {
    match raw.map(str::trim) {
        None | Some("pt-BR") => Ok("pt-BR"),
        Some("en") => Ok("en"),
        Some(_) => Err(CatalogError::invalid("language", "must be pt-BR or en")),
    }
}

fn parse_name(raw: &str) -> Result<String, CatalogError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CatalogError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

fn parse_email(raw: &str) -> Result<String, CatalogError> {
    let email = raw.trim();
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !ok {
        return Err(CatalogError::invalid(
            "contact_email",
            "must be an email address",
        ));
    }
    Ok(email.to_owned())
}

/// Creates a store and its first admin key; StoreCreated commits with it. With an
/// idempotency key, the answer (201, [`WithKey`]) is recorded with the store, and a repeat
/// gets it back instead of a second store.
pub async fn create(
    pool: &PgPool,
    config: &CatalogConfig,
    input: CreateStore,
    idem: Option<&Idempotency>,
) -> Result<Outcome<(Store, AdminKey)>, CatalogError> {
    let name = parse_name(&input.name)?;
    let slug = Slug::parse(&input.slug)?;
    let contact_email = parse_email(&input.contact_email)?;
    let language = parse_language(input.language.as_deref())?;
    let key = AdminKey::generate();
    let id = Uuid::now_v7();
    let temporary_domain = config.temporary_domain(slug.as_str());

    let mut tx = db::begin_for(pool, id).await?;
    if let Some(idem) = idem
        && let Some(recorded) = idempotency::claim(&mut tx, idem).await?
    {
        return Ok(Outcome::Replayed(recorded));
    }
    sqlx::query(
        "INSERT INTO stores (id, slug, name, contact_email, temporary_domain, admin_key_hash,
                             language)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(slug.as_str())
    .bind(&name)
    .bind(&contact_email)
    .bind(&temporary_domain)
    .bind(key.hash())
    .bind(language)
    .execute(&mut *tx)
    .await
    .map_err(|e| match unique_violation(&e).as_deref() {
        Some("stores_slug_key") => {
            CatalogError::Conflict(format!("the slug {:?} is taken", slug.as_str()))
        }
        _ => CatalogError::from(e),
    })?;
    let store = load(&mut tx, id).await?;
    outbox::enqueue(
        &mut tx,
        Envelope::new(
            Some(id),
            StoreCreated {
                store_id: id,
                slug: store.slug.clone(),
                name: store.name.clone(),
                contact_email: store.contact_email.clone(),
                temporary_domain: store.temporary_domain.clone(),
                admin_key_hash: store.admin_key_hash.clone(),
                language: Some(store.language.clone()),
                version: store.version,
            },
        ),
    )
    .await?;
    if let Some(idem) = idem {
        let body = serde_json::to_value(WithKey::new(&store, &key, config))
            .map_err(|e| CatalogError::Database(sqlx::Error::Encode(e.into())))?;
        idempotency::record(&mut tx, idem, 201, body).await?;
    }
    tx.commit().await?;
    Ok(Outcome::Done((store, key)))
}

async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Store, CatalogError> {
    sqlx::query_as::<_, Store>(db::sql(format!("{SELECT_STORE} WHERE s.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(CatalogError::NotFound("store"))
}

/// The store an admin key opens, if any.
pub async fn by_key(pool: &PgPool, key: &str) -> Result<Option<Store>, CatalogError> {
    Ok(sqlx::query_as::<_, Store>(db::sql(format!(
        "{SELECT_STORE} WHERE s.admin_key_hash = $1"
    )))
    .bind(admin_key::hash(key))
    .fetch_optional(pool)
    .await?)
}

pub async fn by_slug(pool: &PgPool, slug: &str) -> Result<Option<Store>, CatalogError> {
    Ok(
        sqlx::query_as::<_, Store>(db::sql(format!("{SELECT_STORE} WHERE s.slug = $1")))
            .bind(slug)
            .fetch_optional(pool)
            .await?,
    )
}

/// The store behind a temporary (`<slug>.<base domain>`) or verified custom domain.
pub async fn resolve(
    pool: &PgPool,
    config: &CatalogConfig,
    host: &str,
) -> Result<Option<Store>, CatalogError> {
    let host = hostname::normalize_host(host);
    if let Some(slug) = host.strip_suffix(&format!(".{}", config.base_domain)) {
        return by_slug(pool, slug).await;
    }
    Ok(sqlx::query_as::<_, Store>(db::sql(format!(
        "{SELECT_STORE} WHERE s.custom_domain = $1 AND s.custom_domain_status = 'verified'"
    )))
    .bind(&host)
    .fetch_optional(pool)
    .await?)
}

/// Bumps the version, re-reads the store and publishes StoreUpdated, inside `conn`'s
/// transaction.
async fn publish_update(
    conn: &mut PgConnection,
    config: &CatalogConfig,
    id: Uuid,
) -> Result<Store, CatalogError> {
    sqlx::query("UPDATE stores SET version = version + 1, updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let store = load(conn, id).await?;
    outbox::enqueue(conn, store.updated_event(config)).await?;
    Ok(store)
}

/// Claims (or, with `None`, drops) a custom domain for the store. A new claim is pending,
/// with a fresh token; claiming the domain the store already has changes nothing. A domain
/// another store has verified is refused (409); one that others have only claimed is not.
pub async fn set_domain(
    pool: &PgPool,
    config: &CatalogConfig,
    store_id: Uuid,
    custom_domain: Option<&str>,
) -> Result<Store, CatalogError> {
    let domain = custom_domain
        .map(|d| hostname::parse_custom_domain(d, &config.base_domain))
        .transpose()?;
    let mut tx = db::begin_for(pool, store_id).await?;
    let current = load(&mut tx, store_id).await?;
    if current.custom_domain == domain {
        tx.commit().await?;
        return Ok(current);
    }
    if let Some(domain) = &domain {
        let owned_elsewhere: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM stores
             WHERE custom_domain = $1 AND custom_domain_status = 'verified' AND id <> $2)",
        )
        .bind(domain)
        .bind(store_id)
        .fetch_one(&mut *tx)
        .await?;
        if owned_elsewhere {
            return Err(domain_taken());
        }
    }
    let (status, token) = match &domain {
        Some(_) => (
            Some(Status::Pending.as_str()),
            Some(custom_domain::new_token()),
        ),
        None => (None, None),
    };
    sqlx::query(
        "UPDATE stores SET custom_domain = $2, custom_domain_status = $3,
             custom_domain_token = $4, custom_domain_verified_at = NULL,
             custom_domain_checked_at = NULL
         WHERE id = $1",
    )
    .bind(store_id)
    .bind(&domain)
    .bind(status)
    .bind(&token)
    .execute(&mut *tx)
    .await?;
    let store = publish_update(&mut tx, config, store_id).await?;
    tx.commit().await?;
    Ok(store)
}

fn domain_taken() -> CatalogError {
    CatalogError::Conflict("that domain belongs to another store".into())
}

/// Checks the store's pending claim against DNS now and verifies it when the record holds
/// the token. An already verified domain is answered as it is.
pub async fn verify_domain(
    pool: &PgPool,
    config: &CatalogConfig,
    store: &Store,
) -> Result<DomainView, CatalogError> {
    let view = store
        .domain_view()
        .ok_or(CatalogError::NotFound("custom domain"))?;
    if view.status == Status::Verified {
        return Ok(view);
    }
    let found = TxtLookup::new(config).txt(&view.txt_record.name).await;
    settle_claim(
        pool,
        config,
        store.id,
        &view.domain,
        &view.txt_record.value,
        &found,
    )
    .await?;
    load(&mut *pool.acquire().await?, store.id)
        .await?
        .domain_view()
        .ok_or(CatalogError::NotFound("custom domain"))
}

/// Settles a pending claim on what its lookup `found`: verified (StoreUpdated published,
/// `Ok(true)`) when the token is there and the claim is still the one checked; otherwise
/// [`CatalogError::DomainNotVerified`] (the check time is recorded), or 409 when another store
/// verified the domain first or the claim changed meanwhile.
pub async fn settle_claim(
    pool: &PgPool,
    config: &CatalogConfig,
    store_id: Uuid,
    domain: &str,
    token: &str,
    found: &Found,
) -> Result<bool, CatalogError> {
    let mut tx = db::begin_for(pool, store_id).await?;
    if !found.proves(token) {
        sqlx::query(
            "UPDATE stores SET custom_domain_checked_at = now()
             WHERE id = $1 AND custom_domain = $2 AND custom_domain_token = $3",
        )
        .bind(store_id)
        .bind(domain)
        .bind(token)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        return Err(CatalogError::DomainNotVerified {
            record: custom_domain::challenge_name(domain),
            expected: token.to_owned(),
            found: found.to_string(),
        });
    }
    let verified = sqlx::query(
        "UPDATE stores SET custom_domain_status = 'verified', custom_domain_verified_at = now(),
             custom_domain_checked_at = now()
         WHERE id = $1 AND custom_domain = $2 AND custom_domain_token = $3
           AND custom_domain_status = 'pending'",
    )
    .bind(store_id)
    .bind(domain)
    .bind(token)
    .execute(&mut *tx)
    .await
    .map_err(|e| match unique_violation(&e).as_deref() {
        Some("stores_verified_domain_key") => domain_taken(),
        _ => CatalogError::from(e),
    })?
    .rows_affected();
    if verified == 0 {
        return Err(CatalogError::Conflict(
            "the domain claim changed while it was being checked; try again".into(),
        ));
    }
    publish_update(&mut tx, config, store_id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Replaces the admin key; the old one stops working when this commits.
pub async fn rotate_key(
    pool: &PgPool,
    config: &CatalogConfig,
    store_id: Uuid,
) -> Result<(Store, AdminKey), CatalogError> {
    let key = AdminKey::generate();
    let mut tx = db::begin_for(pool, store_id).await?;
    sqlx::query("UPDATE stores SET admin_key_hash = $2 WHERE id = $1")
        .bind(store_id)
        .bind(key.hash())
        .execute(&mut *tx)
        .await?;
    let store = publish_update(&mut tx, config, store_id).await?;
    tx.commit().await?;
    Ok((store, key))
}

/// Sets the language the store addresses shoppers and its merchant in (`pt-BR` or `en`);
/// the same language again changes nothing (no new version, no event).
pub async fn set_language(
    pool: &PgPool,
    config: &CatalogConfig,
    store_id: Uuid,
    language: &str,
) -> Result<Store, CatalogError> {
    let language = parse_language(Some(language))?;
    let mut tx = db::begin_for(pool, store_id).await?;
    let current = load(&mut tx, store_id).await?;
    if current.language == language {
        tx.commit().await?;
        return Ok(current);
    }
    sqlx::query("UPDATE stores SET language = $2 WHERE id = $1")
        .bind(store_id)
        .bind(language)
        .execute(&mut *tx)
        .await?;
    let store = publish_update(&mut tx, config, store_id).await?;
    tx.commit().await?;
    Ok(store)
}

/// Stores a new logo (already accepted by [`logo::accept`] or checked here).
pub async fn set_logo(
    pool: &PgPool,
    config: &CatalogConfig,
    store_id: Uuid,
    bytes: &[u8],
) -> Result<Store, CatalogError> {
    let content_type = logo::accept(bytes, config.logo_max_bytes)?;
    let etag = logo::etag(bytes);
    let mut tx = db::begin_for(pool, store_id).await?;
    sqlx::query(
        "INSERT INTO store_logos (store_id, content_type, bytes, etag) VALUES ($1, $2, $3, $4)
         ON CONFLICT (store_id) DO UPDATE
         SET content_type = EXCLUDED.content_type, bytes = EXCLUDED.bytes,
             etag = EXCLUDED.etag, updated_at = now()",
    )
    .bind(store_id)
    .bind(content_type)
    .bind(bytes)
    .bind(&etag)
    .execute(&mut *tx)
    .await?;
    let store = publish_update(&mut tx, config, store_id).await?;
    tx.commit().await?;
    Ok(store)
}

/// A stored logo.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Logo {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub etag: String,
    pub updated_at: DateTime<Utc>,
}

pub async fn logo_of(pool: &PgPool, slug: &str) -> Result<Option<Logo>, CatalogError> {
    Ok(sqlx::query_as::<_, Logo>(
        "SELECT l.content_type, l.bytes, l.etag, l.updated_at
         FROM store_logos l JOIN stores s ON s.id = l.store_id WHERE s.slug = $1",
    )
    .bind(slug)
    .fetch_optional(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_names() {
        assert!(parse_email("ze@example.com").is_ok());
        for bad in ["", "ze", "ze@", "@x.com", "ze@x", "z e@x.com", "a@b@c.com"] {
            assert!(parse_email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_name("  Café do Zé ").unwrap(), "Café do Zé");
        assert!(parse_name("   ").is_err());
    }
}
