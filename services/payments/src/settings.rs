//! Per-store gateway settings: which gateway a store charges through and with which keys
//! (`PUT /admin/gateway`, `GET /admin/gateway`), the secret key sealed at rest.
//!
//! Invariants:
//! - The secret key is sealed with ChaCha20-Poly1305 ([`Sealer`]) under the key in
//!   `GATEWAY_SETTINGS_KEY`, with a fresh random nonce on every write and the store's id as
//!   associated data: a sealed secret moved to another store's row does not open.
//! - The secret never leaves in an answer or a log: answers carry its last four characters only;
//!   [`GatewaySettings`]'s and [`Sealer`]'s `Debug` redact.
//! - A store without settings charges through the platform's pagar.me account.
//! - Key rotation: every row names the key that sealed it (`key_id`, a fingerprint: the first
//!   4 bytes of the key's SHA-256, never the key). A row is opened only with the key it names —
//!   the current one or one of `GATEWAY_SETTINGS_PREVIOUS_KEYS` — and [`reseal`] (the periodic
//!   job `payments.reseal`, one replica at a time under its advisory lock) seals rows under a
//!   previous key again under the current one. A row whose key the process does not have is
//!   never opened with another, never overwritten by the job, and makes readiness `degraded`
//!   ([`unreadable`]), naming fingerprints and a count, never key material.
//! - Input is parsed into [`GatewaySettings`] or refused whole ([`parse`]): a refused `PUT`
//!   changes nothing.

use std::fmt;

use base64::Engine as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use service_kit::config::ConfigError;
use service_kit::problem::Problem;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db;

/// The environment variable holding the sealing key (32 bytes, hex or base64).
pub const KEY_VAR: &str = "GATEWAY_SETTINGS_KEY";

/// The environment variable holding the keys sealing used before (comma-separated, each like
/// [`KEY_VAR`]'s): still opened, re-sealed under the current key.
pub const PREVIOUS_KEYS_VAR: &str = "GATEWAY_SETTINGS_PREVIOUS_KEYS";

/// The key `make run` and the tests use when `GATEWAY_SETTINGS_KEY` is unset. Development
/// only: it is public, so anything sealed with it is as good as clear text.
pub const DEVELOPMENT_KEY: &str =
    "73756d6d69742d6465762d6f6e6c792d6e6f742d612d7265616c2d6b65792121";

/// A card gateway a store can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    PagarMe,
    Stripe,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::PagarMe => "pagarme",
            Provider::Stripe => "stripe",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pagarme" => Some(Provider::PagarMe),
            "stripe" => Some(Provider::Stripe),
            _ => None,
        }
    }
}

/// A store's gateway account.
#[derive(Clone)]
pub struct GatewaySettings {
    pub provider: Provider,
    pub public_key: String,
    pub secret_key: SecretString,
}

impl fmt::Debug for GatewaySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewaySettings")
            .field("provider", &self.provider)
            .field("public_key", &self.public_key)
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

impl GatewaySettings {
    /// A short, stable name of the account (provider and a hash of the secret): its circuit
    /// breaker and its rate-limit key. Never reveals the secret.
    pub fn account_id(&self) -> String {
        let digest = Sha256::digest(self.secret_key.expose_secret().as_bytes());
        format!("{}:{}", self.provider.as_str(), hex(&digest[..6]))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "sealed under a key this process does not have (fingerprint {0}): add that key to \
         GATEWAY_SETTINGS_PREVIOUS_KEYS, or the store saves its gateway settings again"
    )]
    OtherKey(String),
    #[error("the sealed secret does not open (corrupt, or another store's)")]
    Corrupt,
    #[error("no random nonce")]
    Random,
}

/// One sealing key and its fingerprint.
struct SealingKey {
    key: LessSafeKey,
    /// The first bytes of the key's SHA-256: which key sealed a row, for rotation.
    id: String,
}

impl SealingKey {
    /// 64 hex digits or the base64 of 32 bytes; `None` for anything else.
    fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let bytes = unhex(raw)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(raw).ok())
            .filter(|b| b.len() == 32)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).ok()?;
        let digest = Sha256::digest(&bytes);
        Some(Self {
            key: LessSafeKey::new(key),
            id: hex(&digest[..4]),
        })
    }
}

