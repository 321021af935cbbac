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
use crate::openapi::Problem;
use crate::product::{self, NewProduct, Page, Product, ProductPatch};

/// A malformed id names no product: 404, like any id of another store.
fn product_id(raw: &str) -> Result<Uuid, CatalogError> {
    raw.parse().map_err(|_| CatalogError::NotFound("product"))
}

#[utoipa::path(
    post,
    path = "/admin/products",
    operation_id = "createProduct",
    summary = "Create a product",
    security(("adminKey" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the write safe to retry: a repeat with the same key and the same request returns the first response and acts no second time; the same key with a different request is refused (422 idempotency-key-reused).")),
    request_body = NewProduct,
    responses(
        (status = 201, description = "The product", body = Product),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken in this store", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown field, invalid Idempotency-Key, or the key reused for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
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

#[utoipa::path(
    get,
    path = "/admin/products",
    operation_id = "listProducts",
    summary = "The store's products (not deleted), oldest first",
    security(("adminKey" = [])),
    params(("cursor" = Option<String>, Query, description = "next_cursor of the previous page."), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size (default 20).")),
    responses(
        (status = 200, description = "A page of products", body = Page<Product>),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid cursor or limit", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Admin(store): Admin,
    params: Params,
) -> ApiResult<Json<Page<Product>>> {
    let limit = params.limit()?;
    let page = product::list(&state.pool, store.id, params.text("cursor"), limit).await?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/admin/products/{id}",
    operation_id = "getProduct",
    summary = "A product, deleted or not",
    security(("adminKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id.")),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not this store's product", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Product>> {
    Ok(Json(
        product::get(&state.pool, store.id, product_id(&id)?).await?,
    ))
}

#[utoipa::path(
    patch,
    path = "/admin/products/{id}",
    operation_id = "updateProduct",
    summary = "Change some fields of a product",
    security(("adminKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id.")),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not this store's product, or deleted", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not Content-Type: application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown field", body = Problem, content_type = "application/problem+json"),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/admin/products/{id}",
    operation_id = "deleteProduct",
    summary = "Soft-delete a product: gone from the store, still readable by id",
    security(("adminKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "The product's id.")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not this store's product", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Admin(store): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    product::delete(&state.pool, store.id, product_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
