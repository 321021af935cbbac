//! The merchant's notifications (`/admin/notifications`): webhook endpoints (listed, added —
//! the signing secret shown once), and deliveries (email and webhook, newest first, with their
//! attempts) that can be sent again — notifications' `/admin/webhooks` and `/admin/deliveries`
//! as pages.
//!
//! Invariants: every call carries the session's admin key (another store's delivery is
//! notifications' 404); an endpoint's secret appears only on the page that answers its
//! creation (`no-store`), never in the listing; adding an endpoint carries an
//! `Idempotency-Key` made when the form was rendered, so a double submit adds one.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{Merchant, page, problem_text};
use super::forms::{Checked, CsrfOnly, csrf_form};
use super::{PageError, PageResult, csrf_field, see_other};
use crate::AppState;
use crate::cookies::CsrfToken;
use crate::i18n::Lang;
use crate::upstream::{Body, UpstreamError, encode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/notifications", get(show))
        .route("/admin/notifications/webhooks", post(add_endpoint))
        .route("/admin/notifications/deliveries/{id}/resend", post(resend))
}

#[derive(Default, Deserialize)]
struct EndpointForm {
    csrf: Option<String>,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    url: String,
    /// Comma-separated event types (`checkout.OrderPlaced, …`).
    #[serde(default)]
    event_types: String,
}

fn when(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_default()
        .get(..16)
        .unwrap_or_default()
        .replace('T', " ")
}

fn delivery_status(lang: Lang, status: &str) -> &'static str {
    match status {
        "sent" => lang.tr("Sent", "Enviada"),
        "pending" => lang.tr("Waiting", "Aguardando"),
        "failed" => lang.tr("Failed", "Falhou"),
        "retrying" => lang.tr("Retrying", "Tentando de novo"),
        _ => lang.tr("In progress", "Em andamento"),
    }
}

