//! `Idempotency-Key` on HTTP writes (docs/design.md: "a repeat returns the first result"),
//! shared by every service that takes such writes (catalog, checkout). Each service keeps the
//! table `idempotency_keys` in its own database with the same columns and row-level security
//! policies (see catalog's migrations `20261122000004` and `20261122000006`).
//!
//! A write that carries a key claims `(scope, SHA-256 of the key)` in `idempotency_keys` at the
//! start of its transaction and completes the row with its response before committing, so the
//! record and the effect commit together or not at all:
//! - a repeat with the same request (same SHA-256 of method, path and body) gets the recorded
//!   status and body, and acts no second time; a concurrent repeat waits on the claim, then
//!   replays;
//! - the same key with another request is refused (422 `idempotency-key-reused`);
//! - a refused or failed request records nothing, so its retry is judged afresh.
//!
//! A key lives for [`TTL`] (a client retries within minutes). Past it the key is absent: its
//! next use claims it afresh, whether or not the hourly [`trim`] has deleted the row yet.
//! Row-level security keeps a store's rows, expired or not, to that store; only the trim's own
//! transaction (named by `app.housekeeping`) reaches other stores' expired rows, to delete them.
//!
//! The scope is the acting store, or `public` for store creation. A recorded store creation
//! gives its admin key again to whoever repeats it with the idempotency key: that key is as
//! good as the admin key until it expires, so clients treat it as a secret. The database never
//! holds the admin key in the clear: it is kept XOR a pad derived from the idempotency key
//! (which is itself kept only as a hash).

use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::admin_key;

/// Why a key could not be claimed or recorded. Services map it to their own error once.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The header breaks its rule (a 422 on the `Idempotency-Key` field).
    #[error("Idempotency-Key: {0}")]
    InvalidKey(&'static str),
    /// The key was used for a different request (422 `idempotency-key-reused`).
    #[error("this Idempotency-Key was used for a different request")]
    Reused,
    /// The first request with this key has not finished (409).
    #[error("a request with this Idempotency-Key is in progress")]
    InProgress,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// How long a key answers with its first response (a Postgres interval; the migration
/// `20261122000006` uses the same age for the trim's policies).
pub const TTL: &str = "1 day";

/// A request's key and fingerprint, before authentication names its scope.
#[derive(Debug, Clone)]
pub struct RequestKey {
    key: String,
    fingerprint: String,
}

impl RequestKey {
    /// Checks the key (1–255 visible ASCII characters) and fingerprints the request.
    pub fn new(key: &str, method: &str, path: &str, body: &[u8]) -> Result<Self, IdempotencyError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(IdempotencyError::InvalidKey(
                "must be 1 to 255 visible ASCII characters (a UUID is ideal)",
            ));
        }
        let mut digest = Sha256::new();
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
            digest.update(part);
        }
        Ok(Self {
            key: key.to_owned(),
            fingerprint: admin_key::hex(&digest.finalize()),
        })
    }

    /// For a store's own writes.
    pub fn for_store(&self, store_id: Uuid) -> Idempotency {
        self.scoped(store_id.to_string())
    }

    /// For writes that belong to no store yet (store creation).
    pub fn public(&self) -> Idempotency {
        self.scoped("public".to_owned())
    }

    fn scoped(&self, scope: String) -> Idempotency {
        let pad: [u8; 32] = Sha256::new()
            // The domain string predates the move out of catalog; changing it would break the
            // sealed keys already recorded.
            .chain_update(b"summit catalog idempotency seal\0")
            .chain_update(scope.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.key.as_bytes())
            .finalize()
            .into();
        Idempotency {
            key_hash: admin_key::hash(&self.key),
            fingerprint: self.fingerprint.clone(),
            scope,
            pad,
            secret: Secret {
                field: "admin_key",
                prefix: admin_key::PREFIX,
                base64: false,
            },
        }
    }
}

/// A key in its scope: what a write claims and records.
pub struct Idempotency {
    scope: String,
    key_hash: String,
    fingerprint: String,
    pad: [u8; 32],
    /// The response field that holds a secret, kept sealed (never in the clear).
    secret: Secret,
}

/// A top-level response field holding a secret of `prefix` + 32 random bytes, written as 64
/// hex digits or (`base64`) in standard base64.
#[derive(Debug, Clone, Copy)]
struct Secret {
    field: &'static str,
    prefix: &'static str,
    base64: bool,
}

impl Idempotency {
    /// Seals `field` instead of `admin_key`: a secret of `prefix` followed by 64 hex digits
    /// (e.g. an order's status token), so the database never holds it in the clear.
    pub fn sealing(mut self, field: &'static str, prefix: &'static str) -> Self {
        self.secret = Secret {
            field,
            prefix,
            base64: false,
        };
        self
    }

