//! What anyone may read: a store's search and its logo.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiResult, AppState, Params};
use crate::openapi::Problem;
use crate::product::{OnSale, Page};
use crate::search::{self, Hit, SearchQuery};
use crate::{CatalogError, store};

#[utoipa::path(
    get,
    path = "/stores/{slug}/products",
    operation_id = "searchProducts",
    summary = "Search a store's products on sale (prefix, typo and accent tolerant)",
    params(
        ("slug" = String, Path, description = "The store's slug."),
        ("q" = Option<String>, Query, description = "Search text; without it, every product by name."),
        ("min_price" = Option<i64>, Query, description = "Lowest price_minor."),
        ("max_price" = Option<i64>, Query, description = "Highest price_minor."),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page."), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)."),
    ),
    responses(
        (status = 200, description = "A page of hits, most relevant first", body = Page<Hit>),
        (status = 404, description = "No such store", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    params: Params,
) -> ApiResult<Json<Page<Hit>>> {
    let query = SearchQuery {
        q: params.text("q").map(|q| q.chars().take(200).collect()),
        min_price: params.int("min_price")?,
        max_price: params.int("max_price")?,
        cursor: params.text("cursor").map(str::to_owned),
        limit: params.limit()?,
    };
    let page = search::search(&state.pool, &slug, query)
        .await?
        .ok_or(CatalogError::NotFound("store"))?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/stores/{slug}/products/{id}",
    operation_id = "getProductOnSale",
    summary = "One product on sale (active, not deleted)",
    params(
        ("slug" = String, Path, description = "The store's slug."),
        ("id" = uuid::Uuid, Path, description = "The product's id."),
    ),
    responses(
        (status = 200, description = "The product", body = OnSale),
        (status = 404, description = "No such store, or no such product on sale in it", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn product(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
) -> ApiResult<Json<OnSale>> {
    let store = store::by_slug(&state.pool, &slug)
        .await?
        .ok_or(CatalogError::NotFound("store"))?;
    let id = id.parse().map_err(|_| CatalogError::NotFound("product"))?;
    Ok(Json(
        crate::product::on_sale(&state.pool, store.id, id).await?,
    ))
}

/// The logo, cacheable: a versioned URL changes with the logo, and the ETag lets clients
/// revalidate the unversioned one cheaply.
#[utoipa::path(
    get,
    path = "/stores/{slug}/logo",
    operation_id = "getLogo",
    summary = "The store's logo (cacheable; ETag and If-None-Match supported)",
    params(
        ("slug" = String, Path, description = "The store's slug."),
        ("If-None-Match" = Option<String>, Header, description = "A previously seen ETag."),
    ),
    responses(
        (status = 200, description = "The image", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/webp")),
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified"),
        (status = 404, description = "No logo", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logo(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let logo = store::logo_of(&state.pool, &slug)
        .await?
        .ok_or(CatalogError::NotFound("logo"))?;
    let etag = HeaderValue::from_str(&logo.etag).map_err(|_| CatalogError::NotFound("logo"))?;
    let cache = HeaderValue::from_static("public, max-age=3600");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == logo.etag || t.trim() == "*")
        });
    if fresh {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
        )
            .into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(&logo.content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        logo.bytes,
    )
        .into_response())
}
