//! The web edge (docs/storefront.md): the shop on each store's host, the merchants' admin at
//! `/admin` and the operators' console at `/ops`, as server-rendered pages over the other
//! services' HTTP APIs. It owns no database.
//!
//! - [`config`]: settings from the environment.
//! - [`upstream`]: the services behind the edge, each through a resilience policy, with
//!   [`cache`]d public reads standing in while a service is down.
//! - [`cookies`]: sealed cookies (sessions, cart, CSRF).
//! - [`security`]: the security headers every response wears.
//! - [`i18n`]: Portuguese and English.
//! - [`pages`]: the pages, by audience (`shop`, `admin` and its `payments` and
//!   `notifications`, `ops`), and their shared layout.
//!
//! Invariants: every page escapes what it shows (maud); no page has an inline script; every
//! form carries the CSRF token; a failing service shows a page that says so in plain words,
//! never a stack trace or a blank page.

pub mod cache;
pub mod config;
pub mod cookies;
pub mod i18n;
pub mod pages;
pub mod security;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};
use service_kit::Check;
use service_kit::health::Health;

pub use config::StorefrontConfig;
pub use upstream::{Upstream, UpstreamError, Upstreams};

/// docs/design.md's port for the web edge.
pub const PORT: u16 = 8080;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<StorefrontConfig>,
    pub upstreams: Upstreams,
    pub sealer: Arc<cookies::Sealer>,
}

impl AppState {
    pub fn new(config: StorefrontConfig) -> Result<Self, cookies::KeyError> {
        Ok(Self {
            sealer: Arc::new(cookies::Sealer::new(&config.cookie_key)?),
            upstreams: Upstreams::new(&config),
            config: Arc::new(config),
        })
    }
}

/// The whole service: pages, health (degraded while a service's circuit is open) and
/// metrics, inside service-kit's edge layers (request id, tracing, metrics, timeout), all
/// wearing the security headers.
pub fn app(state: AppState, request_timeout: Duration) -> Router {
    let csp = Arc::new(
        HeaderValue::from_str(&security::content_security_policy(
            &state.config.gateway_tokenize_url,
        ))
        .expect("the policy is ASCII"),
    );
    let health = state
        .upstreams
        .all()
        .iter()
        .filter_map(|upstream| upstream.breaker())
        .fold(Health::stateless(), |health, breaker| {
            health.with_check(Check::breaker(breaker))
        });
    service_kit::http::edge(
        router(state)
            .merge(health.router())
            .merge(service_kit::metrics::router()),
        request_timeout,
    )
    .layer(axum::middleware::from_fn_with_state(csp, security::headers))
}

/// Every page and asset, with the CSRF layer.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::shop::home))
        .route("/search", get(pages::shop::search))
        .route("/suggest", get(pages::shop::suggest))
        .route("/products/{id}", get(pages::shop::product))
        .route("/logo", get(pages::shop::logo))
        .route("/cart", get(pages::cart::show))
        .route("/cart/add", post(pages::cart::add))
        .route("/cart/update", post(pages::cart::update))
        .route(
            "/checkout",
            get(pages::checkout::form).post(pages::checkout::place),
        )
        .route("/orders/{id}", get(pages::checkout::status))
        .route("/static/{file}", get(pages::assets::serve))
        .merge(pages::admin::router())
        .merge(pages::payments::router())
        .merge(pages::notifications::router())
        .merge(pages::ops::router())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cookies::csrf_layer,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(2 * 1024 * 1024))
        .with_state(state)
}