/// Seals and opens stores' gateway secrets (ChaCha20-Poly1305, 256-bit key): seals under the
/// current key, opens under the current key or a previous one.
pub struct Sealer {
    current: SealingKey,
    previous: Vec<SealingKey>,
    random: SystemRandom,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .field(
                "previous_key_ids",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// The key from 64 hex digits or the base64 of 32 bytes.
    pub fn new(raw: &SecretString) -> Result<Self, ConfigError> {
        let current = SealingKey::parse(raw.expose_secret()).ok_or_else(|| ConfigError {
            name: KEY_VAR.to_owned(),
            // Never the value itself.
            value: "(not 32 bytes as 64 hex digits or base64)".to_owned(),
        })?;
        Ok(Self {
            current,
            previous: Vec::new(),
            random: SystemRandom::new(),
        })
    }

    /// Also opens what `raw` (comma-separated keys, each as for [`Sealer::new`]) sealed. A
    /// malformed entry is refused by its position, never its value; the current key listed
    /// again is ignored.
    pub fn with_previous(mut self, raw: &SecretString) -> Result<Self, ConfigError> {
        for (n, entry) in raw.expose_secret().split(',').enumerate() {
            if entry.trim().is_empty() {
                continue;
            }
            let key = SealingKey::parse(entry).ok_or_else(|| ConfigError {
                name: PREVIOUS_KEYS_VAR.to_owned(),
                value: format!(
                    "(entry {} is not 32 bytes as 64 hex digits or base64)",
                    n + 1
                ),
            })?;
            if key.id != self.current.id && !self.previous.iter().any(|k| k.id == key.id) {
                self.previous.push(key);
            }
        }
        Ok(self)
    }

    /// The sealer `GATEWAY_SETTINGS_KEY` and `GATEWAY_SETTINGS_PREVIOUS_KEYS` describe.
    pub fn from_config(config: &crate::PaymentsConfig) -> Result<Self, ConfigError> {
        let sealer = Self::new(&config.gateway_settings_key)?;
        match &config.gateway_settings_previous_keys {
            Some(previous) => sealer.with_previous(previous),
            None => Ok(sealer),
        }
    }

    /// Whether this sealer can open what the key `key_id` sealed.
    pub fn knows(&self, key_id: &str) -> bool {
        key_id == self.current.id || self.previous.iter().any(|k| k.id == key_id)
    }

    /// The fingerprints of every key it opens with, the current one first.
    pub fn key_ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.id.clone())
            .collect()
    }

    /// The development key (`DEVELOPMENT_KEY`).
    pub fn development() -> Self {
        Self::new(&SecretString::from(DEVELOPMENT_KEY.to_owned()))
            .expect("the development key is 64 hex digits")
    }

    /// The current key's fingerprint: what new seals are made under.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to `store`.
    pub fn seal(&self, store: Uuid, secret: &SecretString) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut sealed = secret.expose_secret().as_bytes().to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(store.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        Ok(out)
    }

    pub fn open(
        &self,
        store: Uuid,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<SecretString, SealError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::OtherKey(key_id.to_owned()))?;
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt)?;
        let mut buffer = ciphertext.to_vec();
        let clear = key
            .key
            .open_in_place(nonce, Aad::from(store.as_bytes()), &mut buffer)
            .map_err(|_| SealError::Corrupt)?;
        let clear = String::from_utf8(clear.to_vec()).map_err(|_| SealError::Corrupt)?;
        Ok(SecretString::from(clear))
    }
}

const FIELDS: [&str; 3] = ["provider", "secret_key", "public_key"];

