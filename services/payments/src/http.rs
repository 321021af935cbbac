//! The merchant's view of its transactions (admin key as `Authorization: Bearer`):
//! `GET /admin/transactions?status=&cursor=` (newest first, `{items, next_cursor}`) and
//! `GET /admin/transactions/{id}` with its history; `PUT /admin/gateway` and
//! `GET /admin/gateway`, the store's own gateway account (the secret sealed, shown by its last
//! four characters only); `GET /openapi.json` describes them.
//!
//! Invariants: a request acts as the key's store and names it in every query, so neither the
//! query nor row-level security shows another store's payments (another store's id is the same 404 as an unknown one); card tokens,
//! idempotency keys and gateway secrets are never in an answer; errors are problems.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use service_kit::problem::{Problem, ProblemQuery};
use sqlx::PgPool;
use uuid::Uuid;

use crate::payment::Status;
use crate::settings::{self, Sealer};
use crate::{db, stores};

/// The API's state: the pool and the sealer of gateway secrets.
#[derive(Clone)]
pub struct Api {
    pub pool: PgPool,
    pub sealer: Arc<Sealer>,
}

impl FromRef<Api> for PgPool {
    fn from_ref(api: &Api) -> PgPool {
        api.pool.clone()
    }
}

const PAGE: i64 = 50;

/// A problem, or the database failing behind it.
pub struct ApiError(Problem);

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database");
        ApiError(Problem::internal(&e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

/// The store whose admin key came as `Authorization: Bearer <key>`.
struct Admin(Uuid);

impl<S> FromRequestParts<S> for Admin
where
    PgPool: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let pool = &PgPool::from_ref(state);
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(service_kit::admin_key::from_bearer)
            .ok_or(ApiError(Problem::unauthorized()))?;
        let store = stores::by_admin_key(pool, key)
            .await?
            .ok_or(ApiError(Problem::unauthorized()))?;
        Ok(Admin(store))
    }
}

pub fn router(pool: PgPool, sealer: Arc<Sealer>) -> Router {
    Router::new()
        .route("/admin/transactions", get(list))
        .route("/admin/transactions/{id}", get(one))
        .route("/admin/gateway", get(show_gateway).put(put_gateway))
        .route("/openapi.json", get(crate::openapi::serve))
        .with_state(Api { pool, sealer })
}

/// `GET /admin/gateway`: the provider, the public key and the secret's last four characters;
/// the platform's default for a store without settings.
async fn show_gateway(
    State(pool): State<PgPool>,
    Admin(store): Admin,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(settings::show(&pool, store).await?))
}

/// `PUT /admin/gateway`: parsed whole or refused naming the field (422, nothing changes).
async fn put_gateway(
    State(api): State<Api>,
    Admin(store): Admin,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let parsed = settings::parse(&body).map_err(ApiError)?;
    match settings::save(&api.pool, &api.sealer, store, &parsed).await {
        Ok(shown) => {
            tracing::info!(%store, provider = parsed.provider.as_str(), "gateway settings saved");
            Ok(Json(shown))
        }
        Err(settings::SaveError::Database(e)) => Err(e.into()),
        Err(e @ settings::SaveError::Seal(_)) => {
            tracing::error!(%store, error = %e, "gateway secret not sealed");
            Err(ApiError(Problem::internal(&e)))
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    cursor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Item {
    id: Uuid,
    order_id: Uuid,
    status: String,
    amount_minor: i64,
    currency: String,
    gateway: String,
    gateway_charge_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Item {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "order_id": self.order_id,
            "status": self.status,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "gateway": self.gateway,
            "gateway_charge_id": self.gateway_charge_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

async fn list(
    State(pool): State<PgPool>,
    Admin(store): Admin,
    ProblemQuery(query): ProblemQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
            ApiError(Problem::invalid(
                "status",
                format!("unknown status {raw:?}"),
            ))
        })?),
    };
    let after: Option<Uuid> = query
        .cursor
        .as_deref()
        .map(service_kit::cursor::decode)
        .transpose()
        .map_err(|e| ApiError(Problem::invalid("cursor", e.to_string())))?;
    let mut tx = db::begin_for(&pool, store).await?;
    let mut items: Vec<Item> = sqlx::query_as(
        "SELECT id, order_id, status, amount_minor, currency, gateway, gateway_charge_id,
                created_at, updated_at
         FROM payments
         WHERE store_id = $4
           AND ($1::text IS NULL OR status = $1) AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(status.map(Status::as_str))
    .bind(after)
    .bind(PAGE + 1)
    .bind(store)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let more = items.len() as i64 > PAGE;
    items.truncate(PAGE as usize);
    let next_cursor = more
        .then(|| {
            items
                .last()
                .map(|last| service_kit::cursor::encode(&last.id))
        })
        .flatten();
    Ok(Json(json!({
        "items": items.iter().map(Item::json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

#[derive(sqlx::FromRow)]
struct Attempt {
    operation: String,
    from_status: Option<String>,
    to_status: String,
    why: String,
    response_code: Option<String>,
    attempt: i32,
    at: DateTime<Utc>,
}

async fn one(
    State(pool): State<PgPool>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError(Problem::not_found("transaction"));
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    let mut tx = db::begin_for(&pool, store).await?;
    let item: Option<Item> = sqlx::query_as(
        "SELECT id, order_id, status, amount_minor, currency, gateway, gateway_charge_id,
                created_at, updated_at
         FROM payments WHERE id = $1 AND store_id = $2",
    )
    .bind(id)
    .bind(store)
    .fetch_optional(&mut *tx)
    .await?;
    let item = item.ok_or_else(not_found)?;
    let history: Vec<Attempt> = sqlx::query_as(
        "SELECT operation, from_status, to_status, why, response_code, attempt, at
         FROM payment_attempts WHERE payment_id = $1 AND store_id = $2 ORDER BY id",
    )
    .bind(id)
    .bind(store)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut body = item.json();
    body["history"] = history
        .iter()
        .map(|a| {
            json!({
                "operation": a.operation,
                "from": a.from_status,
                "to": a.to_status,
                "why": a.why,
                "response_code": a.response_code,
                "attempt": a.attempt,
                "at": a.at,
            })
        })
        .collect();
    Ok(Json(body))
}
