//! The HTTP edge: routes, the admin-key extractor, and the one mapping from [`CatalogError`]
//! to `application/problem+json`.
//!
//! - [`stores`]: creating a store and its admin settings (domain, logo, key rotation,
//!   language), resolve.
//! - [`products`]: the admin product API.
//! - [`public`]: search and logos, no key needed.
//!
//! Every route is registered in [`api`] together with its OpenAPI operation, so the document
//! ([`crate::openapi`]) lists exactly what is served.
//!
//! Invariants: every admin route authenticates before it reads a body, so a request without a
//! valid key learns nothing else; a product of another store is 404, exactly like a missing one.

pub mod products;
pub mod public;
pub mod stores;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use service_kit::{Problem, ProblemJson};
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::idempotency::{self, RequestKey};
use crate::store::{self, Store};
use crate::{CatalogConfig, CatalogError};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<CatalogConfig>,
}

impl AppState {
    pub fn new(pool: PgPool, config: CatalogConfig) -> Self {
        Self {
            pool,
            config: Arc::new(config),
        }
    }
}

/// Every route of the API, each registered with its OpenAPI operation (`routes!` takes the
/// handler's `#[utoipa::path]`): the document is this router's description, by construction.
/// Handlers of one path go in one `routes!`.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(stores::create))
        .routes(routes!(stores::resolve))
        .routes(routes!(public::search))
        .routes(routes!(public::product))
        .routes(routes!(public::logo))
        .routes(routes!(stores::show))
        .routes(routes!(stores::set_domain, stores::show_domain))
        .routes(routes!(stores::verify_domain))
        .routes(routes!(stores::set_logo))
        .routes(routes!(stores::rotate_key))
        .routes(routes!(stores::set_language))
        .routes(routes!(products::create, products::list))
        .routes(routes!(products::show, products::update, products::delete))
        .routes(routes!(crate::openapi::serve))
}

/// The served app: [`api`]'s routes, Swagger UI at `/docs` over `/openapi.json`, and problems
/// for unknown routes and methods. Add routes in [`api`], never here.
pub fn router(state: AppState) -> Router {
    let json_limit = state.config.json_max_bytes;
    let (routes, _document) = api().split_for_parts();
    routes
        .merge(SwaggerUi::new("/docs").config(SwaggerConfig::new(["/openapi.json"])))
        .fallback(|| async { Problem::not_found("route") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            )
        })
        .layer(DefaultBodyLimit::max(json_limit))
        .with_state(state)
}

/// Maps the domain's errors to problems, once.
pub struct ApiError(pub Problem);

impl From<CatalogError> for ApiError {
    fn from(error: CatalogError) -> Self {
        Self(match error {
            CatalogError::Invalid { field, message } => Problem::invalid(&field, message),
            CatalogError::Conflict(detail) => Problem::conflict(detail),
            CatalogError::NotFound(what) => Problem::not_found(what),
            CatalogError::Unauthorized => Problem::unauthorized(),
            CatalogError::TooLarge(detail) => Problem::payload_too_large(detail),
            CatalogError::Unsupported(detail) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            )
            .detail(detail),
            CatalogError::IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key reused",
            )
            .detail("this Idempotency-Key was used for a different request"),
            CatalogError::DomainNotVerified { .. } => {
                let detail = error.to_string();
                let mut problem = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "domain-not-verified",
                    "Domain not verified",
                )
                .detail(detail.clone());
                problem.errors.push(service_kit::problem::FieldError {
                    field: "custom_domain".into(),
                    message: detail,
                });
                problem
            }
            CatalogError::Database(error) => Problem::from(error),
        })
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

impl axum::response::IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        self.0.into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The store whose admin key came as `Authorization: Bearer <key>`.
pub struct Admin(pub Store);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|key| !key.is_empty())
            .ok_or(CatalogError::Unauthorized)?;
        let store = store::by_key(&state.pool, key)
            .await?
            .ok_or(CatalogError::Unauthorized)?;
        Ok(Admin(store))
    }
}

/// A JSON body (as [`ProblemJson`] reads it) and, when the request has an `Idempotency-Key`,
/// that key with the request's fingerprint (SHA-256 of method, path and the body's bytes).
pub struct IdempotentJson<T> {
    pub input: T,
    pub key: Option<RequestKey>,
}

impl<S, T> FromRequest<S> for IdempotentJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let header = match req.headers().get(idempotency::HEADER) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                CatalogError::invalid("Idempotency-Key", "must be visible ASCII characters")
            })?),
        }
        .map(str::to_owned);
        let Some(header) = header else {
            let ProblemJson(input) = ProblemJson::<T>::from_request(req, state).await?;
            return Ok(Self { input, key: None });
        };
        let (parts, body) = req.into_parts();
        let bytes =
            axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
                .map_err(|e| match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => Problem::payload_too_large(e.body_text()),
                    status => Problem::new(status, "bad-request", e.body_text()),
                })?;
        let key = RequestKey::new(&header, parts.method.as_str(), parts.uri.path(), &bytes)?;
        let ProblemJson(input) =
            ProblemJson::<T>::from_request(Request::from_parts(parts, bytes.into()), state).await?;
        Ok(Self {
            input,
            key: Some(key),
        })
    }
}

/// The recorded first response to a repeated `Idempotency-Key`, as it was.
pub fn replay(recorded: idempotency::Recorded) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK);
    (status, axum::Json(recorded.body)).into_response()
}

/// Query parameters, with malformed query strings as problems.
pub struct Params(pub HashMap<String, String>);

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
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, CatalogError> {
        self.text(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| CatalogError::invalid(name, "must be an integer"))
            })
            .transpose()
    }

    /// `limit`: 1–100, 20 by default.
    pub fn limit(&self) -> Result<i64, CatalogError> {
        match self.int("limit")? {
            None => Ok(20),
            Some(n) if (1..=100).contains(&n) => Ok(n),
            Some(_) => Err(CatalogError::invalid("limit", "must be between 1 and 100")),
        }
    }
}
