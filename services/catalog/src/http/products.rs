//! The admin product API, always within the key's store.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use service_kit::ProblemJson;
use uuid::Uuid;

use super::{Admin, ApiResult, AppState, IdempotentJson, Params, replay};
use crate::CatalogError;
use crate::idempotency::Outcome;
use crate::product::{self, NewProduct, Page, Product, ProductPatch};

/// A malformed id names no product: 404, like any id of another store.
fn product_id(raw: &str) -> Result<Uuid, CatalogError> {
    raw.parse().map_err(|_| CatalogError::NotFound("product"))
}

pub async fn create(
    State(state): State<AppState>,
    Admin(store): Admin,
    IdempotentJson { input, key }: IdempotentJson<NewProduct>,
) -> ApiResult<Response> {
    let idem = key.map(|key| key.for_store(store.id));
    Ok(
        match product::create(&state.pool, store.id, input, idem.as_ref()).await? {
            Outcome::Done(product) => (StatusCode::CREATED, Json(product)).into_response(),
            Outcome::Replayed(recorded) => replay(recorded),
        },
    )
}

pub async fn list(
    State(state): State<AppState>,
    Admin(store): Admin,
    params: Params,
) -> ApiResult<Json<Page<Product>>> {
    let limit = params.limit()?;
    let page = product::list(&state.pool, store.id, params.text("cursor"), limit).await?;
    Ok(Json(page))
}

pub async fn show(
    State(state): State<AppState>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    Ok(Json(
        product::get(&state.pool, store.id, product_id(&id)?).await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Admin(store): Admin,
    Path(id): Path<String>,
    ProblemJson(patch): ProblemJson<ProductPatch>,
) -> ApiResult<Json<Product>> {
    let id = product_id(&id)?;
    Ok(Json(
        product::update(&state.pool, store.id, id, patch).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    product::delete(&state.pool, store.id, product_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