    /// Seals `field` holding `prefix` + standard base64 of 32 random bytes (a Standard
    /// Webhooks `whsec_…` signing secret).
    pub fn sealing_base64(mut self, field: &'static str, prefix: &'static str) -> Self {
        self.secret = Secret {
            field,
            prefix,
            base64: true,
        };
        self
    }
}

/// What a write that may carry a key did: its effect, or the first response to replay.
pub enum Outcome<T> {
    Done(T),
    Replayed(Recorded),
}

/// A recorded response.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub status: u16,
    pub body: Value,
}

/// Claims the key in `conn`'s transaction. `None`: this request is the first, go ahead (and
/// [`record`] before committing). `Some`: the first one's response, to return as it is.
pub async fn claim(
    conn: &mut PgConnection,
    idem: &Idempotency,
) -> Result<Option<Recorded>, IdempotencyError> {
    // A concurrent holder of the same key makes this wait until it commits or rolls back. An
    // expired row is absent: it is taken over as a fresh claim (the next repeat then waits on
    // this claim, sees a current row and replays it).
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key_hash, fingerprint) VALUES ($1, $2, $3)
         ON CONFLICT (scope, key_hash) DO UPDATE SET
             fingerprint = EXCLUDED.fingerprint, status = NULL, body = NULL, sealed_key = NULL,
             created_at = now()
         WHERE idempotency_keys.created_at < now() - $4::interval",
    )
    .bind(&idem.scope)
    .bind(&idem.key_hash)
    .bind(&idem.fingerprint)
    .bind(TTL)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let (fingerprint, status, body, sealed): (String, Option<i16>, Option<Value>, Option<Vec<u8>>) =
        sqlx::query_as(
            "SELECT fingerprint, status, body, sealed_key FROM idempotency_keys
             WHERE scope = $1 AND key_hash = $2",
        )
        .bind(&idem.scope)
        .bind(&idem.key_hash)
        .fetch_one(&mut *conn)
        .await?;
    if fingerprint != idem.fingerprint {
        return Err(IdempotencyError::Reused);
    }
    let (Some(status), Some(mut body)) = (status, body) else {
        // Claims complete in their own transaction, so a visible claim is always complete.
        return Err(IdempotencyError::InProgress);
    };
    if let (Some(sealed), Some(object)) = (sealed, body.as_object_mut()) {
        let key = open(&sealed, idem.secret, &idem.pad);
        object.insert(idem.secret.field.into(), Value::String(key));
    }
    Ok(Some(Recorded {
        status: status as u16,
        body,
    }))
}

/// Completes the claim with the response, in the transaction of the effect. A top-level
/// `admin_key` (or the field named by [`Idempotency::sealing`]) is kept sealed, never in the clear.
pub async fn record(
    conn: &mut PgConnection,
    idem: &Idempotency,
    status: u16,
    mut body: Value,
) -> Result<(), IdempotencyError> {
    let sealed = body
        .as_object_mut()
        .and_then(|object| object.remove(idem.secret.field))
        .and_then(|key| seal(key.as_str()?, idem.secret, &idem.pad));
    sqlx::query(
        "UPDATE idempotency_keys SET status = $3, body = $4, sealed_key = $5
         WHERE scope = $1 AND key_hash = $2",
    )
    .bind(&idem.scope)
    .bind(&idem.key_hash)
    .bind(status as i16)
    .bind(&body)
    .bind(sealed)
    .execute(conn)
    .await?;
    Ok(())
}

/// A secret's 32 random bytes XOR the pad; `None` if it is not `prefix` + 32 bytes in the
/// secret's encoding.
fn seal(key: &str, secret: Secret, pad: &[u8; 32]) -> Option<Vec<u8>> {
    use base64::Engine;
    let encoded = key.strip_prefix(secret.prefix)?;
    let bytes = if secret.base64 {
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?
    } else {
        crate::admin_key::unhex(encoded)?
    };
    (bytes.len() == pad.len()).then(|| xor(&bytes, pad))
}

/// The secret [`seal`] sealed, written again as it was.
fn open(sealed: &[u8], secret: Secret, pad: &[u8; 32]) -> String {
    use base64::Engine;
    let bytes = xor(sealed, pad);
    let encoded = if secret.base64 {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    } else {
        admin_key::hex(&bytes)
    };
    format!("{}{encoded}", secret.prefix)
}

fn xor(bytes: &[u8], pad: &[u8; 32]) -> Vec<u8> {
    bytes.iter().zip(pad).map(|(b, p)| b ^ p).collect()
}