fn key_chars(s: &str) -> bool {
    (8..=256).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses a `PUT /admin/gateway` body, or names the first field that is wrong (422).
pub fn parse(body: &[u8]) -> Result<GatewaySettings, Problem> {
    let object: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| Problem::invalid("body", format!("a JSON object is expected ({e})")))?;
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(Problem::invalid(unknown, "unknown field"));
    }
    let text = |field: &str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| Problem::invalid(field, "a string is required"))
    };
    let provider = Provider::parse(text("provider")?)
        .ok_or_else(|| Problem::invalid("provider", "must be \"pagarme\" or \"stripe\""))?;
    let secret = text("secret_key")?;
    let public = text("public_key")?;
    let (secret_ok, public_ok, secret_rule, public_rule) = match provider {
        Provider::PagarMe => (
            secret.starts_with("sk_"),
            public.starts_with("pk_"),
            "a pagar.me secret key starts with sk_",
            "a pagar.me public key starts with pk_",
        ),
        Provider::Stripe => (
            secret.starts_with("sk_test_") || secret.starts_with("sk_live_"),
            public.starts_with("pk_test_") || public.starts_with("pk_live_"),
            "a Stripe secret key starts with sk_test_ or sk_live_",
            "a Stripe publishable key starts with pk_test_ or pk_live_",
        ),
    };
    if !secret_ok {
        return Err(Problem::invalid("secret_key", secret_rule));
    }
    if !key_chars(secret) {
        return Err(Problem::invalid(
            "secret_key",
            "8 to 256 characters: letters, digits, _",
        ));
    }
    if !public_ok {
        return Err(Problem::invalid("public_key", public_rule));
    }
    if !key_chars(public) {
        return Err(Problem::invalid(
            "public_key",
            "8 to 256 characters: letters, digits, _",
        ));
    }
    if provider == Provider::Stripe && secret.contains("_live_") != public.contains("_live_") {
        return Err(Problem::invalid(
            "public_key",
            "the publishable key and the secret key must both be test or both be live",
        ));
    }
    Ok(GatewaySettings {
        provider,
        public_key: public.to_owned(),
        secret_key: SecretString::from(secret.to_owned()),
    })
}

fn last4(secret: &SecretString) -> String {
    let s = secret.expose_secret();
    s[s.len().saturating_sub(4)..].to_owned()
}

/// What `GET /admin/gateway` shows: never the secret, only its last four characters.
pub fn shown(provider: &str, public_key: Option<&str>, last4: Option<&str>) -> Value {
    json!({
        "provider": provider,
        "public_key": public_key,
        "secret_key_last4": last4,
        "customised": last4.is_some(),
    })
}

/// The platform's account, for a store without settings.
pub fn platform_default() -> Value {
    shown(Provider::PagarMe.as_str(), None, None)
}

/// Saves a store's settings (sealing the secret) and returns what `GET` shows.
pub async fn save(
    pool: &PgPool,
    sealer: &Sealer,
    store: Uuid,
    settings: &GatewaySettings,
) -> Result<Value, SaveError> {
    let sealed = sealer.seal(store, &settings.secret_key)?;
    let last4 = last4(&settings.secret_key);
    let mut tx = db::begin_for(pool, store).await?;
    sqlx::query(
        "INSERT INTO gateway_settings
             (store_id, provider, public_key, secret_key_sealed, secret_key_last4, key_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (store_id) DO UPDATE SET provider = EXCLUDED.provider,
             public_key = EXCLUDED.public_key, secret_key_sealed = EXCLUDED.secret_key_sealed,
             secret_key_last4 = EXCLUDED.secret_key_last4, key_id = EXCLUDED.key_id,
             updated_at = now()",
    )
    .bind(store)
    .bind(settings.provider.as_str())
    .bind(&settings.public_key)
    .bind(&sealed)
    .bind(&last4)
    .bind(sealer.key_id())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(shown(
        settings.provider.as_str(),
        Some(&settings.public_key),
        Some(&last4),
    ))
}

/// Why settings could not be saved or read.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// What `GET /admin/gateway` shows for `store`.
pub async fn show(pool: &PgPool, store: Uuid) -> Result<Value, sqlx::Error> {
    let mut tx = db::begin_for(pool, store).await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT provider, public_key, secret_key_last4 FROM gateway_settings WHERE store_id = $1",
    )
    .bind(store)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(match row {
        Some((provider, public_key, last4)) => shown(&provider, Some(&public_key), Some(&last4)),
        None => platform_default(),
    })
}

