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
    #[error("sealed with another key ({0}); the store must save its gateway settings again")]
    OtherKey(String),
    #[error("the sealed secret does not open (corrupt, or another store's)")]
    Corrupt,
    #[error("no random nonce")]
    Random,
}

/// Seals and opens stores' gateway secrets (ChaCha20-Poly1305, 256-bit key).
pub struct Sealer {
    key: LessSafeKey,
    /// The first bytes of the key's SHA-256: which key sealed a row, for rotation.
    key_id: String,
    random: SystemRandom,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// The key from 64 hex digits or the base64 of 32 bytes.
    pub fn new(raw: &SecretString) -> Result<Self, ConfigError> {
        let refused = || ConfigError {
            name: KEY_VAR.to_owned(),
            // Never the value itself.
            value: "(not 32 bytes as 64 hex digits or base64)".to_owned(),
        };
        let raw = raw.expose_secret().trim();
        let bytes = unhex(raw)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(raw).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(refused)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| refused())?;
        let digest = Sha256::digest(&bytes);
        Ok(Self {
            key: LessSafeKey::new(key),
            key_id: hex(&digest[..4]),
            random: SystemRandom::new(),
        })
    }

    /// The development key (`DEVELOPMENT_KEY`).
    pub fn development() -> Self {
        Self::new(&SecretString::from(DEVELOPMENT_KEY.to_owned()))
            .expect("the development key is 64 hex digits")
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `nonce ‖ ciphertext ‖ tag`, bound to `store`.
    pub fn seal(&self, store: Uuid, secret: &SecretString) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut sealed = secret.expose_secret().as_bytes().to_vec();
        self.key
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
        if key_id != self.key_id {
            return Err(SealError::OtherKey(key_id.to_owned()));
        }
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Corrupt)?;
        let mut buffer = ciphertext.to_vec();
        let clear = self
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
