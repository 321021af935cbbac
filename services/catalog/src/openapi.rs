//! The API's OpenAPI 3.1 document, derived from the router: every route is registered through
//! utoipa-axum's `routes!` ([`crate::http::api`]), which adds the handler's `#[utoipa::path]`
//! operation to the document as it adds the handler to the router. A route cannot be served
//! without being described, nor described without being served.
//!
//! - `GET /openapi.json` serves the document (and is described in it).
//! - `GET /docs` serves Swagger UI over it (assets vendored into the binary); `/docs` is the
//!   one family of routes outside the document, being the document's own viewer.
//!
//! Request and response bodies are the domain's own types (`ToSchema`), so the schemas follow
//! the code; errors are described once, as [`Problem`].

use std::sync::OnceLock;

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's frame: title, server, security scheme, the problem schema. The paths and
/// the other schemas come from the router.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Summit catalog",
        version = "1",
        description = "Stores (tenants), their products and stock. Every error is application/problem+json."
    ),
    servers((url = "http://127.0.0.1:8081")),
    components(schemas(Problem, FieldError)),
    modifiers(&AdminKey)
)]
pub struct ApiDoc;

/// `Authorization: Bearer <admin key>`, named `adminKey` in operations' `security`.
struct AdminKey;

impl Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The store's admin key"))
                    .build(),
            ),
        );
    }
}

/// An RFC 9457 problem, as `service_kit::Problem` serializes it (`application/problem+json`).
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// A stable, short name of the kind of problem (`validation`, `not-found`,
    /// `domain-not-verified`, …).
    #[serde(rename = "type")]
    kind: String,
    title: String,
    detail: Option<String>,
    /// For 422: the fields at fault and why.
    errors: Option<Vec<FieldError>>,
}

/// One field at fault.
#[derive(Serialize, ToSchema)]
pub struct FieldError {
    field: String,
    message: String,
}

/// The document, built once from the router's routes.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| crate::http::api().into_openapi())
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json"))
)]
pub async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}