/// The store's own account, opened; `None` for a store that uses the platform's.
pub async fn load(
    pool: &PgPool,
    sealer: &Sealer,
    store: Uuid,
) -> Result<Option<GatewaySettings>, SaveError> {
    let mut tx = db::begin_for(pool, store).await?;
    let row: Option<(String, String, Vec<u8>, String)> = sqlx::query_as(
        "SELECT provider, public_key, secret_key_sealed, key_id
         FROM gateway_settings WHERE store_id = $1",
    )
    .bind(store)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some((provider, public_key, sealed, key_id)) = row else {
        return Ok(None);
    };
    // The CHECK constraint admits only the known providers.
    let provider = Provider::parse(&provider).ok_or(SealError::Corrupt)?;
    Ok(Some(GatewaySettings {
        provider,
        public_key,
        secret_key: sealer.open(store, &key_id, &sealed)?,
    }))
}

/// The housekeeping door through which [`reseal`] and [`unreadable`] see every store's row
/// (its policy in migrations/…_gateway_settings_rotation.sql; SELECT only).
const ROTATION_DOOR: &str = "payments-key-rotation";

/// Every row's store and fingerprint, through the rotation door.
async fn sealed_rows(pool: &PgPool) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.housekeeping', $1, true)")
        .bind(ROTATION_DOOR)
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query_as("SELECT store_id, key_id FROM gateway_settings ORDER BY store_id")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Seals again, under the current key, every row sealed under a previous key; returns how
/// many. Each row is rewritten in its store's own transaction, only if it is still what was
/// read (a `PUT` in between wins). A row under a key the sealer does not have is left as it is
/// (logged by fingerprint). Run as the periodic job `payments.reseal` (advisory lock).
pub async fn reseal(pool: &PgPool, sealer: &Sealer) -> Result<u64, sqlx::Error> {
    let mut resealed = 0;
    for (store, key_id) in sealed_rows(pool).await? {
        if key_id == sealer.key_id() || !sealer.knows(&key_id) {
            continue;
        }
        let mut tx = db::begin_for(pool, store).await?;
        let row: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT secret_key_sealed FROM gateway_settings
             WHERE store_id = $1 AND key_id = $2 FOR UPDATE",
        )
        .bind(store)
        .bind(&key_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(sealed) = row else {
            continue; // saved again meanwhile, under the current key
        };
        let secret = match sealer.open(store, &key_id, &sealed) {
            Ok(secret) => secret,
            Err(error) => {
                tracing::error!(%store, key_id, %error, "gateway secret not re-sealed");
                continue;
            }
        };
        let Ok(sealed_again) = sealer.seal(store, &secret) else {
            tracing::error!(%store, "gateway secret not re-sealed: no random nonce");
            continue;
        };
        sqlx::query(
            "UPDATE gateway_settings SET secret_key_sealed = $2, key_id = $3
             WHERE store_id = $1",
        )
        .bind(store)
        .bind(&sealed_again)
        .bind(sealer.key_id())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        resealed += 1;
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            key_id = sealer.key_id(),
            "gateway secrets re-sealed under the current key"
        );
    }
    Ok(resealed)
}

