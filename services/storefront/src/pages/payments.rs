//! The merchant's payments (`/admin/payments`): transactions (status filter, pages), one
//! transaction with its history, and the gateway the store charges through — payments'
//! `/admin/transactions` and `/admin/gateway` as pages.
//!
//! Invariants: every call carries the session's admin key, so another store's transaction is
//! payments' 404; a gateway secret goes from the form to payments and is never shown again —
//! not in the form (which has no value for it), not when payments refuses the form (only the
//! provider and public key come back), only its last four characters as payments gives them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{Merchant, page, problem_text};
use super::forms::{Checked, csrf_form};
use super::{PageError, PageResult, csrf_field, see_other};
use crate::AppState;
use crate::cookies::CsrfToken;
use crate::i18n::Lang;
use crate::upstream::{Body, UpstreamError, encode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/payments", get(transactions))
        .route("/admin/payments/gateway", post(set_gateway))
        .route("/admin/payments/{id}", get(transaction))
}

/// Payments' statuses, in the merchant's words.
fn status_label(lang: Lang, status: &str) -> &'static str {
    match status {
        "processing" => lang.tr("Processing", "Processando"),
        "authorized" => lang.tr("Authorized", "Autorizado"),
        "completed" => lang.tr("Paid", "Pago"),
        "declined" => lang.tr("Declined", "Recusado"),
        "voided" => lang.tr("Voided", "Estornado"),
        "pending_offline" => lang.tr("Waiting for the gateway", "Aguardando o gateway"),
        "gateway_error" => lang.tr("Gateway error", "Erro no gateway"),
        "error" => lang.tr("Error", "Erro"),
        _ => lang.tr("Unknown", "Desconhecido"),
    }
}

const STATUSES: [&str; 8] = [
    "processing",
    "authorized",
    "completed",
    "declined",
    "voided",
    "pending_offline",
    "gateway_error",
    "error",
];

fn when(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .get(..16)
        .unwrap_or_default()
        .replace('T', " ")
}

/// The gateway form's fields. The secret is only ever read from here, never written back.
#[derive(Default, Deserialize)]
struct GatewayForm {
    csrf: Option<String>,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    public_key: String,
    #[serde(default)]
    secret_key: String,
}

/// The gateway section: what payments shows (provider, public key, the secret's last four)
/// and the form to change it, prefilled with the provider and public key only.
fn gateway_section(
    lang: Lang,
    csrf: &CsrfToken,
    shown: &Value,
    form: &GatewayForm,
    error: Option<&str>,
) -> Markup {
    let provider = if form.provider.is_empty() {
        shown["provider"].as_str().unwrap_or("pagarme")
    } else {
        form.provider.as_str()
    };
    let public_key = if form.public_key.is_empty() {
        shown["public_key"].as_str().unwrap_or_default()
    } else {
        form.public_key.as_str()
    };
    html! {
        h2 #gateway { (lang.tr("Payment gateway", "Gateway de pagamento")) }
        @if shown["customised"] == Value::Bool(true) {
            p #gateway-current {
                (lang.tr("Your own account: ", "Sua própria conta: "))
                strong { (shown["provider"].as_str().unwrap_or_default()) } ", "
                (lang.tr("public key ", "chave pública ")) code { (shown["public_key"].as_str().unwrap_or_default()) } ", "
                (lang.tr("secret key ending in ", "chave secreta terminada em ")) code #secret-last4 { (shown["secret_key_last4"].as_str().unwrap_or_default()) }
            }
        } @else {
            p #gateway-current { (lang.tr("Charging through Summit's pagar.me account (the default).", "Cobrando pela conta pagar.me da Summit (o padrão).")) }
        }
        @if let Some(error) = error { p.error role="alert" #gateway-error { (error) } }
        form method="post" action="/admin/payments/gateway" autocomplete="off" {
            (csrf_field(csrf))
            label for="provider" { (lang.tr("Gateway", "Gateway")) }
            select #provider name="provider" {
                option value="pagarme" selected[provider != "stripe"] { "pagar.me" }
                option value="stripe" selected[provider == "stripe"] { "Stripe" }
            }
            label for="public_key" { (lang.tr("Public key", "Chave pública")) }
            input #public_key name="public_key" value=(public_key) required;
            label for="secret_key" { (lang.tr("Secret key (never shown again)", "Chave secreta (nunca mais exibida)")) }
            input #secret_key type="password" name="secret_key" required autocomplete="new-password";
            p { button type="submit" { (lang.tr("Save gateway", "Salvar gateway")) } }
        }
    }
}