async fn notifications_page(
    state: &AppState,
    csrf: &CsrfToken,
    merchant: &Merchant,
    form: &EndpointForm,
    refusal: Option<(StatusCode, String)>,
) -> PageResult {
    let lang = merchant.lang;
    let notifications = state
        .upstreams
        .notifications
        .as_caller(&merchant.session.key);
    let (endpoints, deliveries) = tokio::join!(
        notifications.get("/admin/webhooks"),
        notifications.get("/admin/deliveries")
    );
    let (endpoints, deliveries) = (endpoints?, deliveries?);
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let status = refusal.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let body = page(
        merchant,
        csrf,
        lang.tr("Notifications", "Notificações"),
        html! {
            h1 { (lang.tr("Notifications", "Notificações")) }
            h2 #webhooks { (lang.tr("Webhook endpoints", "Endpoints de webhook")) }
            table #endpoints {
                thead { tr {
                    th scope="col" { "URL" }
                    th scope="col" { (lang.tr("Events", "Eventos")) }
                    th scope="col" { (lang.tr("State", "Estado")) }
                } }
                tbody {
                    @for e in endpoints["items"].as_array().into_iter().flatten() {
                        tr data-endpoint=(e["id"].as_str().unwrap_or_default()) {
                            td { code { (e["url"].as_str().unwrap_or_default()) } }
                            td { (e["event_types"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")) }
                            td {
                                @if e["enabled"] == Value::Bool(true) {
                                    (lang.tr("enabled", "ativo"))
                                    @if e["consecutive_failures"].as_i64().unwrap_or(0) > 0 {
                                        " · " (lang.tr("failing: ", "falhando: ")) (e["consecutive_failures"])
                                    }
                                } @else {
                                    (lang.tr("disabled", "desativado")) " " (e["disabled_reason"].as_str().unwrap_or_default())
                                }
                            }
                        }
                    }
                }
            }
            @if let Some((_, message)) = &refusal {
                p.error role="alert" #endpoint-error { (message) }
            }
            form method="post" action="/admin/notifications/webhooks" {
                (csrf_field(csrf))
                input type="hidden" name="idempotency_key" value=(idempotency_key);
                label for="url" { (lang.tr("Endpoint URL (https)", "URL do endpoint (https)")) }
                input #url type="url" name="url" value=(form.url) required;
                label for="event_types" { (lang.tr("Events, separated by commas (like checkout.OrderPlaced)", "Eventos, separados por vírgulas (como checkout.OrderPlaced)")) }
                input #event_types name="event_types" value=(form.event_types) required;
                p { button type="submit" { (lang.tr("Add endpoint", "Adicionar endpoint")) } }
            }
            h2 #deliveries-title { (lang.tr("Deliveries", "Entregas")) }
            table #deliveries {
                caption { (lang.tr("Newest first", "Mais recentes primeiro")) }
                thead { tr {
                    th scope="col" { (lang.tr("Date", "Data")) }
                    th scope="col" { (lang.tr("Channel", "Canal")) }
                    th scope="col" { (lang.tr("Event", "Evento")) }
                    th scope="col" { (lang.tr("To", "Para")) }
                    th scope="col" { (lang.tr("Status", "Situação")) }
                    th scope="col" { (lang.tr("Attempts", "Tentativas")) }
                    th scope="col" { (lang.tr("Actions", "Ações")) }
                } }
                tbody {
                    @for d in deliveries["items"].as_array().into_iter().flatten() {
                        @let id = d["id"].as_str().unwrap_or_default();
                        @let status = d["status"].as_str().unwrap_or_default();
                        tr data-delivery=(id) data-channel=(d["channel"].as_str().unwrap_or_default()) {
                            td { (when(&d["created_at"])) }
                            td { (d["channel"].as_str().unwrap_or_default()) }
                            td { (d["event_type"].as_str().unwrap_or_default()) }
                            td { (d["recipient"].as_str().unwrap_or_default()) }
                            td.status data-status=(status) {
                                (delivery_status(lang, status))
                                @if let Some(error) = d["last_error"].as_str() { br; small { (error) } }
                            }
                            td { (d["attempt_count"]) }
                            td {
                                form.inline method="post" action=(format!("/admin/notifications/deliveries/{}/resend", encode(id))) {
                                    (csrf_field(csrf))
                                    button type="submit" { (lang.tr("Send again", "Reenviar")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    Ok((status, body).into_response())
}

/// `GET /admin/notifications`.
async fn show(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
) -> PageResult {
    notifications_page(&state, &csrf, &merchant, &EndpointForm::default(), None).await
}

/// `POST /admin/notifications/webhooks`: the endpoint added and its signing secret shown
/// once; a refusal names the field.
async fn add_endpoint(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Checked(form): Checked<EndpointForm>,
) -> PageResult {
    let lang = merchant.lang;
    let event_types: Vec<&str> = form
        .event_types
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let key = Some(form.idempotency_key.as_str()).filter(|k| !k.is_empty() && k.len() <= 255);
    match state
        .upstreams
        .notifications
        .as_caller(&merchant.session.key)
        .send_once(
            reqwest::Method::POST,
            "/admin/webhooks",
            Body::Json(json!({"url": form.url.trim(), "event_types": event_types})),
            key,
        )
        .await
    {
        Ok((_, endpoint)) => {
            let body = page(
                &merchant,
                &csrf,
                lang.tr("Endpoint added", "Endpoint adicionado"),
                html! {
                    h1 { (lang.tr("Endpoint added", "Endpoint adicionado")) }
                    p { code { (endpoint["url"].as_str().unwrap_or_default()) } }
                    p { (lang.tr("Its signing secret, shown only now: the endpoint checks each request's signature with it.",
                                 "Seu segredo de assinatura, mostrado só agora: o endpoint confere a assinatura de cada requisição com ele.")) }
                    p.key #endpoint-secret { (endpoint["secret"].as_str().unwrap_or_default()) }
                    p { a href="/admin/notifications" { (lang.tr("Back to notifications", "Voltar às notificações")) } }
                },
            );
            let mut response = (StatusCode::CREATED, body).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(error @ UpstreamError::Status { status: 422, .. }) => {
            let refusal = (StatusCode::UNPROCESSABLE_ENTITY, problem_text(&error));
            notifications_page(&state, &csrf, &merchant, &form, Some(refusal)).await
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /admin/notifications/deliveries/{id}/resend`.
async fn resend(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Path(id): Path<String>,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    let id: uuid::Uuid = id.parse().map_err(|_| PageError::NotFound)?;
    match state
        .upstreams
        .notifications
        .as_caller(&merchant.session.key)
        .send(
            reqwest::Method::POST,
            &format!("/admin/deliveries/{id}/resend"),
            Body::None,
        )
        .await
    {
        Ok(_) => Ok(see_other("/admin/notifications#deliveries-title")),
        Err(error @ UpstreamError::Status { status: 409, .. }) => {
            let refusal = (StatusCode::CONFLICT, problem_text(&error));
            notifications_page(
                &state,
                &csrf,
                &merchant,
                &EndpointForm::default(),
                Some(refusal),
            )
            .await
        }
        Err(error) => Err(error.into()),
    }
}

csrf_form!(EndpointForm);
