//! `POST /stores`, `GET /stores/resolve`, and the store's admin settings.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer};
use service_kit::ProblemJson;

use super::{Admin, ApiResult, AppState, IdempotentJson, Params, replay};
use crate::CatalogError;
use crate::custom_domain::DomainView;
use crate::idempotency::{Outcome, RequestKey};
use crate::store::{self, CreateStore, PublicStore, StoreView, WithKey};

pub async fn create(
    State(state): State<AppState>,
    IdempotentJson { input, key }: IdempotentJson<CreateStore>,
) -> ApiResult<Response> {
    let idem = key.as_ref().map(RequestKey::public);
    Ok(
        match store::create(&state.pool, &state.config, input, idem.as_ref()).await? {
            Outcome::Done((store, key)) => (
                StatusCode::CREATED,
                Json(WithKey::new(&store, &key, &state.config)),
            )
                .into_response(),
            Outcome::Replayed(recorded) => replay(recorded),
        },
    )
}

pub async fn show(State(state): State<AppState>, Admin(store): Admin) -> Json<StoreView> {
    Json(store.view(&state.config))
}

pub async fn resolve(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<PublicStore>> {
    let host = params
        .text("host")
        .ok_or_else(|| CatalogError::invalid("host", "is required"))?;
    let store = store::resolve(&state.pool, &state.config, host)
        .await?
        .ok_or(CatalogError::NotFound("store"))?;
    Ok(Json(store.public(&state.config)))
}

/// `PUT /admin/store/domain` body; `custom_domain` must be present (null clears it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainInput {
    #[serde(default, deserialize_with = "present")]
    pub custom_domain: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn set_domain(
    State(state): State<AppState>,
    Admin(store): Admin,
    ProblemJson(input): ProblemJson<DomainInput>,
) -> ApiResult<Json<StoreView>> {
    let domain = input
        .custom_domain
        .ok_or_else(|| CatalogError::invalid("custom_domain", "is required (null removes it)"))?;
    let store = store::set_domain(&state.pool, &state.config, store.id, domain.as_deref()).await?;
    Ok(Json(store.view(&state.config)))
}

/// The custom domain's claim and the TXT record that proves it.
pub async fn show_domain(Admin(store): Admin) -> ApiResult<Json<DomainView>> {
    Ok(Json(
        store
            .domain_view()
            .ok_or(CatalogError::NotFound("custom domain"))?,
    ))
}

/// Looks the challenge record up now; verifies the domain when it holds the token.
pub async fn verify_domain(
    State(state): State<AppState>,
    Admin(store): Admin,
) -> ApiResult<Json<DomainView>> {
    Ok(Json(
        store::verify_domain(&state.pool, &state.config, &store).await?,
    ))
}

/// The raw image bytes are the body; `Content-Type` is ignored in favour of the bytes.
pub async fn set_logo(
    State(state): State<AppState>,
    Admin(store): Admin,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<StoreView>> {
    let cap = state.config.logo_max_bytes;
    let too_large = || CatalogError::TooLarge(format!("a logo may be at most {cap} bytes"));
    // Refuse by the announced length before reading anything.
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > cap) {
        return Err(too_large().into());
    }
    let bytes = axum::body::to_bytes(body, cap)
        .await
        .map_err(|_| too_large())?;
    let store = store::set_logo(&state.pool, &state.config, store.id, &bytes).await?;
    Ok(Json(store.view(&state.config)))
}

pub async fn rotate_key(
    State(state): State<AppState>,
    Admin(store): Admin,
) -> ApiResult<Json<WithKey>> {
    let (store, key) = store::rotate_key(&state.pool, &state.config, store.id).await?;
    Ok(Json(WithKey::new(&store, &key, &state.config)))
}
