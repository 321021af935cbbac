//! The cart: product ids and quantities in a sealed cookie of the store's host, so it survives
//! a checkout that failed and needs no JavaScript (every change is a form post).
//!
//! Invariants: at most [`MAX_LINES`] lines, each quantity 1–1,000 (checkout's bounds); names
//! and prices are read fresh from catalog for every view, never from the cookie.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::forms::{Checked, csrf_form, see_other_setting};
use super::{Frame, PageError, PageResult, Shop, csrf_field, layout};
use crate::AppState;
use crate::cookies::{self, CART, CsrfToken};

pub const MAX_LINES: usize = 50;
pub const MAX_QUANTITY: u32 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line {
    #[serde(rename = "p")]
    pub product_id: Uuid,
    #[serde(rename = "q")]
    pub quantity: u32,
}

/// The visitor's cart (empty if none, or if the cookie does not open).
pub fn read(state: &AppState, headers: &HeaderMap) -> Vec<Line> {
    cookies::jar(headers)
        .get(CART)
        .and_then(|v| state.sealer.open::<Vec<Line>>(CART, v))
        .unwrap_or_default()
}

/// The `Set-Cookie` that keeps `lines` (or deletes the cookie when empty).
pub fn write(state: &AppState, headers: &HeaderMap, lines: &[Line]) -> header::HeaderValue {
    let secure = state.config.cookie_secure || cookies::over_tls(headers);
    if lines.is_empty() {
        cookies::set_cookie(CART, "", 0, secure)
    } else {
        cookies::set_cookie(
            CART,
            &state.sealer.seal(CART, &lines),
            60 * 60 * 24 * 30,
            secure,
        )
    }
}

#[derive(Debug, Deserialize)]
pub struct LineForm {
    csrf: Option<String>,
    product_id: String,
    quantity: String,
}

fn parse(form: &LineForm) -> Result<(Uuid, u32), PageError> {
    let id = form
        .product_id
        .parse()
        .map_err(|_| PageError::BadRequest("product_id".into()))?;
    let quantity = form
        .quantity
        .trim()
        .parse::<u32>()
        .map_err(|_| PageError::BadRequest("quantity must be a whole number".into()))?;
    Ok((id, quantity))
}

/// `POST /cart/add`: adds to a line (or makes one), then shows the cart.
pub async fn add(
    State(state): State<AppState>,
    _shop: Shop,
    headers: HeaderMap,
    Checked(form): Checked<LineForm>,
) -> PageResult {
    let (id, quantity) = parse(&form)?;
    let mut lines = read(&state, &headers);
    let room = lines.len() < MAX_LINES;
    match lines.iter_mut().find(|l| l.product_id == id) {
        Some(line) => line.quantity = (line.quantity + quantity).clamp(1, MAX_QUANTITY),
        None if room && quantity > 0 => lines.push(Line {
            product_id: id,
            quantity: quantity.min(MAX_QUANTITY),
        }),
        None => {}
    }
    Ok(see_other_setting(
        "/cart",
        [write(&state, &headers, &lines)],
    ))
}

/// `POST /cart/update`: sets a line's quantity; 0 removes it.
pub async fn update(
    State(state): State<AppState>,
    _shop: Shop,
    headers: HeaderMap,
    Checked(form): Checked<LineForm>,
) -> PageResult {
    let (id, quantity) = parse(&form)?;
    let mut lines = read(&state, &headers);
    if quantity == 0 {
        lines.retain(|l| l.product_id != id);
    } else if let Some(line) = lines.iter_mut().find(|l| l.product_id == id) {
        line.quantity = quantity.min(MAX_QUANTITY);
    }
    Ok(see_other_setting(
        "/cart",
        [write(&state, &headers, &lines)],
    ))
}

/// A cart line with what catalog says about its product now.
pub struct Priced {
    pub line: Line,
    pub name: String,
    pub unit_minor: i64,
    pub currency: String,
}

/// The lines whose products are still on sale, priced; and whether some could not be read.
pub async fn priced(state: &AppState, shop: &Shop, lines: &[Line]) -> (Vec<Priced>, bool) {
    let mut out = Vec::new();
    let mut unavailable = false;
    for line in lines {
        let path = format!("/stores/{}/products/{}", shop.store.slug, line.product_id);
        match state.upstreams.catalog.get_public(&path).await {
            Ok(served) => {
                let product = served.into_inner();
                out.push(Priced {
                    line: line.clone(),
                    name: product["name"].as_str().unwrap_or_default().to_owned(),
                    unit_minor: product["price_minor"].as_i64().unwrap_or_default(),
                    currency: product["currency"].as_str().unwrap_or_default().to_owned(),
                });
            }
            Err(error) if error.is_not_found() => {}
            Err(_) => unavailable = true,
        }
    }
    (out, unavailable)
}

/// `GET /cart`.
pub async fn show(
    State(state): State<AppState>,
    shop: Shop,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    let lang = shop.lang;
    let lines = read(&state, &headers);
    let (priced, unavailable) = priced(&state, &shop, &lines).await;
    let total: i64 = priced
        .iter()
        .map(|p| p.unit_minor * i64::from(p.line.quantity))
        .sum();
    let currency = priced
        .first()
        .map(|p| p.currency.clone())
        .unwrap_or_default();
    let mut frame = Frame::shop(&shop, lang.tr("Cart", "Carrinho"));
    if unavailable {
        frame.notice = Some(
            lang.tr(
                "Some items cannot be shown right now; they are still in your cart.",
                "Alguns itens não podem ser mostrados agora; eles continuam no seu carrinho.",
            )
            .to_owned(),
        );
    }
    layout(
        &frame,
        html! {
            h1 { (lang.tr("Your cart", "Seu carrinho")) }
            @if priced.is_empty() && !unavailable {
                p { (lang.tr("Your cart is empty.", "Seu carrinho está vazio.")) }
                p { a href="/" { (lang.tr("Continue shopping", "Continuar comprando")) } }
            } @else {
                table.cart {
                    caption { (lang.tr("Items in your cart", "Itens no seu carrinho")) }
                    thead { tr {
                        th scope="col" { (lang.tr("Product", "Produto")) }
                        th scope="col" { (lang.tr("Quantity", "Quantidade")) }
                        th scope="col" { (lang.tr("Price", "Preço")) }
                    } }
                    tbody {
                        @for (i, p) in priced.iter().enumerate() {
                            tr {
                                td { a href=(format!("/products/{}", p.line.product_id)) { (p.name) } }
                                td {
                                    form.inline method="post" action="/cart/update" {
                                        (csrf_field(&csrf))
                                        input type="hidden" name="product_id" value=(p.line.product_id);
                                        label for=(format!("qty{i}")) class="visually-hidden" { (lang.tr("Quantity of ", "Quantidade de ")) (p.name) }
                                        input id=(format!("qty{i}")) type="number" name="quantity" min="0" max="1000" value=(p.line.quantity);
                                        button type="submit" { (lang.tr("Update", "Atualizar")) }
                                    }
                                }
                                td { (lang.money(p.unit_minor * i64::from(p.line.quantity), &p.currency)) }
                            }
                        }
                    }
                    tfoot { tr {
                        th scope="row" colspan="2" { (lang.tr("Total", "Total")) }
                        td.total { (lang.money(total, &currency)) }
                    } }
                }
                p { a.button href="/checkout" { (lang.tr("Go to checkout", "Finalizar compra")) } }
            }
        },
    )
    .into_response()
}

csrf_form!(LineForm);
