//! The shop: home with a search box, results with price filters and pages, a product, the
//! logo, and suggestions as you type (`/suggest`, JSON, for the optional script).
//!
//! Everything here works without JavaScript: search is a GET form, pages are links.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;

use super::{Frame, PageError, PageResult, Shop, csrf_field, layout};
use crate::AppState;
use crate::cookies::CsrfToken;
use crate::i18n::{Lang, parse_price};
use crate::upstream::encode;

/// The search form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub min: String,
    #[serde(default)]
    pub max: String,
    #[serde(default)]
    pub cursor: String,
}

impl SearchForm {
    /// Catalog's query string for this search.
    fn catalog_query(&self, limit: u32) -> String {
        let mut query = format!("limit={limit}");
        if !self.q.trim().is_empty() {
            query.push_str(&format!("&q={}", encode(self.q.trim())));
        }
        if let Some(min) = parse_price(&self.min) {
            query.push_str(&format!("&min_price={min}"));
        }
        if let Some(max) = parse_price(&self.max) {
            query.push_str(&format!("&max_price={max}"));
        }
        if !self.cursor.is_empty() {
            query.push_str(&format!("&cursor={}", encode(&self.cursor)));
        }
        query
    }

    /// This page's link with another cursor.
    fn link(&self, cursor: Option<&str>) -> String {
        let mut link = format!(
            "/search?q={}&min={}&max={}",
            encode(&self.q),
            encode(&self.min),
            encode(&self.max)
        );
        if let Some(cursor) = cursor {
            link.push_str(&format!("&cursor={}", encode(cursor)));
        }
        link
    }
}

fn search_box(lang: Lang, form: &SearchForm, filters: bool) -> Markup {
    html! {
        form.search role="search" method="get" action="/search" {
            label for="q" { (lang.tr("Search products", "Buscar produtos")) }
            input #q type="search" name="q" value=(form.q) autocomplete="off"
                list="suggestions" data-suggest="/suggest";
            datalist #suggestions {}
            @if filters {
                label for="min" { (lang.tr("Lowest price", "Preço mínimo")) }
                input #min type="text" inputmode="decimal" name="min" value=(form.min) size="6";
                label for="max" { (lang.tr("Highest price", "Preço máximo")) }
                input #max type="text" inputmode="decimal" name="max" value=(form.max) size="6";
            }
            button type="submit" { (lang.tr("Search", "Buscar")) }
        }
    }
}

fn product_list(lang: Lang, items: &[Value]) -> Markup {
    html! {
        ul.products {
            @for item in items {
                li.product {
                    a href=(format!("/products/{}", item["id"].as_str().unwrap_or_default())) {
                        span.name { (item["name"].as_str().unwrap_or_default()) }
                    }
                    " "
                    span.price { (lang.money(item["price_minor"].as_i64().unwrap_or_default(), item["currency"].as_str().unwrap_or_default())) }
                    @if item["in_stock"] == Value::Bool(false) {
                        " " span.out { (lang.tr("out of stock", "esgotado")) }
                    }
                }
            }
        }
    }
}

/// `GET /` on a store's host.
pub async fn home(State(state): State<AppState>, shop: Shop) -> PageResult {
    let lang = shop.lang;
    let listing = state
        .upstreams
        .catalog
        .get_public(&format!("/stores/{}/products?limit=12", shop.store.slug))
        .await;
    let (items, notice) = match listing {
        Ok(served) => {
            let stale = served.is_fallback();
            (
                served.into_inner()["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
                stale,
            )
        }
        Err(_) => (Vec::new(), true),
    };
    let mut frame = Frame::shop(&shop, shop.store.name.clone());
    frame.scripts.push("suggest.js");
    if notice && frame.notice.is_none() {
        frame.notice = Some(unavailable_text(lang).to_owned());
    }
    Ok(layout(
        &frame,
        html! {
            h1 { (shop.store.name) }
            (search_box(lang, &SearchForm::default(), false))
            h2 { (lang.tr("Products", "Produtos")) }
            @if items.is_empty() {
                p { (lang.tr("No products to show yet.", "Ainda não há produtos para mostrar.")) }
            } @else {
                (product_list(lang, &items))
            }
        },
    )
    .into_response())
}

fn unavailable_text(lang: Lang) -> &'static str {
    lang.tr(
        "Search is unavailable for a moment. Please try again in a few seconds.",
        "A busca está indisponível por um momento. Tente de novo em alguns segundos.",
    )
}

