//! The merchant's side of notifications over HTTP (admin key as `Authorization: Bearer`):
//!
//! - `GET`/`PUT /admin/settings` — the language of the store's mail (`pt`, `en`).
//! - `GET /admin/templates` — every kind in every language, the store's own or the default;
//!   `PUT /admin/templates/{kind}` saves one (refused with the part, line and reason if it does
//!   not compile or render); `DELETE /admin/templates/{kind}?language=` goes back to the default.
//! - `POST /admin/webhooks` (the secret `whsec_…` is in this answer only), `GET`, `GET/PATCH/
//!   DELETE /admin/webhooks/{id}`, `POST /admin/webhooks/{id}/rotate-secret`.
//! - `GET /admin/deliveries?endpoint=&status=&channel=&cursor=` (newest first, each with its
//!   attempts), `GET /admin/deliveries/{id}`, `POST /admin/deliveries/{id}/resend`.
//! - `GET /openapi.json` — the above in OpenAPI 3.1 ([`crate::openapi`]).
//!
//! `POST /admin/webhooks` and `POST /admin/webhooks/{id}/rotate-secret` take an
//! `Idempotency-Key` (service-kit's, recorded with the effect): a repeat gets the first answer,
//! secret included (kept sealed, never in the clear), so a retried rotation never rotates twice.
//!
//! Invariants: a request acts as the key's store, names it in every query and runs in its
//! tenant transaction (row-level security), so another store's endpoint or delivery is the same
//! 404 as an unknown one; secrets appear only in the answers that create them; errors are
//! problems.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use service_kit::idempotency::{self, IdempotencyKey, IdempotentJson};
use service_kit::problem::{Problem, ProblemJson, ProblemQuery};
use sqlx::PgPool;
use uuid::Uuid;

use crate::deliveries::{self, Channel};
use crate::mail::{Kind, Language};
use crate::templates::{self, Source};
use crate::{intake, signature, ssrf};

const PAGE: i64 = 50;

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    pub pool: PgPool,
    /// `WEBHOOK_ALLOW_PRIVATE`: the same rule at registration as at delivery.
    pub allow_private: bool,
}

/// A problem, or the database failing behind it.
pub struct ApiError(Problem);

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError(Problem::internal(&e))
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(p)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// The store whose admin key came as `Authorization: Bearer <key>`.
struct Admin(Uuid);

impl FromRequestParts<Api> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self> {
        let key = service_kit::tenant::bearer_key(&parts.headers)
            .ok_or(ApiError(Problem::unauthorized()))?;
        let store = service_kit::tenant::store_by_admin_key(&api.pool, key)
            .await?
            .ok_or(ApiError(Problem::unauthorized()))?;
        Ok(Admin(store))
    }
}

pub fn router(api: Api) -> Router {
    Router::new()
        .route("/admin/settings", get(settings).put(put_settings))
        .route("/admin/templates", get(list_templates))
        .route(
            "/admin/templates/{kind}",
            put(put_template).delete(delete_template),
        )
        .route("/admin/webhooks", post(create_endpoint).get(list_endpoints))
        .route(
            "/admin/webhooks/{id}",
            get(one_endpoint)
                .patch(patch_endpoint)
                .delete(delete_endpoint),
        )
        .route("/admin/webhooks/{id}/rotate-secret", post(rotate_secret))
        .route("/admin/deliveries", get(list_deliveries))
        .route("/admin/deliveries/{id}", get(one_delivery))
        .route("/admin/deliveries/{id}/resend", post(resend))
        .route("/openapi.json", get(crate::openapi::serve))
        .with_state(api)
}

fn parse_id(raw: &str, what: &str) -> Result<Uuid> {
    raw.parse().map_err(|_| ApiError(Problem::not_found(what)))
}

// --- settings ---------------------------------------------------------------------------

