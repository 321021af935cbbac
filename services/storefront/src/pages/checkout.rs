//! Checkout and the order's status.
//!
//! Invariants:
//! - Card data never reaches Summit: the card inputs have no `name` (a form post cannot carry
//!   them), and `checkout.js` tokenizes the card at the gateway from the browser, sending only
//!   the token here.
//! - One `Idempotency-Key` per checkout attempt: a hidden field made fresh each time the form
//!   is rendered, passed to checkout as is. A double click (or a retry after a timeout) sends
//!   the same key, and checkout answers the first order again: one order.
//! - If checkout cannot answer, the cart is kept and the form comes back with the same key,
//!   saying to try again.
//! - The status page refreshes itself (`<meta http-equiv="refresh">`, no JavaScript) until the
//!   order is confirmed or cancelled.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cart::{self, Priced};
use super::forms::{Checked, csrf_form, see_other_setting};
use super::{Frame, PageError, PageResult, Shop, csrf_field, layout, see_other};
use crate::AppState;
use crate::cookies::CsrfToken;
use crate::i18n::Lang;
use crate::upstream::{Body, UpstreamError, encode};

/// The checkout form's fields (the card's are not among them: they are never posted).
#[derive(Debug, Default, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    pub csrf: Option<String>,
    #[serde(default)]
    pub idempotency_key: String,
    #[serde(default)]
    pub card_token: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub country: String,
}

fn field(
    id: &str,
    label: &str,
    value: &str,
    kind: &str,
    autocomplete: &str,
    required: bool,
) -> Markup {
    html! {
        p.field {
            label for=(id) { (label) }
            input id=(id) name=(id) type=(kind) value=(value) autocomplete=(autocomplete) required[required];
        }
    }
}

fn summary(lang: Lang, priced: &[Priced]) -> Markup {
    let total: i64 = priced
        .iter()
        .map(|p| p.unit_minor * i64::from(p.line.quantity))
        .sum();
    let currency = priced
        .first()
        .map(|p| p.currency.as_str())
        .unwrap_or_default();
    html! {
        ul.summary {
            @for p in priced {
                li { (p.line.quantity) " × " (p.name) " — " (lang.money(p.unit_minor * i64::from(p.line.quantity), &p.currency)) }
            }
        }
        p.total { (lang.tr("Total", "Total")) ": " (lang.money(total, currency)) }
    }
}

