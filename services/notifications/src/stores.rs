//! Stores as catalog announces them (`notifications.catalog-events`), the newest version
//! winning, plus notifications' own per-store setting (the language of mail).
//!
//! Invariants: an older version arriving late never overwrites a newer one (but fills a
//! contact address the newer one did not carry); the admin key itself is never stored, only
//! catalog's SHA-256 of it.

use contracts::Message;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::mail::Language;

/// What mail needs of a store.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Store {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub contact_email: Option<String>,
    pub temporary_domain: String,
    pub custom_domain: Option<String>,
    pub logo_url: Option<String>,
    pub language: String,
}

impl Store {
    pub fn language(&self) -> Language {
        Language::parse(&self.language).unwrap_or(Language::Pt)
    }

    /// Where shoppers find the store: its custom domain if it has one.
    pub fn url(&self) -> String {
        format!(
            "https://{}",
            self.custom_domain
                .as_deref()
                .unwrap_or(&self.temporary_domain)
        )
    }
}

/// Applies a store event inside the caller's transaction (which acts for the store); `true`
/// when it changed the table.
pub async fn apply(conn: &mut PgConnection, message: &Message) -> Result<bool, sqlx::Error> {
    let changed = match message {
        Message::StoreCreated(e) => sqlx::query(
            "INSERT INTO stores (id, admin_key_hash, version, name, slug, contact_email,
                                 temporary_domain, language)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET
                 contact_email = coalesce(stores.contact_email, EXCLUDED.contact_email),
                 admin_key_hash = CASE WHEN stores.version < EXCLUDED.version
                                       THEN EXCLUDED.admin_key_hash ELSE stores.admin_key_hash END,
                 name = CASE WHEN stores.version < EXCLUDED.version
                             THEN EXCLUDED.name ELSE stores.name END,
                 version = greatest(stores.version, EXCLUDED.version),
                 updated_at = now()",
        )
        .bind(e.store_id)
        .bind(&e.admin_key_hash)
        .bind(e.version)
        .bind(&e.name)
        .bind(&e.slug)
        .bind(&e.contact_email)
        .bind(&e.temporary_domain)
        .bind(mail_language(e.language.as_deref()))
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        Message::StoreUpdated(e) => sqlx::query(
            "INSERT INTO stores (id, admin_key_hash, version, name, slug, temporary_domain,
                                 custom_domain, logo_url, language)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET
                 admin_key_hash = EXCLUDED.admin_key_hash, version = EXCLUDED.version,
                 name = EXCLUDED.name, slug = EXCLUDED.slug,
                 temporary_domain = EXCLUDED.temporary_domain,
                 custom_domain = EXCLUDED.custom_domain, logo_url = EXCLUDED.logo_url,
                 updated_at = now()
             WHERE stores.version < EXCLUDED.version",
        )
        .bind(e.store_id)
        .bind(&e.admin_key_hash)
        .bind(e.version)
        .bind(&e.name)
        .bind(&e.slug)
        .bind(&e.temporary_domain)
        .bind(&e.custom_domain)
        .bind(&e.logo_url)
        .bind(mail_language(e.language.as_deref()))
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        _ => 0,
    };
    Ok(changed == 1)
}

/// The mail language of a store catalog announces (`pt-BR` → `pt`): set when the row is first
/// written, so a merchant's own choice (`PUT /admin/settings`) is never overwritten by an event.
fn mail_language(announced: Option<&str>) -> &'static str {
    announced
        .and_then(crate::mail::Language::parse)
        .unwrap_or(crate::mail::Language::Pt)
        .as_str()
}

/// The store, as mail needs it.
pub async fn load(conn: &mut PgConnection, id: Uuid) -> Result<Option<Store>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, slug, contact_email, temporary_domain, custom_domain, logo_url, language
         FROM stores WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}