async fn settings(State(api): State<Api>, Admin(store): Admin) -> Result<Json<Value>> {
    let language: String = sqlx::query_scalar("SELECT language FROM stores WHERE id = $1")
        .bind(store)
        .fetch_one(&api.pool)
        .await?;
    Ok(Json(json!({ "language": language })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    language: String,
}

async fn put_settings(
    State(api): State<Api>,
    Admin(store): Admin,
    ProblemJson(body): ProblemJson<SettingsBody>,
) -> Result<Json<Value>> {
    let language = Language::parse(&body.language)
        .ok_or_else(|| Problem::invalid("language", "must be pt or en"))?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    sqlx::query("UPDATE stores SET language = $2, updated_at = now() WHERE id = $1")
        .bind(store)
        .bind(language.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(json!({ "language": language.as_str() })))
}

// --- templates --------------------------------------------------------------------------

async fn list_templates(State(api): State<Api>, Admin(store): Admin) -> Result<Json<Value>> {
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let custom: Vec<(String, String, String, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT kind, language, subject, html, text, updated_at FROM templates
         WHERE store_id = $1",
    )
    .bind(store)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut items = Vec::new();
    for kind in Kind::ALL {
        for language in Language::ALL {
            let own = custom
                .iter()
                .find(|(k, l, ..)| k == kind.as_str() && l == language.as_str());
            let item = match own {
                Some((_, _, subject, html, text, updated_at)) => json!({
                    "kind": kind.as_str(), "language": language.as_str(), "custom": true,
                    "subject": subject, "html": html, "text": text, "updated_at": updated_at,
                }),
                None => {
                    let default = templates::default(kind, language);
                    json!({
                        "kind": kind.as_str(), "language": language.as_str(), "custom": false,
                        "subject": default.subject, "html": default.html, "text": default.text,
                    })
                }
            };
            items.push(item);
        }
    }
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    /// Default: the store's language.
    language: Option<String>,
    subject: String,
    html: String,
    text: String,
}

async fn store_language(api: &Api, store: Uuid) -> Result<Language> {
    let raw: String = sqlx::query_scalar("SELECT language FROM stores WHERE id = $1")
        .bind(store)
        .fetch_one(&api.pool)
        .await?;
    Ok(Language::parse(&raw).unwrap_or(Language::Pt))
}

async fn put_template(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(kind): Path<String>,
    ProblemJson(body): ProblemJson<TemplateBody>,
) -> Result<Json<Value>> {
    let kind = Kind::parse(&kind).ok_or_else(|| Problem::not_found("template kind"))?;
    let language = match body.language.as_deref() {
        Some(raw) => {
            Language::parse(raw).ok_or_else(|| Problem::invalid("language", "must be pt or en"))?
        }
        None => store_language(&api, store).await?,
    };
    let source = Source {
        subject: body.subject,
        html: body.html,
        text: body.text,
    };
    templates::validate(kind, language, &source).map_err(|e| {
        let line = e.line.map_or_else(String::new, |l| format!("line {l}: "));
        Problem::invalid(e.part, format!("{line}{}", e.reason))
    })?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    sqlx::query(
        "INSERT INTO templates (store_id, kind, language, subject, html, text)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (store_id, kind, language) DO UPDATE SET subject = EXCLUDED.subject,
             html = EXCLUDED.html, text = EXCLUDED.text, updated_at = now()",
    )
    .bind(store)
    .bind(kind.as_str())
    .bind(language.as_str())
    .bind(&source.subject)
    .bind(&source.html)
    .bind(&source.text)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(json!({
        "kind": kind.as_str(), "language": language.as_str(), "custom": true,
        "subject": source.subject, "html": source.html, "text": source.text,
    })))
}

#[derive(Deserialize)]
struct LanguageQuery {
    language: Option<String>,
}

async fn delete_template(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(kind): Path<String>,
    ProblemQuery(query): ProblemQuery<LanguageQuery>,
) -> Result<StatusCode> {
    let kind = Kind::parse(&kind).ok_or_else(|| Problem::not_found("template kind"))?;
    let language = match query.language.as_deref() {
        Some(raw) => {
            Language::parse(raw).ok_or_else(|| Problem::invalid("language", "must be pt or en"))?
        }
        None => store_language(&api, store).await?,
    };
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    sqlx::query("DELETE FROM templates WHERE store_id = $1 AND kind = $2 AND language = $3")
        .bind(store)
        .bind(kind.as_str())
        .bind(language.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- webhook endpoints ------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    url: String,
    event_types: Vec<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<DateTime<Utc>>,
    consecutive_failures: i32,
    previous_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str = "id, url, event_types, enabled, disabled_reason, failing_since,
    consecutive_failures, previous_expires_at, created_at, updated_at";

impl EndpointRow {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "event_types": self.event_types,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "failing_since": self.failing_since,
            "consecutive_failures": self.consecutive_failures,
            "previous_secret_expires_at": self.previous_expires_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

async fn check_url(api: &Api, raw: &str) -> Result<String> {
    let target =
        ssrf::parse(raw, api.allow_private).map_err(|e| Problem::invalid("url", e.to_string()))?;
    ssrf::resolve(&target, api.allow_private)
        .await
        .map_err(|e| Problem::invalid("url", e.to_string()))?;
    Ok(target.url.to_string())
}

fn check_event_types(types: &[String]) -> Result<Vec<String>> {
    if types.is_empty() {
        return Err(Problem::invalid("event_types", "name at least one event type").into());
    }
    let known = intake::webhook_event_types();
    let mut out: Vec<String> = Vec::new();
    for kind in types {
        if !known.contains(&kind.as_str()) {
            return Err(Problem::invalid(
                "event_types",
                format!("unknown event type {kind:?}; known: {}", known.join(", ")),
            )
            .into());
        }
        if !out.contains(kind) {
            out.push(kind.clone());
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    event_types: Vec<String>,
}

/// The first answer to a repeated `Idempotency-Key`, as it was.
fn replay(recorded: idempotency::Recorded) -> (StatusCode, Json<Value>) {
    (
        StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK),
        Json(recorded.body),
    )
}

/// The key's claim in `tx`, scoped to the store, sealing the `secret` of the answer.
async fn claim(
    tx: &mut sqlx::PgConnection,
    key: Option<&idempotency::RequestKey>,
    store: Uuid,
) -> Result<(
    Option<idempotency::Idempotency>,
    Option<idempotency::Recorded>,
)> {
    let Some(key) = key else {
        return Ok((None, None));
    };
    let idem = key
        .for_store(store)
        .sealing_base64("secret", signature::PREFIX);
    let recorded = idempotency::claim(tx, &idem).await.map_err(Problem::from)?;
    Ok((Some(idem), recorded))
}

async fn create_endpoint(
    State(api): State<Api>,
    Admin(store): Admin,
    IdempotentJson { input: body, key }: IdempotentJson<NewEndpoint>,
) -> Result<(StatusCode, Json<Value>)> {
    let url = check_url(&api, &body.url).await?;
    let event_types = check_event_types(&body.event_types)?;
    let secret = signature::generate_secret();
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let (idem, recorded) = claim(&mut tx, key.as_ref(), store).await?;
    if let Some(recorded) = recorded {
        tx.commit().await?;
        return Ok(replay(recorded));
    }
    let row: EndpointRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_endpoints (id, store_id, url, event_types, secret)
         VALUES ($1, $2, $3, $4, $5) RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(store)
    .bind(&url)
    .bind(&event_types)
    .bind(&secret)
    .fetch_one(&mut *tx)
    .await?;
    let mut body = row.json();
    body["secret"] = json!(secret);
    if let Some(idem) = &idem {
        idempotency::record(&mut tx, idem, 201, body.clone())
            .await
            .map_err(Problem::from)?;
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list_endpoints(State(api): State<Api>, Admin(store): Admin) -> Result<Json<Value>> {
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE store_id = $1 ORDER BY id"
    )))
    .bind(store)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(
        json!({ "items": rows.iter().map(EndpointRow::json).collect::<Vec<_>>() }),
    ))
}

async fn find_endpoint(
    conn: &mut sqlx::PgConnection,
    store: Uuid,
    id: Uuid,
) -> Result<EndpointRow> {
    let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND store_id = $2"
    )))
    .bind(id)
    .bind(store)
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| ApiError(Problem::not_found("webhook endpoint")))
}