/// `GET /search?q=&min=&max=&cursor=`.
pub async fn search(
    State(state): State<AppState>,
    shop: Shop,
    Query(form): Query<SearchForm>,
) -> PageResult {
    let lang = shop.lang;
    let answer = state
        .upstreams
        .catalog
        .get_public(&format!(
            "/stores/{}/products?{}",
            shop.store.slug,
            form.catalog_query(10)
        ))
        .await;
    let mut frame = Frame::shop(&shop, lang.tr("Search", "Busca"));
    frame.scripts.push("suggest.js");
    let (status, results) = match answer {
        Ok(served) => {
            if served.is_fallback() {
                frame.notice = Some(
                    lang.tr(
                        "These results may be a few minutes old: search is reconnecting.",
                        "Estes resultados podem ter alguns minutos: a busca está reconectando.",
                    )
                    .to_owned(),
                );
            }
            let page = served.into_inner();
            let items = page["items"].as_array().cloned().unwrap_or_default();
            let next = page["next_cursor"].as_str().map(str::to_owned);
            (
                StatusCode::OK,
                html! {
                    @if items.is_empty() {
                        p { (lang.tr("Nothing found. Try other words or prices.", "Nada encontrado. Tente outras palavras ou preços.")) }
                    } @else {
                        (product_list(lang, &items))
                    }
                    nav.pages aria-label=(lang.tr("Pages", "Páginas")) {
                        @if !form.cursor.is_empty() {
                            a href=(form.link(None)) { (lang.tr("First page", "Primeira página")) }
                            " "
                        }
                        @if let Some(next) = next {
                            a rel="next" href=(form.link(Some(&next))) { (lang.tr("Next page", "Próxima página")) }
                        }
                    }
                },
            )
        }
        Err(error) if error.status() == Some(422) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! { p.error role="alert" { (lang.tr("Please check the prices: use numbers like 10 or 10,50.", "Confira os preços: use números como 10 ou 10,50.")) } },
        ),
        Err(error) if error.is_not_found() => return Err(PageError::NotFound),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            html! { p.error role="alert" { (unavailable_text(lang)) } },
        ),
    };
    let body = layout(
        &frame,
        html! {
            h1 { (lang.tr("Search", "Busca")) }
            (search_box(lang, &form, true))
            h2 { (lang.tr("Results", "Resultados")) }
            (results)
        },
    );
    let mut response = (status, body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    Ok(response)
}

/// `GET /suggest?q=`: up to five product names starting like `q`, for the search box.
pub async fn suggest(
    State(state): State<AppState>,
    shop: Shop,
    Query(form): Query<SearchForm>,
) -> Response {
    if form.q.trim().chars().count() < 2 {
        return Json(Vec::<String>::new()).into_response();
    }
    let path = format!(
        "/stores/{}/products?limit=5&q={}",
        shop.store.slug,
        encode(form.q.trim())
    );
    match state.upstreams.catalog.get_public(&path).await {
        Ok(served) => {
            let names: Vec<String> = served.into_inner()["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item["name"].as_str().map(str::to_owned))
                .collect();
            Json(names).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(Vec::<String>::new())).into_response(),
    }
}

/// `GET /products/{id}`.
pub async fn product(
    State(state): State<AppState>,
    shop: Shop,
    csrf: axum::Extension<CsrfToken>,
    Path(id): Path<String>,
) -> PageResult {
    let lang = shop.lang;
    let id: uuid::Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let served = state
        .upstreams
        .catalog
        .get_public(&format!("/stores/{}/products/{id}", shop.store.slug))
        .await?;
    let mut frame = Frame::shop(&shop, String::new());
    if served.is_fallback() {
        frame.notice = Some(
            lang.tr(
                "This page may be a few minutes old: we are reconnecting.",
                "Esta página pode ter alguns minutos: estamos reconectando.",
            )
            .to_owned(),
        );
    }
    let product = served.into_inner();
    let name = product["name"].as_str().unwrap_or_default().to_owned();
    frame.title = name.clone();
    Ok(layout(
        &frame,
        html! {
            article.product-page {
                h1 { (name) }
                p.price { (lang.money(product["price_minor"].as_i64().unwrap_or_default(), product["currency"].as_str().unwrap_or_default())) }
                p.description { (product["description"].as_str().unwrap_or_default()) }
                p.sku { "SKU " (product["sku"].as_str().unwrap_or_default()) }
                form method="post" action="/cart/add" {
                    (csrf_field(&csrf))
                    input type="hidden" name="product_id" value=(id);
                    label for="quantity" { (lang.tr("Quantity", "Quantidade")) }
                    input #quantity type="number" name="quantity" value="1" min="1" max="1000";
                    button type="submit" { (lang.tr("Add to cart", "Adicionar ao carrinho")) }
                }
            }
        },
    )
    .into_response())
}

/// `GET /logo?v=`: the store's logo through the edge (so pages need no other origin), cached;
/// the `v` (the logo's version) makes the URL change with the logo.
pub async fn logo(State(state): State<AppState>, shop: Shop) -> PageResult {
    let served = state
        .upstreams
        .catalog
        .get_public(&format!("/stores/{}/logo", shop.store.slug))
        .await?;
    image(&served.into_inner())
}

/// An image carried as `{content_type, base64}` (see [`crate::upstream`]), as a response.
pub fn image(value: &Value) -> PageResult {
    let bytes = value["base64"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or(PageError::NotFound)?;
    let content_type = value["content_type"].as_str().unwrap_or("image/png");
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        bytes,
    )
        .into_response())
}
