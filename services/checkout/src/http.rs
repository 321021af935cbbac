//! The HTTP edge: routes, the admin-key extractor, and the one mapping from [`CheckoutError`]
//! to `application/problem+json`.
//!
//! Invariants: admin routes authenticate (against the key hash of the read model) before
//! anything else; another store's order, an unknown id and a wrong token are the same 404.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use service_kit::idempotency::{self, Outcome, RequestKey};
use service_kit::{Problem, ProblemJson};
use sqlx::PgPool;
use uuid::Uuid;

use crate::CheckoutConfig;
use crate::error::CheckoutError;
use crate::order::{Language, Status};
use crate::orders::{self, Listing, NewOrder};
use crate::read_model::{self, Store};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<CheckoutConfig>,
    pub catalog: crate::catalog::Catalog,
}

pub fn router(state: AppState) -> Router {
    let limit = state.config.json_max_bytes;
    Router::new()
        .route("/stores/{slug}/orders", post(place))
        .route("/orders/{id}", get(by_token))
        .route("/admin/orders", get(admin_list))
        .route("/admin/orders/{id}", get(admin_show))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async { Problem::method_not_allowed() })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Maps the domain's errors to problems, once.
pub struct ApiError(pub Problem);

impl From<CheckoutError> for ApiError {
    fn from(error: CheckoutError) -> Self {
        Self(match error {
            CheckoutError::Invalid { field, message } => Problem::invalid(&field, message),
            CheckoutError::BadRequest(detail) => Problem::bad_request(detail),
            CheckoutError::NotFound(what) => Problem::not_found(what),
            CheckoutError::Unauthorized => Problem::unauthorized(),
            CheckoutError::Conflict(detail) => Problem::conflict(detail),
            CheckoutError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            )
            .detail("this Idempotency-Key was used for a different request"),
            CheckoutError::CatalogUnavailable(error) => Problem::unavailable(
                "this order names a product checkout has not heard of yet, and catalog cannot \
                 be asked right now; try again shortly",
            )
            .retry_after(error.retry_after),
            CheckoutError::Database(error) => Problem::from(error),
        })
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        CheckoutError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unavailable = self.0.status == StatusCode::SERVICE_UNAVAILABLE;
        let mut response = self.0.into_response();
        if unavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// `POST /stores/{slug}/orders`.
async fn place(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let header = request
        .headers()
        .get(idempotency::HEADER)
        .ok_or_else(|| CheckoutError::BadRequest("the Idempotency-Key header is required".into()))?
        .to_str()
        .map_err(|_| CheckoutError::invalid("Idempotency-Key", "must be visible ASCII"))?
        .to_owned();
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &state)
        .await
        .map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::payload_too_large(e.body_text()),
            status => Problem::new(status, "bad-request", e.body_text()),
        })?;
    let key = RequestKey::new(&header, parts.method.as_str(), parts.uri.path(), &bytes)
        .map_err(CheckoutError::from)?;
    let ProblemJson(input) =
        ProblemJson::<NewOrder>::from_request(Request::from_parts(parts, bytes.into()), &state)
            .await?;
    let store = crate::catalog::store(&state.pool, &state.catalog, &slug)
        .await?
        .ok_or(CheckoutError::NotFound("store"))?;
    let idem = orders::scoped(&key, &store);
    input.validate()?;
    let ids: Vec<_> = input.lines.iter().map(|l| l.product_id).collect();
    crate::catalog::learn_unknown(&state.pool, &state.catalog, &store, &ids).await?;
    let outcome = orders::place(
        &state.pool,
        &store,
        &input,
        &idem,
        state.config.payment_deadline,
    )
    .await?;
    let (status, body) = match outcome {
        Outcome::Done(body) => (StatusCode::ACCEPTED, body),
        Outcome::Replayed(recorded) => (
            StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::ACCEPTED),
            recorded.body,
        ),
    };
    Ok((status, Json(orders::with_status_url(body))).into_response())
}

/// An explicit `lang` query parameter, else `Accept-Language`, else the store's.
fn language(params: &HashMap<String, String>, headers: &HeaderMap) -> Option<Language> {
    params
        .get("lang")
        .map(String::as_str)
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
        })
        .map(Language::parse)
}

/// Query parameters, with a malformed query string as a problem.
struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request(e.body_text()))?;
        Ok(Self(map))
    }
}

impl Params {
    fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn time(&self, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, CheckoutError> {
        self.text(name)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v.trim())
                    .map(|t| t.to_utc())
                    .map_err(|_| CheckoutError::invalid(name, "must be an RFC 3339 timestamp"))
            })
            .transpose()
    }
}

/// An id in the path; anything else is as unknown as a missing order.
fn order_id(raw: &str) -> Result<Uuid, CheckoutError> {
    raw.parse().map_err(|_| CheckoutError::NotFound("order"))
}

/// `GET /orders/{id}?token=`.
async fn by_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let id = order_id(&id)?;
    let token = params
        .text("token")
        .ok_or(CheckoutError::NotFound("order"))?;
    let language = language(&params.0, &headers);
    Ok(Json(
        orders::by_token(&state.pool, id, token, language).await?,
    ))
}

/// The store whose admin key came as `Authorization: Bearer <key>`.
struct Admin(Store);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(service_kit::admin_key::from_bearer)
            .ok_or(CheckoutError::Unauthorized)?;
        let store = read_model::store_by_admin_key(&state.pool, key)
            .await?
            .ok_or(CheckoutError::Unauthorized)?;
        Ok(Admin(store))
    }
}

/// `GET /admin/orders?status=&from=&to=&cursor=&limit=`.
async fn admin_list(
    State(state): State<AppState>,
    Admin(store): Admin,
    params: Params,
) -> ApiResult<Json<serde_json::Value>> {
    let status = params
        .text("status")
        .map(|s| {
            Status::parse(s.trim()).ok_or_else(|| {
                CheckoutError::invalid(
                    "status",
                    "must be pending, reserved, awaiting_payment, confirmed or cancelled",
                )
            })
        })
        .transpose()?;
    let limit = match params.text("limit") {
        None => 20,
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| CheckoutError::invalid("limit", "must be between 1 and 100"))?,
    };
    let listing = Listing {
        status,
        from: params.time("from")?,
        to: params.time("to")?,
        cursor: params.text("cursor").map(str::to_owned),
        limit,
    };
    Ok(Json(orders::list(&state.pool, &store, &listing).await?))
}

/// `GET /admin/orders/{id}`.
async fn admin_show(
    State(state): State<AppState>,
    Admin(store): Admin,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Json<serde_json::Value>> {
    let id = order_id(&id)?;
    let language = language(&params.0, &headers);
    Ok(Json(
        orders::for_admin(&state.pool, &store, id, language).await?,
    ))
}