async fn one_endpoint(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "webhook endpoint")?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let row = find_endpoint(&mut tx, store, id).await?;
    tx.commit().await?;
    Ok(Json(row.json()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointPatch {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    enabled: Option<bool>,
}

async fn patch_endpoint(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(id): Path<String>,
    ProblemJson(body): ProblemJson<EndpointPatch>,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "webhook endpoint")?;
    let url = match body.url.as_deref() {
        Some(raw) => Some(check_url(&api, raw).await?),
        None => None,
    };
    let event_types = body
        .event_types
        .as_deref()
        .map(check_event_types)
        .transpose()?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    find_endpoint(&mut tx, store, id).await?;
    // Enabling again starts a new streak.
    let row: EndpointRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints SET
             url = coalesce($3, url),
             event_types = coalesce($4, event_types),
             enabled = coalesce($5, enabled),
             disabled_reason = CASE WHEN $5 THEN NULL
                                    WHEN $5 = false THEN 'disabled by the merchant'
                                    ELSE disabled_reason END,
             consecutive_failures = CASE WHEN $5 THEN 0 ELSE consecutive_failures END,
             failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END,
             updated_at = now()
         WHERE id = $1 AND store_id = $2 RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(id)
    .bind(store)
    .bind(url)
    .bind(event_types)
    .bind(body.enabled)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(row.json()))
}

