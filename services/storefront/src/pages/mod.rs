//! The pages, by audience, and what they share: the layout, the error page and the store a
//! shop page is for.
//!
//! Invariants: every error a visitor can meet renders as a page in plain words with the right
//! status (404, 403, 503 with `Retry-After`, 400); nothing shows an upstream's error text
//! unless it is a 4xx problem meant for the user.

pub mod admin;
pub mod assets;
pub mod cart;
pub mod checkout;
pub mod forms;
pub mod notifications;
pub mod ops;
pub mod payments;
pub mod shop;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use crate::AppState;
use crate::i18n::Lang;
use crate::upstream::{UpstreamError, encode};

/// What went wrong, as a visitor sees it.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    /// A form without its CSRF token, or with another.
    Forbidden,
    BadRequest(String),
    /// A service cannot answer right now.
    Unavailable {
        retry_after_s: u64,
    },
}

impl From<UpstreamError> for PageError {
    fn from(error: UpstreamError) -> Self {
        match error {
            UpstreamError::Status { status: 404, .. } => Self::NotFound,
            UpstreamError::Status { status: 401, .. } => Self::Forbidden,
            ref e @ UpstreamError::Status { .. } => {
                Self::BadRequest(e.detail().unwrap_or_else(|| "Malformed request".into()))
            }
            UpstreamError::Unavailable { retry_after, .. } => Self::Unavailable {
                retry_after_s: retry_after.as_secs().max(1),
            },
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found · Não encontrado",
                "There is nothing here. · Não há nada aqui.".to_owned(),
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Refused · Recusado",
                "This form expired or did not come from this site: go back, reload the page and \
                 try again. · Este formulário expirou ou não veio deste site: volte, recarregue \
                 a página e tente de novo."
                    .to_owned(),
            ),
            Self::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                "Something is not right · Algo não está certo",
                detail.clone(),
            ),
            Self::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Back in a moment · Voltamos já",
                "Part of the site cannot answer right now. Please try again in a few seconds. · \
                 Parte do site não pode responder agora. Tente de novo em alguns segundos."
                    .to_owned(),
            ),
        };
        let body = layout(
            &Frame::plain(Lang::En, title),
            html! { h1 { (title) } p.notice { (text) } p { a href="/" { "← Home · Início" } } },
        );
        let mut response = (status, body).into_response();
        if let Self::Unavailable { retry_after_s } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&retry_after_s.to_string()).expect("digits"),
            );
        }
        response
    }
}

pub type PageResult = Result<Response, PageError>;

/// The fallback: a 404 page.
pub async fn not_found() -> PageError {
    PageError::NotFound
}

/// The store a shop page is for (catalog's `/stores/resolve`, cached briefly).
#[derive(Debug, Clone)]
pub struct Store {
    pub slug: String,
    pub name: String,
    pub language: Option<String>,
    pub has_logo: bool,
    pub logo_version: String,
}

impl Store {
    pub fn from_json(value: &Value) -> Option<Self> {
        let logo = value["logo_url"].as_str();
        Some(Self {
            slug: value["slug"].as_str()?.to_owned(),
            name: value["name"].as_str()?.to_owned(),
            language: value["language"].as_str().map(str::to_owned),
            has_logo: logo.is_some(),
            logo_version: logo
                .and_then(|url| url.rsplit_once("v="))
                .map(|(_, v)| v.to_owned())
                .unwrap_or_default(),
        })
    }
}