/// `Err(reason)` when some stores' secrets were sealed under a key this process does not
/// have (their charges wait as `pending_offline`): readiness reports it as `degraded`, naming
/// how many and the keys' fingerprints, never a key.
pub async fn unreadable(pool: &PgPool, sealer: &Sealer) -> Result<(), String> {
    let rows = sealed_rows(pool)
        .await
        .map_err(|e| format!("gateway settings not read: {e}"))?;
    let mut unknown: Vec<&str> = rows
        .iter()
        .filter(|(_, key_id)| !sealer.knows(key_id))
        .map(|(_, key_id)| key_id.as_str())
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let count = unknown.len();
    unknown.sort_unstable();
    unknown.dedup();
    Err(format!(
        "{count} store gateway setting(s) sealed under a key this process does not have \
         (key fingerprint(s) {}): set it in {PREVIOUS_KEYS_VAR}, or the stores save their \
         settings again",
        unknown.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_for_its_store_only() {
        let sealer = Sealer::development();
        let store = Uuid::now_v7();
        let secret = SecretString::from("sk_test_abcdef123456".to_owned());
        let sealed = sealer.seal(store, &secret).unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"sk_test_"));
        let opened = sealer.open(store, sealer.key_id(), &sealed).unwrap();
        assert_eq!(opened.expose_secret(), "sk_test_abcdef123456");
        assert!(
            sealer
                .open(Uuid::now_v7(), sealer.key_id(), &sealed)
                .is_err()
        );
        assert!(matches!(
            sealer.open(store, "00000000", &sealed),
            Err(SealError::OtherKey(_))
        ));
        assert_ne!(
            sealed,
            sealer.seal(store, &secret).unwrap(),
            "a fresh nonce"
        );
    }

    #[test]
    fn a_previous_key_opens_what_it_sealed_and_new_seals_use_the_current_key() {
        let a = "aa".repeat(32);
        let b = base64::engine::general_purpose::STANDARD.encode([0xbb_u8; 32]);
        let old = Sealer::new(&SecretString::from(a.clone())).unwrap();
        let store = Uuid::now_v7();
        let secret = SecretString::from("sk_test_rotate_me".to_owned());
        let sealed = old.seal(store, &secret).unwrap();

        let rotated = Sealer::new(&SecretString::from(b.clone()))
            .unwrap()
            .with_previous(&SecretString::from(format!(" {a} ,{b},")))
            .unwrap();
        assert_ne!(rotated.key_id(), old.key_id());
        assert_eq!(
            rotated.key_ids(),
            [rotated.key_id(), old.key_id()],
            "current listed once"
        );
        assert!(rotated.knows(old.key_id()));
        let opened = rotated.open(store, old.key_id(), &sealed).unwrap();
        assert_eq!(opened.expose_secret(), "sk_test_rotate_me");
        let resealed = rotated.seal(store, &opened).unwrap();
        assert!(rotated.open(store, rotated.key_id(), &resealed).is_ok());
        assert!(old.open(store, rotated.key_id(), &resealed).is_err());

        let only_b = Sealer::new(&SecretString::from(b)).unwrap();
        assert!(!only_b.knows(old.key_id()));
        assert!(matches!(
            only_b.open(store, old.key_id(), &sealed),
            Err(SealError::OtherKey(_))
        ));
        // A malformed previous key is refused by position, never by value.
        let error = only_b
            .with_previous(&SecretString::from(format!("{a},not-a-key-{a}")))
            .unwrap_err();
        assert_eq!(error.name, PREVIOUS_KEYS_VAR);
        assert!(error.value.contains("entry 2") && !error.value.contains(&a));
    }

    #[test]
    fn keys_come_as_hex_or_base64_of_32_bytes() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(Sealer::new(&SecretString::from(b64)).is_ok());
        assert!(Sealer::new(&SecretString::from("ab".repeat(32))).is_ok());
        let error = Sealer::new(&SecretString::from("ab".repeat(16))).unwrap_err();
        assert!(!error.to_string().contains(&"ab".repeat(16)));
    }

    #[test]
    fn input_is_refused_naming_the_field() {
        let field = |body: Value| {
            parse(body.to_string().as_bytes())
                .unwrap_err()
                .errors
                .first()
                .map(|e| e.field.clone())
        };
        let ok = json!({"provider": "pagarme", "secret_key": "sk_abcdef12", "public_key": "pk_abcdef12"});
        assert!(parse(ok.to_string().as_bytes()).is_ok());
        let mut extra = ok.clone();
        extra["colour"] = json!("red");
        assert_eq!(field(extra).as_deref(), Some("colour"));
        let mut bad = ok.clone();
        bad["secret_key"] = json!("pk_abcdef12");
        assert_eq!(field(bad).as_deref(), Some("secret_key"));
        let stripe = json!({"provider": "stripe", "secret_key": "sk_abcdef12", "public_key": "pk_test_abcdef"});
        assert_eq!(field(stripe).as_deref(), Some("secret_key"));
        let mixed = json!({"provider": "stripe", "secret_key": "sk_live_abcdef12", "public_key": "pk_test_abcdef"});
        assert_eq!(field(mixed).as_deref(), Some("public_key"));
        assert_eq!(
            field(json!({"provider": "paypal", "secret_key": "x", "public_key": "y"})).as_deref(),
            Some("provider")
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let settings = GatewaySettings {
            provider: Provider::Stripe,
            public_key: "pk_test_x".into(),
            secret_key: SecretString::from("sk_test_very_secret".to_owned()),
        };
        assert!(!format!("{settings:?}").contains("very_secret"));
        assert!(settings.account_id().starts_with("stripe:"));
        assert!(!settings.account_id().contains("very_secret"));
    }
}