/// Deletes expired keys of every store; returns how many went. Its transaction names itself
/// (`app.housekeeping`), which is what lets row-level security show it other stores' expired
/// rows, and nothing else.
pub async fn trim(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('app.housekeeping', 'idempotency-trim', true)")
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval")
        .bind(TTL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

impl From<IdempotencyError> for crate::Problem {
    fn from(error: IdempotencyError) -> Self {
        use axum::http::StatusCode;
        match error {
            IdempotencyError::InvalidKey(message) => Self::invalid("Idempotency-Key", message),
            IdempotencyError::Reused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            )
            .detail("this Idempotency-Key was used for a different request"),
            IdempotencyError::InProgress => Self::conflict(error.to_string()),
            IdempotencyError::Database(error) => Self::internal(&error),
        }
    }
}

/// A JSON body (as [`crate::ProblemJson`] reads it) and, when the request has an
/// `Idempotency-Key`, that key with the request's fingerprint (method, path, the body's bytes).
/// Rejections are problems.
pub struct IdempotentJson<T> {
    pub input: T,
    pub key: Option<RequestKey>,
}

fn header_of(headers: &axum::http::HeaderMap) -> Result<Option<String>, crate::Problem> {
    match headers.get(HEADER) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            crate::Problem::invalid("Idempotency-Key", "must be visible ASCII characters")
        }),
    }
}

impl<S, T> axum::extract::FromRequest<S> for IdempotentJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = crate::Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, crate::Problem> {
        use axum::extract::Request;
        let Some(header) = header_of(req.headers())? else {
            let crate::ProblemJson(input) =
                crate::ProblemJson::<T>::from_request(req, state).await?;
            return Ok(Self { input, key: None });
        };
        let (parts, body) = req.into_parts();
        let bytes =
            axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
                .map_err(|e| match e.status() {
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                        crate::Problem::payload_too_large(e.body_text())
                    }
                    status => crate::Problem::new(status, "bad-request", e.body_text()),
                })?;
        let key = RequestKey::new(&header, parts.method.as_str(), parts.uri.path(), &bytes)?;
        let crate::ProblemJson(input) =
            crate::ProblemJson::<T>::from_request(Request::from_parts(parts, bytes.into()), state)
                .await?;
        Ok(Self {
            input,
            key: Some(key),
        })
    }
}

/// The `Idempotency-Key` of a write without a body, fingerprinted by method and path.
pub struct IdempotencyKey(pub Option<RequestKey>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdempotencyKey {
    type Rejection = crate::Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, crate::Problem> {
        let Some(header) = header_of(&parts.headers)? else {
            return Ok(Self(None));
        };
        Ok(Self(Some(RequestKey::new(
            &header,
            parts.method.as_str(),
            parts.uri.path(),
            b"",
        )?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_requests_fingerprinted() {
        assert!(RequestKey::new("", "POST", "/stores", b"{}").is_err());
        assert!(RequestKey::new("a b", "POST", "/stores", b"{}").is_err());
        assert!(RequestKey::new(&"k".repeat(256), "POST", "/stores", b"{}").is_err());
        let a = RequestKey::new("k-1", "POST", "/stores", b"{}").unwrap();
        let b = RequestKey::new("k-1", "POST", "/stores", b"{ }").unwrap();
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.fingerprint,
            RequestKey::new("k-1", "POST", "/stores", b"{}")
                .unwrap()
                .fingerprint
        );
    }

    #[test]
    fn admin_keys_are_sealed_per_idempotency_key() {
        let key = admin_key::AdminKey::generate();
        let idem = RequestKey::new("k-1", "POST", "/stores", b"{}")
            .unwrap()
            .public();
        let sealed = seal(key.expose(), idem.secret, &idem.pad).unwrap();
        assert_eq!(sealed.len(), 32);
        assert!(!admin_key::hex(&sealed).contains(&key.expose()[3..]));
        assert_eq!(open(&sealed, idem.secret, &idem.pad), key.expose());
        let other = RequestKey::new("k-2", "POST", "/stores", b"{}")
            .unwrap()
            .public();
        assert_ne!(other.pad, idem.pad);
        assert!(seal("not-a-key", idem.secret, &idem.pad).is_none());
    }

    #[test]
    fn base64_secrets_are_sealed_too() {
        use base64::Engine;
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        let idem = RequestKey::new("k-1", "POST", "/admin/webhooks", b"{}")
            .unwrap()
            .for_store(Uuid::nil())
            .sealing_base64("secret", "whsec_");
        let sealed = seal(&secret, idem.secret, &idem.pad).unwrap();
        assert_ne!(sealed, vec![7u8; 32]);
        assert_eq!(open(&sealed, idem.secret, &idem.pad), secret);
        assert!(seal("whsec_!!", idem.secret, &idem.pad).is_none());
    }
}