async fn delete_endpoint(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id = parse_id(&id, "webhook endpoint")?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND store_id = $2")
        .bind(id)
        .bind(store)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if deleted == 0 {
        return Err(Problem::not_found("webhook endpoint").into());
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_secret(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<(StatusCode, Json<Value>)> {
    let id = parse_id(&id, "webhook endpoint")?;
    let secret = signature::generate_secret();
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    find_endpoint(&mut tx, store, id).await?;
    let (idem, recorded) = claim(&mut tx, key.as_ref(), store).await?;
    if let Some(recorded) = recorded {
        tx.commit().await?;
        return Ok(replay(recorded));
    }
    // The old secret keeps signing (a second signature) for a day, so receivers can switch.
    let expires: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE webhook_endpoints SET previous_secret = secret, secret = $3,
                previous_expires_at = now() + interval '24 hours', updated_at = now()
         WHERE id = $1 AND store_id = $2 RETURNING previous_expires_at",
    )
    .bind(id)
    .bind(store)
    .bind(&secret)
    .fetch_one(&mut *tx)
    .await?;
    let body = json!({
        "id": id,
        "secret": secret,
        "previous_secret_expires_at": expires,
    });
    if let Some(idem) = &idem {
        idempotency::record(&mut tx, idem, 200, body.clone())
            .await
            .map_err(Problem::from)?;
    }
    tx.commit().await?;
    Ok((StatusCode::OK, Json(body)))
}

// --- deliveries -------------------------------------------------------------------------

#[derive(Deserialize)]
struct DeliveryQuery {
    endpoint: Option<String>,
    status: Option<String>,
    channel: Option<String>,
    cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    event_id: Uuid,
    event_type: String,
    order_id: Option<Uuid>,
    channel: String,
    template: String,
    recipient: String,
    endpoint_id: Option<Uuid>,
    message_id: String,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, event_id, event_type, order_id, channel, template, recipient,
    endpoint_id, message_id, status, attempts, last_error, created_at, sent_at";

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    ok: bool,
    status_code: Option<i32>,
    latency_ms: i32,
    excerpt: Option<String>,
    error: Option<String>,
    at: DateTime<Utc>,
}

fn delivery_json(row: &DeliveryRow, attempts: &[AttemptRow]) -> Value {
    json!({
        "id": row.id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "order_id": row.order_id,
        "channel": row.channel,
        "template": row.template,
        "recipient": row.recipient,
        "endpoint_id": row.endpoint_id,
        "message_id": row.message_id,
        "status": row.status,
        "attempt_count": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "attempts": attempts
            .iter()
            .filter(|a| a.delivery_id == row.id)
            .map(|a| json!({
                "ok": a.ok,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "response_excerpt": a.excerpt,
                "error": a.error,
                "at": a.at,
            }))
            .collect::<Vec<_>>(),
    })
}

async fn attempts_of(conn: &mut sqlx::PgConnection, ids: &[Uuid]) -> Result<Vec<AttemptRow>> {
    Ok(sqlx::query_as(
        "SELECT delivery_id, ok, status_code, latency_ms, excerpt, error, at
         FROM delivery_attempts WHERE delivery_id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

async fn list_deliveries(
    State(api): State<Api>,
    Admin(store): Admin,
    ProblemQuery(query): ProblemQuery<DeliveryQuery>,
) -> Result<Json<Value>> {
    let endpoint = match query.endpoint.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<Uuid>()
                .map_err(|_| Problem::invalid("endpoint", "not an endpoint id"))?,
        ),
    };
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw @ ("pending" | "failed" | "sent" | "dead")) => Some(raw.to_owned()),
        Some(raw) => {
            return Err(Problem::invalid(
                "status",
                format!("unknown status {raw:?} (pending, failed, sent, dead)"),
            )
            .into());
        }
    };
    let channel = match query.channel.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            Channel::parse(raw)
                .ok_or_else(|| Problem::invalid("channel", "email or webhook"))?
                .as_str(),
        ),
    };
    let after: Option<Uuid> = query
        .cursor
        .as_deref()
        .map(service_kit::cursor::decode)
        .transpose()
        .map_err(|e| Problem::invalid("cursor", e.to_string()))?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let mut rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE store_id = $1
           AND ($2::uuid IS NULL OR endpoint_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::text IS NULL OR channel = $4)
           AND ($5::uuid IS NULL OR id < $5)
         ORDER BY id DESC LIMIT $6"
    )))
    .bind(store)
    .bind(endpoint)
    .bind(status)
    .bind(channel)
    .bind(after)
    .bind(PAGE + 1)
    .fetch_all(&mut *tx)
    .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts = attempts_of(&mut tx, &ids).await?;
    tx.commit().await?;
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|last| service_kit::cursor::encode(&last.id))
        })
        .flatten();
    Ok(Json(json!({
        "items": rows.iter().map(|r| delivery_json(r, &attempts)).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

async fn find_delivery(
    conn: &mut sqlx::PgConnection,
    store: Uuid,
    id: Uuid,
) -> Result<DeliveryRow> {
    let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1 AND store_id = $2"
    )))
    .bind(id)
    .bind(store)
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| ApiError(Problem::not_found("delivery")))
}