async fn transactions_page(
    state: &AppState,
    csrf: &CsrfToken,
    merchant: &Merchant,
    query: &std::collections::HashMap<String, String>,
    gateway_form: &GatewayForm,
    gateway_error: Option<&str>,
) -> PageResult {
    let lang = merchant.lang;
    let status = query.get("status").map(String::as_str).unwrap_or_default();
    let mut path = "/admin/transactions".to_owned();
    let mut params = Vec::new();
    if !status.is_empty() {
        params.push(format!("status={}", encode(status)));
    }
    if let Some(cursor) = query.get("cursor").filter(|c| !c.is_empty()) {
        params.push(format!("cursor={}", encode(cursor)));
    }
    if !params.is_empty() {
        path.push('?');
        path.push_str(&params.join("&"));
    }
    let payments = state.upstreams.payments.as_caller(&merchant.session.key);
    let (list, shown) = tokio::join!(payments.get(&path), payments.get("/admin/gateway"));
    let (list, shown) = (list?, shown?);
    let body = page(
        merchant,
        csrf,
        lang.tr("Payments", "Pagamentos"),
        html! {
            h1 { (lang.tr("Payments", "Pagamentos")) }
            form.search method="get" action="/admin/payments" {
                label for="status" { (lang.tr("Status", "Situação")) }
                select #status name="status" {
                    option value="" { (lang.tr("All", "Todos")) }
                    @for s in STATUSES {
                        option value=(s) selected[s == status] { (status_label(lang, s)) }
                    }
                }
                button type="submit" { (lang.tr("Filter", "Filtrar")) }
            }
            table #transactions {
                caption { (lang.tr("Newest first", "Mais recentes primeiro")) }
                thead { tr {
                    th scope="col" { (lang.tr("Date", "Data")) }
                    th scope="col" { (lang.tr("Order", "Pedido")) }
                    th scope="col" { (lang.tr("Status", "Situação")) }
                    th scope="col" { (lang.tr("Amount", "Valor")) }
                    th scope="col" { (lang.tr("Gateway", "Gateway")) }
                } }
                tbody {
                    @for t in list["items"].as_array().into_iter().flatten() {
                        @let id = t["id"].as_str().unwrap_or_default();
                        tr data-transaction=(id) {
                            td { a href=(format!("/admin/payments/{}", encode(id))) { (when(&t["created_at"])) } }
                            td { a href=(format!("/admin/orders/{}", encode(t["order_id"].as_str().unwrap_or_default()))) { code { (t["order_id"].as_str().unwrap_or_default().get(..8).unwrap_or_default()) } } }
                            td.status data-status=(t["status"].as_str().unwrap_or_default()) { (status_label(lang, t["status"].as_str().unwrap_or_default())) }
                            td { (lang.money(t["amount_minor"].as_i64().unwrap_or_default(), t["currency"].as_str().unwrap_or_default())) }
                            td { (t["gateway"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
            @if let Some(next) = list["next_cursor"].as_str() {
                p { a rel="next" href=(format!("/admin/payments?status={}&cursor={}", encode(status), encode(next))) { (lang.tr("Next page", "Próxima página")) } }
            }
            (gateway_section(lang, csrf, &shown, gateway_form, gateway_error))
        },
    );
    let code = if gateway_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((code, body).into_response())
}

/// `GET /admin/payments?status=&cursor=`: transactions and the gateway.
async fn transactions(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> PageResult {
    transactions_page(
        &state,
        &csrf,
        &merchant,
        &query,
        &GatewayForm::default(),
        None,
    )
    .await
}

/// `POST /admin/payments/gateway`: the settings go to payments whole; a refusal comes back
/// naming the field, with the secret left out.
async fn set_gateway(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Checked(form): Checked<GatewayForm>,
) -> PageResult {
    let body = json!({
        "provider": form.provider.trim(),
        "public_key": form.public_key.trim(),
        "secret_key": form.secret_key.trim(),
    });
    match state
        .upstreams
        .payments
        .as_caller(&merchant.session.key)
        .send(reqwest::Method::PUT, "/admin/gateway", Body::Json(body))
        .await
    {
        Ok(_) => Ok(see_other("/admin/payments#gateway")),
        Err(error @ UpstreamError::Status { status: 422, .. }) => {
            let kept = GatewayForm {
                csrf: None,
                provider: form.provider.trim().to_owned(),
                public_key: form.public_key.trim().to_owned(),
                secret_key: String::new(),
            };
            let message = problem_text(&error);
            transactions_page(
                &state,
                &csrf,
                &merchant,
                &Default::default(),
                &kept,
                Some(&message),
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

/// `GET /admin/payments/{id}`: one transaction and what happened to it.
async fn transaction(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Path(id): Path<String>,
) -> PageResult {
    let lang = merchant.lang;
    let id: uuid::Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    let t = state
        .upstreams
        .payments
        .as_caller(&merchant.session.key)
        .get(&format!("/admin/transactions/{id}"))
        .await?;
    let status = t["status"].as_str().unwrap_or_default();
    Ok(page(
        &merchant,
        &csrf,
        lang.tr("Payment", "Pagamento"),
        html! {
            h1 { (lang.tr("Payment", "Pagamento")) }
            dl {
                dt { (lang.tr("Order", "Pedido")) } dd { a href=(format!("/admin/orders/{}", encode(t["order_id"].as_str().unwrap_or_default()))) { code { (t["order_id"].as_str().unwrap_or_default()) } } }
                dt { (lang.tr("Status", "Situação")) } dd #payment-status data-status=(status) { (status_label(lang, status)) }
                dt { (lang.tr("Amount", "Valor")) } dd { (lang.money(t["amount_minor"].as_i64().unwrap_or_default(), t["currency"].as_str().unwrap_or_default())) }
                dt { (lang.tr("Gateway", "Gateway")) } dd { (t["gateway"].as_str().unwrap_or_default()) " " code { (t["gateway_charge_id"].as_str().unwrap_or_default()) } }
            }
            h2 { (lang.tr("History", "Histórico")) }
            table #history {
                thead { tr {
                    th scope="col" { (lang.tr("When", "Quando")) }
                    th scope="col" { (lang.tr("Step", "Etapa")) }
                    th scope="col" { (lang.tr("From → to", "De → para")) }
                    th scope="col" { (lang.tr("Why", "Por quê")) }
                } }
                tbody {
                    @for h in t["history"].as_array().into_iter().flatten() {
                        tr {
                            td { (when(&h["at"])) }
                            td { (h["operation"].as_str().unwrap_or_default()) }
                            td { (h["from"].as_str().map_or("—", |from| status_label(lang, from))) " → " (status_label(lang, h["to"].as_str().unwrap_or_default())) }
                            td { (h["why"].as_str().unwrap_or_default()) }
                        }
                    }
                }
            }
            p { a href="/admin/payments" { (lang.tr("All payments", "Todos os pagamentos")) } }
        },
    )
    .into_response())
}

csrf_form!(GatewayForm);