/// The host a request came to, without its port, lowercased.
pub fn host_of(headers: &HeaderMap) -> String {
    let raw = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let host = if raw.starts_with('[') {
        raw.split(']').next().unwrap_or(raw).trim_start_matches('[')
    } else {
        raw.rsplit_once(':').map_or(raw, |(host, _)| host)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` is the platform's own (the admin and ops consoles, the front page) rather
/// than a store's.
pub fn is_platform_host(host: &str, base_domain: &str) -> bool {
    host.is_empty()
        || host == "localhost"
        || host == base_domain
        || host.parse::<std::net::IpAddr>().is_ok()
}

/// A shop request: the store of its host and the language to speak.
pub struct Shop {
    pub store: Store,
    pub lang: Lang,
    /// The store came from a stale copy (catalog is down).
    pub stale: bool,
}

impl FromRequestParts<AppState> for Shop {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let host = host_of(&parts.headers);
        if is_platform_host(&host, &state.config.base_domain) {
            return Err(platform_home(&parts.headers).into_response());
        }
        let answer = state
            .upstreams
            .catalog
            .get_public(&format!("/stores/resolve?host={}", encode(&host)))
            .await
            .map_err(|e| PageError::from(e).into_response())?;
        let stale = answer.is_fallback();
        let store = Store::from_json(&answer.into_inner())
            .ok_or_else(|| PageError::NotFound.into_response())?;
        let lang = Lang::negotiate(store.language.as_deref(), &parts.headers);
        Ok(Self { store, lang, stale })
    }
}

/// The platform's own front page (a host that is no store's).
fn platform_home(headers: &HeaderMap) -> Markup {
    let lang = Lang::negotiate(Some("en"), headers);
    layout(
        &Frame::plain(lang, "Summit"),
        html! {
            h1 { "Summit" }
            p { (lang.tr("Commerce for small shops.", "Comércio para pequenas lojas.")) }
            ul.links {
                li { a href="/admin" { (lang.tr("Merchants: open your store or sign in", "Lojistas: abra sua loja ou entre")) } }
                li { a href="/ops" { (lang.tr("Operators: failed messages", "Operação: mensagens com falha")) } }
            }
            p.hint { (lang.tr("Each store lives at its own address, like ", "Cada loja tem seu endereço, como "))
                code { "http://<slug>.summit.localhost:8080/" } }
        },
    )
}

/// What surrounds a page's body.
pub struct Frame<'a> {
    pub lang: Lang,
    pub title: String,
    pub store: Option<&'a Store>,
    /// `<meta http-equiv="refresh">` every this many seconds (status pages; works without JS).
    pub refresh_s: Option<u32>,
    pub scripts: Vec<&'static str>,
    /// Navigation links (href, text) in the header.
    pub nav: Vec<(String, String)>,
    /// A banner: the page shows copies because a service is down.
    pub notice: Option<String>,
}

impl<'a> Frame<'a> {
    pub fn plain(lang: Lang, title: impl Into<String>) -> Self {
        Self {
            lang,
            title: title.into(),
            store: None,
            refresh_s: None,
            scripts: Vec::new(),
            nav: Vec::new(),
            notice: None,
        }
    }

    /// A shop page of `shop`'s store, with the cart link.
    pub fn shop(shop: &'a Shop, title: impl Into<String>) -> Self {
        let lang = shop.lang;
        Self {
            store: Some(&shop.store),
            nav: vec![
                ("/".into(), lang.tr("Home", "Início").into()),
                ("/cart".into(), lang.tr("Cart", "Carrinho").into()),
            ],
            notice: shop.stale.then(|| {
                lang.tr(
                    "Some of what you see may be a few minutes old: we are reconnecting.",
                    "Parte do que você vê pode ter alguns minutos: estamos reconectando.",
                )
                .to_owned()
            }),
            ..Self::plain(lang, title)
        }
    }
}

/// The page around `body`.
// `body` by value: every caller hands over a freshly rendered `html!` block.
#[allow(clippy::needless_pass_by_value)]
pub fn layout(frame: &Frame<'_>, body: Markup) -> Markup {
    let full_title = match frame.store {
        Some(store) => format!("{} · {}", frame.title, store.name),
        None => frame.title.clone(),
    };
    html! {
        (DOCTYPE)
        html lang=(frame.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = frame.refresh_s {
                    meta http-equiv="refresh" content=(seconds);
                }
                title { (full_title) }
                link rel="stylesheet" href="/static/style.css";
                @for script in &frame.scripts {
                    script src=(format!("/static/{script}")) defer {}
                }
            }
            body {
                header.site {
                    @if let Some(store) = frame.store {
                        a.brand href="/" {
                            @if store.has_logo {
                                img.logo src=(format!("/logo?v={}", store.logo_version)) alt=(format!("{} logo", store.name));
                            }
                            span.store-name { (store.name) }
                        }
                    } @else {
                        a.brand href="/" { span.store-name { "Summit" } }
                    }
                    @if !frame.nav.is_empty() {
                        nav aria-label="Main" {
                            @for (href, text) in &frame.nav {
                                a href=(href) { (text) }
                            }
                        }
                    }
                }
                @if let Some(notice) = &frame.notice {
                    p.notice role="status" { (notice) }
                }
                main { (body) }
                footer { (PreEscaped("&copy;")) " Summit" }
            }
        }
    }
}

/// A hidden CSRF field.
pub fn csrf_field(token: &crate::cookies::CsrfToken) -> Markup {
    html! { input type="hidden" name="csrf" value=(token.0); }
}

/// Refuses a form whose CSRF token is not the visitor's.
pub fn check_csrf(
    token: &crate::cookies::CsrfToken,
    presented: Option<&str>,
) -> Result<(), PageError> {
    if crate::cookies::same_token(token, presented) {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// A 303 to `location`.
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response()
}