async fn one_delivery(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "delivery")?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let row = find_delivery(&mut tx, store, id).await?;
    let attempts = attempts_of(&mut tx, &[id]).await?;
    tx.commit().await?;
    Ok(Json(delivery_json(&row, &attempts)))
}

/// Sends a delivery again (same Message-ID / webhook-id, so a receiver that already has it can
/// tell): back to `pending`, and a new send command.
async fn resend(
    State(api): State<Api>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>)> {
    let id = parse_id(&id, "delivery")?;
    let mut tx = service_kit::tenant::begin_for(&api.pool, store).await?;
    let row = find_delivery(&mut tx, store, id).await?;
    let channel = Channel::parse(&row.channel).unwrap_or(Channel::Email);
    if channel == Channel::Webhook {
        let enabled: Option<bool> = match row.endpoint_id {
            Some(endpoint) => {
                sqlx::query_scalar(
                    "SELECT enabled FROM webhook_endpoints WHERE id = $1 AND store_id = $2",
                )
                .bind(endpoint)
                .bind(store)
                .fetch_optional(&mut *tx)
                .await?
            }
            None => None,
        };
        match enabled {
            Some(true) => {}
            Some(false) => {
                return Err(Problem::conflict("the endpoint is disabled; enable it first").into());
            }
            None => return Err(Problem::conflict("the endpoint was deleted").into()),
        }
    }
    sqlx::query(
        "UPDATE deliveries SET status = 'pending', updated_at = clock_timestamp(),
                leased_until = NULL
         WHERE id = $1 AND store_id = $2",
    )
    .bind(id)
    .bind(store)
    .execute(&mut *tx)
    .await?;
    deliveries::send_command(&mut tx, id, store, channel, None).await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "pending" })),
    ))
}