#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    shop: &Shop,
    csrf: &CsrfToken,
    priced: &[Priced],
    form: &CheckoutForm,
    key: &str,
    error: Option<String>,
) -> Markup {
    let lang = shop.lang;
    let mut frame = Frame::shop(shop, lang.tr("Checkout", "Finalizar compra"));
    frame.scripts.push("checkout.js");
    let country = if form.country.is_empty() {
        "BR"
    } else {
        &form.country
    };
    layout(
        &frame,
        html! {
            h1 { (lang.tr("Checkout", "Finalizar compra")) }
            (summary(lang, priced))
            @if let Some(error) = error {
                p.error role="alert" #checkout-error { (error) }
            } @else {
                p.error role="alert" #checkout-error hidden {}
            }
            form #checkout method="post" action="/checkout"
                data-tokenize-url=(state.config.gateway_tokenize_url)
                data-public-key=(state.config.gateway_public_key)
                data-card-error=(lang.tr("The card could not be checked. Please review its details.", "Não foi possível verificar o cartão. Confira os dados."))
                data-needs-js=(lang.tr("Paying by card needs JavaScript in this browser.", "O pagamento com cartão precisa de JavaScript neste navegador.")) {
                (csrf_field(csrf))
                input type="hidden" name="idempotency_key" value=(key);
                input type="hidden" name="card_token" #card_token value="";
                fieldset {
                    legend { (lang.tr("You", "Você")) }
                    (field("name", lang.tr("Full name", "Nome completo"), &form.name, "text", "name", true))
                    (field("email", lang.tr("Email", "E-mail"), &form.email, "email", "email", true))
                }
                fieldset {
                    legend { (lang.tr("Delivery address", "Endereço de entrega")) }
                    (field("line1", lang.tr("Street and number", "Rua e número"), &form.line1, "text", "address-line1", true))
                    (field("line2", lang.tr("Complement (optional)", "Complemento (opcional)"), &form.line2, "text", "address-line2", false))
                    (field("city", lang.tr("City", "Cidade"), &form.city, "text", "address-level2", true))
                    (field("state", lang.tr("State (optional)", "Estado (opcional)"), &form.state, "text", "address-level1", false))
                    (field("postal_code", lang.tr("Postal code", "CEP"), &form.postal_code, "text", "postal-code", true))
                    (field("country", lang.tr("Country (two letters)", "País (duas letras)"), country, "text", "country", true))
                }
                fieldset {
                    legend { (lang.tr("Card (sent straight to the payment gateway, never to us)", "Cartão (enviado direto ao gateway de pagamento, nunca a nós)")) }
                    p.field { label for="card_number" { (lang.tr("Card number", "Número do cartão")) }
                        input #card_number type="text" inputmode="numeric" autocomplete="cc-number" required; }
                    p.field { label for="card_holder" { (lang.tr("Name on the card", "Nome no cartão")) }
                        input #card_holder type="text" autocomplete="cc-name" required; }
                    p.field { label for="card_exp_month" { (lang.tr("Expiry month", "Mês de validade")) }
                        input #card_exp_month type="number" min="1" max="12" autocomplete="cc-exp-month" required; }
                    p.field { label for="card_exp_year" { (lang.tr("Expiry year", "Ano de validade")) }
                        input #card_exp_year type="number" min="2024" max="2100" autocomplete="cc-exp-year" required; }
                    p.field { label for="card_cvv" { "CVV" }
                        input #card_cvv type="text" inputmode="numeric" autocomplete="cc-csc" required; }
                }
                button #place-order type="submit" { (lang.tr("Place order", "Fazer pedido")) }
            }
        },
    )
}

/// `GET /checkout`.
pub async fn form(
    State(state): State<AppState>,
    shop: Shop,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> Response {
    let lines = cart::read(&state, &headers);
    if lines.is_empty() {
        return see_other("/cart");
    }
    let (priced, _) = cart::priced(&state, &shop, &lines).await;
    let key = uuid::Uuid::new_v4().to_string();
    render(
        &state,
        &shop,
        &csrf,
        &priced,
        &CheckoutForm::default(),
        &key,
        None,
    )
    .into_response()
}

/// Checkout's field names, in the shopper's words.
fn field_label(lang: Lang, field: &str) -> &'static str {
    match field {
        "customer.name" => lang.tr("Full name", "Nome completo"),
        "customer.email" => lang.tr("Email", "E-mail"),
        f if f.starts_with("shipping_address") => {
            lang.tr("Delivery address", "Endereço de entrega")
        }
        f if f.starts_with("lines") => lang.tr("An item in your cart", "Um item do seu carrinho"),
        f if f.starts_with("payment") => lang.tr("Card", "Cartão"),
        _ => lang.tr("A field", "Um campo"),
    }
}

fn opt(value: &str) -> Value {
    let value = value.trim();
    if value.is_empty() {
        Value::Null
    } else {
        json!(value)
    }
}

/// `POST /checkout`: places the order at checkout with the form's Idempotency-Key, then sends
/// the shopper to the order's status page.
pub async fn place(
    State(state): State<AppState>,
    shop: Shop,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Checked(form): Checked<CheckoutForm>,
) -> PageResult {
    let lang = shop.lang;
    let lines = cart::read(&state, &headers);
    if lines.is_empty() {
        return Ok(see_other("/cart"));
    }
    let key = form.idempotency_key.trim();
    if key.is_empty() || key.len() > 255 {
        return Err(PageError::BadRequest("idempotency_key".into()));
    }
    let (priced, _) = cart::priced(&state, &shop, &lines).await;
    if form.card_token.trim().is_empty() {
        let error = lang.tr(
            "Paying by card needs JavaScript in this browser (the card is checked by the payment gateway).",
            "O pagamento com cartão precisa de JavaScript neste navegador (o cartão é verificado pelo gateway de pagamento).",
        );
        let page = render(
            &state,
            &shop,
            &csrf,
            &priced,
            &form,
            key,
            Some(error.into()),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let mut address = json!({
        "line1": form.line1.trim(), "city": form.city.trim(),
        "postal_code": form.postal_code.trim(), "country": form.country.trim().to_ascii_uppercase(),
    });
    for (name, value) in [("line2", &form.line2), ("state", &form.state)] {
        if !opt(value).is_null() {
            address[name] = opt(value);
        }
    }
    let order = json!({
        "lines": lines.iter().map(|l| json!({"product_id": l.product_id, "quantity": l.quantity})).collect::<Vec<_>>(),
        "customer": {"name": form.name.trim(), "email": form.email.trim()},
        "shipping_address": address,
        "payment": {"card_token": form.card_token.trim()},
    });
    let answer = state
        .upstreams
        .checkout
        .send(
            reqwest::Method::POST,
            &format!("/stores/{}/orders", shop.store.slug),
            None,
            Body::Json(order),
            Some(key),
        )
        .await;
    match answer {
        Ok((_, body)) => {
            let (Some(id), Some(token)) = (body["order_id"].as_str(), body["token"].as_str())
            else {
                return Err(PageError::Unavailable { retry_after_s: 5 });
            };
            Ok(see_other_setting(
                &format!("/orders/{id}?token={}", encode(token)),
                [cart::write(&state, &headers, &[])],
            ))
        }
        Err(error @ UpstreamError::Status { .. }) => {
            // Refused, nothing stored: a new attempt gets a new key.
            let message = match error.field_error() {
                Some((field, why)) => format!("{}: {why}", field_label(lang, &field)),
                None => error.detail().unwrap_or_default(),
            };
            let fresh = uuid::Uuid::new_v4().to_string();
            let page = render(&state, &shop, &csrf, &priced, &form, &fresh, Some(message));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(UpstreamError::Unavailable { .. }) => {
            // The same attempt may have landed: keep its key, so trying again is safe.
            let message = lang.tr(
                "We could not place your order just now. Your cart is kept: please try again in a few seconds.",
                "Não conseguimos fazer seu pedido agora. Seu carrinho foi mantido: tente de novo em alguns segundos.",
            );
            let page = render(
                &state,
                &shop,
                &csrf,
                &priced,
                &form,
                key,
                Some(message.into()),
            );
            let mut response = (StatusCode::SERVICE_UNAVAILABLE, page).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            Ok(response)
        }
    }
}

/// A status in the shopper's words.
pub fn status_label(lang: Lang, status: &str) -> &'static str {
    match status {
        "pending" => lang.tr("Received, checking stock", "Recebido, conferindo o estoque"),
        "reserved" => lang.tr(
            "Stock reserved, charging the card",
            "Estoque reservado, cobrando o cartão",
        ),
        "awaiting_payment" => lang.tr("Awaiting payment", "Aguardando pagamento"),
        "confirmed" => lang.tr("Confirmed", "Confirmado"),
        "cancelled" => lang.tr("Cancelled", "Cancelado"),
        _ => lang.tr("In progress", "Em andamento"),
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// The timeline of an order as a list.
pub fn timeline(lang: Lang, order: &Value) -> Markup {
    html! {
        ol.timeline {
            @for entry in order["timeline"].as_array().into_iter().flatten() {
                li {
                    time datetime=(entry["at"].as_str().unwrap_or_default()) { (entry["at"].as_str().unwrap_or_default().get(..19).unwrap_or_default().replace('T', " ")) }
                    " — " (status_label(lang, entry["status"].as_str().unwrap_or_default()))
                    @if let Some(reason) = entry["reason"].as_str() { " (" (reason) ")" }
                }
            }
        }
    }
}

/// `GET /orders/{id}?token=`: the order's status, refreshing itself until it is final.
pub async fn status(
    State(state): State<AppState>,
    shop: Shop,
    Path(id): Path<String>,
    Query(query): Query<TokenQuery>,
) -> PageResult {
    let lang = shop.lang;
    let id: uuid::Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let order = state
        .upstreams
        .checkout
        .get(
            &format!(
                "/orders/{id}?token={}&lang={}",
                encode(&query.token),
                lang.code()
            ),
            None,
        )
        .await?;
    let status = order["status"].as_str().unwrap_or_default();
    let last = matches!(status, "confirmed" | "cancelled");
    let mut frame = Frame::shop(&shop, lang.tr("Your order", "Seu pedido"));
    if !last {
        frame.refresh_s = Some(3);
    }
    Ok(layout(
        &frame,
        html! {
            h1 { (lang.tr("Your order", "Seu pedido")) }
            p.order-status data-status=(status) role="status" {
                strong { (status_label(lang, status)) }
            }
            @if let Some(reason) = order["reason_message"].as_str() {
                p.reason { (reason) }
            }
            @if !last {
                p.hint { (lang.tr("This page updates by itself.", "Esta página se atualiza sozinha.")) }
            }
            h2 { (lang.tr("Items", "Itens")) }
            ul.summary {
                @for line in order["lines"].as_array().into_iter().flatten() {
                    li { (line["quantity"]) " × " (line["name"].as_str().unwrap_or_default()) " — "
                        (lang.money(line["line_total_minor"].as_i64().unwrap_or_default(), order["currency"].as_str().unwrap_or_default())) }
                }
            }
            p.total { (lang.tr("Total", "Total")) ": " (lang.money(order["total_minor"].as_i64().unwrap_or_default(), order["currency"].as_str().unwrap_or_default())) }
            h2 { (lang.tr("What happened", "O que aconteceu")) }
            (timeline(lang, &order))
        },
    )
    .into_response())
}

csrf_form!(CheckoutForm);
