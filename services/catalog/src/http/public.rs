//! What anyone may read: a store's search and its logo.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiResult, AppState, Params};
use crate::product::Page;
use crate::search::{self, Hit, SearchQuery};
use crate::{CatalogError, store};

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

/// The logo, cacheable: a versioned URL changes with the logo, and the ETag lets clients
/// revalidate the unversioned one cheaply.
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
