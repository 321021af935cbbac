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
use crate::openapi::Problem;
use crate::store::{self, CreateStore, PublicStore, StoreView, WithKey};

#[utoipa::path(
    post,
    path = "/stores",
    operation_id = "createStore",
    summary = "Create a store; the admin key is shown only in this response",
    description = "With an Idempotency-Key, a repeat returns this same response, admin key included: whoever holds the idempotency key can read the admin key again, so keep it as secret as the admin key.",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the write safe to retry: a repeat with the same key and the same request returns the first response (same status and body) and acts no second time; the same key with a different request is refused (422 idempotency-key-reused). 1-255 visible ASCII characters; use a fresh UUID per intended write.")),
    request_body = CreateStore,
    responses(
        (status = 201, description = "The store and its admin key", body = WithKey),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or unknown field, invalid Idempotency-Key, or the key reused for another request", body = Problem, content_type = "application/problem+json"),
    )
)]
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

#[utoipa::path(
    get,
    path = "/admin/store",
    operation_id = "getStore",
    summary = "The key's store",
    security(("adminKey" = [])),
    responses(
        (status = 200, description = "The store", body = StoreView),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn show(State(state): State<AppState>, Admin(store): Admin) -> Json<StoreView> {
    Json(store.view(&state.config))
}

#[utoipa::path(
    get,
    path = "/stores/resolve",
    operation_id = "resolveStore",
    summary = "The store behind a temporary or verified custom domain, or with a slug",
    params(
        ("host" = Option<String>, Query, description = "A host name, optionally with a port."),
        ("slug" = Option<String>, Query, description = "The store's slug, when no host is given (how other services learn of a store whose StoreCreated has not reached them yet)."),
    ),
    responses(
        (status = 200, description = "The store", body = PublicStore),
        (status = 404, description = "No store has that domain (a custom domain not yet verified included) or slug", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither host nor slug given, or one with control characters", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resolve(
    State(state): State<AppState>,
    params: Params,
) -> ApiResult<Json<PublicStore>> {
    for field in ["host", "slug"] {
        if params
            .text(field)
            .is_some_and(|v| v.chars().any(char::is_control))
        {
            return Err(CatalogError::invalid(field, "must not contain control characters").into());
        }
    }
    let store = match (params.text("host"), params.text("slug")) {
        (Some(host), _) => store::resolve(&state.pool, &state.config, host).await?,
        (None, Some(slug)) => store::by_slug(&state.pool, slug).await?,
        (None, None) => return Err(CatalogError::invalid("host", "is required (or slug)").into()),
    };
    let store = store.ok_or(CatalogError::NotFound("store"))?;
    Ok(Json(store.public(&state.config)))
}

/// `PUT /admin/store/domain` body; `custom_domain` must be present (null clears it).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetDomain)]
pub struct DomainInput {
    /// A hostname such as `shop.example.com`, or null to drop the custom domain.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, required = true, format = Hostname)]
    pub custom_domain: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[utoipa::path(
    put,
    path = "/admin/store/domain",
    operation_id = "setDomain",
    summary = "Claim (or with null, drop) a custom domain; it stays pending until its TXT record is verified",
    security(("adminKey" = [])),
    request_body = DomainInput,
    responses(
        (status = 200, description = "The store", body = StoreView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Domain verified by another store", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not Content-Type: application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid hostname, or custom_domain missing", body = Problem, content_type = "application/problem+json"),
    )
)]
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
#[utoipa::path(
    get,
    path = "/admin/store/domain",
    operation_id = "getDomain",
    summary = "The custom domain's claim and the DNS TXT record that proves it",
    security(("adminKey" = [])),
    responses(
        (status = 200, description = "The claim", body = DomainView),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No custom domain", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn show_domain(Admin(store): Admin) -> ApiResult<Json<DomainView>> {
    Ok(Json(
        store
            .domain_view()
            .ok_or(CatalogError::NotFound("custom domain"))?,
    ))
}

/// Looks the challenge record up now; verifies the domain when it holds the token.
#[utoipa::path(
    post,
    path = "/admin/store/domain/verify",
    operation_id = "verifyDomain",
    summary = "Look the TXT record up now; the domain is verified (and resolves) when it holds the token",
    security(("adminKey" = [])),
    responses(
        (status = 200, description = "The claim, verified", body = DomainView),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No custom domain", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another store verified the domain first, or the claim changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "domain-not-verified: the record is missing or holds another value; the detail names what was found", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify_domain(
    State(state): State<AppState>,
    Admin(store): Admin,
) -> ApiResult<Json<DomainView>> {
    Ok(Json(
        store::verify_domain(&state.pool, &state.config, &store).await?,
    ))
}

/// The raw image bytes are the body; `Content-Type` is ignored in favour of the bytes.
#[utoipa::path(
    put,
    path = "/admin/store/logo",
    operation_id = "setLogo",
    summary = "Upload the logo: the raw image as the body; its type is read from the bytes",
    security(("adminKey" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "PNG, JPEG or WebP"),
    responses(
        (status = 200, description = "The store, with its new logo_url", body = StoreView),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over the size cap", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not PNG, JPEG or WebP", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty body", body = Problem, content_type = "application/problem+json"),
    )
)]
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

/// The language to set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SetLanguage)]
pub struct LanguageInput {
    /// `pt-BR` or `en`.
    #[schema(example = "en")]
    pub language: String,
}

#[utoipa::path(
    put,
    path = "/admin/store/language",
    operation_id = "setLanguage",
    summary = "Set the language the store's pages and messages speak (pt-BR or en)",
    security(("adminKey" = [])),
    request_body = LanguageInput,
    responses(
        (status = 200, description = "The store, in its new language", body = StoreView),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not Content-Type: application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "language is not pt-BR or en, or an unknown field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn set_language(
    State(state): State<AppState>,
    Admin(store): Admin,
    ProblemJson(input): ProblemJson<LanguageInput>,
) -> ApiResult<Json<StoreView>> {
    let store = store::set_language(&state.pool, &state.config, store.id, &input.language).await?;
    Ok(Json(store.view(&state.config)))
}

#[utoipa::path(
    post,
    path = "/admin/store/rotate-key",
    operation_id = "rotateKey",
    summary = "Replace the admin key; the new one is shown only in this response",
    security(("adminKey" = [])),
    responses(
        (status = 200, description = "The store and its new key", body = WithKey),
        (status = 401, description = "Missing or invalid admin key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate_key(
    State(state): State<AppState>,
    Admin(store): Admin,
) -> ApiResult<Json<WithKey>> {
    let (store, key) = store::rotate_key(&state.pool, &state.config, store.id).await?;
    Ok(Json(WithKey::new(&store, &key, &state.config)))
}
