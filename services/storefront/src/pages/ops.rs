//! The operators' console (`/ops`): parked failures by group, one message's headers and
//! payload, retry and discard; the queues (depth, consumers, dead letters, parked failures);
//! and each service's readiness and outbox backlog — ops' `/ops/…` API and every service's
//! `/health/ready` and `/outbox` as pages.
//!
//! Invariants: the operator token is kept only in a sealed, expiring cookie (`sf_ops`) and
//! sent to ops as `Bearer`; ops decides whether it is right (a wrong one shows the sign-in
//! form again) — on every page, including the services page, whose figures need no token
//! but are shown only to operators. Every action is a POST with the CSRF token. A service
//! that cannot be reached is a row saying so, never a failed page.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::forms::{Checked, CsrfOnly, csrf_form, see_other_setting};
use super::{Frame, PageError, PageResult, csrf_field, layout, see_other};
use crate::AppState;
use crate::cookies::{self, CsrfToken, OPS_SESSION};
use crate::i18n::Lang;
use crate::upstream::{Body, UpstreamError, encode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ops", get(home))
        .route("/ops/signin", post(signin))
        .route("/ops/signout", post(signout))
        .route("/ops/failures/{id}", get(failure))
        .route("/ops/failures/{id}/retry", post(retry))
        .route("/ops/failures/{id}/discard", post(discard))
        .route("/ops/queues", get(queues))
        .route("/ops/services", get(services))
}

#[derive(Serialize, Deserialize)]
struct OpsSession {
    token: String,
    expires: i64,
}

fn session(state: &AppState, headers: &HeaderMap) -> Option<OpsSession> {
    cookies::jar(headers)
        .get(OPS_SESSION)
        .and_then(|v| state.sealer.open::<OpsSession>(OPS_SESSION, v))
        .filter(|s| s.expires > chrono::Utc::now().timestamp())
}

fn frame(lang: Lang, title: &str) -> Frame<'static> {
    let mut frame = Frame::plain(lang, format!("{title} · Summit ops"));
    frame.nav = vec![
        ("/ops".into(), lang.tr("Failures", "Falhas").into()),
        ("/ops/queues".into(), lang.tr("Queues", "Filas").into()),
        (
            "/ops/services".into(),
            lang.tr("Services", "Serviços").into(),
        ),
    ];
    frame
}

/// The sign-in form again, 401: ops refused the session's token.
fn token_refused(lang: Lang, csrf: &CsrfToken) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        signin_page(
            lang,
            csrf,
            Some(lang.tr("That token is not right.", "Esse token não está certo.")),
        ),
    )
        .into_response()
}

fn signin_page(lang: Lang, csrf: &CsrfToken, error: Option<&str>) -> Markup {
    layout(
        &frame(lang, lang.tr("Operator sign in", "Entrada de operação")),
        html! {
            h1 { (lang.tr("Operators' console", "Console de operação")) }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/ops/signin" {
                (csrf_field(csrf))
                label for="token" { (lang.tr("Operator token", "Token de operação")) }
                input #token type="password" name="token" autocomplete="current-password" required;
                p { button type="submit" { (lang.tr("Sign in", "Entrar")) } }
            }
        },
    )
}

/// `GET /ops`: groups of parked failures and the newest of them.
async fn home(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> PageResult {
    let lang = Lang::negotiate(Some("en"), &headers);
    let Some(session) = session(&state, &headers) else {
        return Ok(signin_page(lang, &csrf, None).into_response());
    };
    let ops = state.upstreams.ops.as_caller(&session.token);
    let groups = match ops.get("/ops/failures/groups").await {
        Ok(groups) => groups,
        Err(UpstreamError::Status { status: 401, .. }) => return Ok(token_refused(lang, &csrf)),
        Err(error) => return Err(error.into()),
    };
    let mut path = "/ops/failures?limit=50".to_owned();
    let group = query.get("group").filter(|g| !g.is_empty());
    if let Some(group) = group {
        path.push_str(&format!("&group={}", encode(group)));
    }
    let list = ops.get(&path).await?;
    let groups = groups["groups"]
        .as_array()
        .or_else(|| groups.as_array())
        .cloned()
        .unwrap_or_default();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(layout(
        &frame(lang, lang.tr("Failures", "Falhas")),
        html! {
            h1 { (lang.tr("Parked failures", "Falhas estacionadas")) }
            form.inline method="post" action="/ops/signout" { (csrf_field(&csrf)) button type="submit" { (lang.tr("Sign out", "Sair")) } }
            h2 { (lang.tr("Groups", "Grupos")) }
            @if groups.is_empty() {
                p #no-failures { (lang.tr("Nothing is parked.", "Nada estacionado.")) }
            } @else {
                table #groups {
                    thead { tr { th scope="col" { (lang.tr("Queue", "Fila")) } th scope="col" { (lang.tr("Type", "Tipo")) } th scope="col" { (lang.tr("Error", "Erro")) } th scope="col" { (lang.tr("Count", "Quantidade")) } } }
                    tbody {
                        @for g in &groups {
                            tr {
                                td { (g["queue"].as_str().unwrap_or_default()) }
                                td { (g["message_type"].as_str().or(g["type"].as_str()).unwrap_or_default()) }
                                td { a href=(format!("/ops?group={}", encode(g["id"].as_str().unwrap_or_default()))) { (g["error"].as_str().or(g["error_first_line"].as_str()).unwrap_or_default()) } " (" (g["kind"].as_str().or(g["error_kind"].as_str()).unwrap_or_default()) ")" }
                                td.count { (g["count"]) }
                            }
                        }
                    }
                }
            }
            h2 { (lang.tr("Messages", "Mensagens")) }
            ul #failures {
                @for item in &items {
                    @let id = item["message_id"].as_str().unwrap_or_default();
                    li { a href=(format!("/ops/failures/{}", encode(id))) { code { (id) } } " " (item["message_type"].as_str().unwrap_or_default()) " — " (item["error"].as_str().unwrap_or_default()) }
                }
            }
        },
    )
    .into_response())
}

#[derive(Deserialize)]
struct SigninForm {
    csrf: Option<String>,
    token: String,
}

/// `POST /ops/signin`: the token is kept sealed; ops checks it on the next page.
async fn signin(
    State(state): State<AppState>,
    headers: HeaderMap,
    Checked(form): Checked<SigninForm>,
) -> PageResult {
    let session = OpsSession {
        token: form.token.trim().to_owned(),
        expires: chrono::Utc::now().timestamp()
            + i64::try_from(state.config.session_ttl.as_secs()).unwrap_or(3600),
    };
    let secure = state.config.cookie_secure || cookies::over_tls(&headers);
    Ok(see_other_setting(
        "/ops",
        [cookies::set_cookie(
            OPS_SESSION,
            &state.sealer.seal(OPS_SESSION, &session),
            state.config.session_ttl.as_secs(),
            secure,
        )],
    ))
}

/// `POST /ops/signout`.
async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    let secure = state.config.cookie_secure || cookies::over_tls(&headers);
    Ok(see_other_setting(
        "/ops",
        [cookies::set_cookie(OPS_SESSION, "", 0, secure)],
    ))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `GET /ops/failures/{id}`: headers, payload, history; retry and discard.
async fn failure(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let lang = Lang::negotiate(Some("en"), &headers);
    let Some(session) = session(&state, &headers) else {
        return Ok(see_other("/ops"));
    };
    let detail = state
        .upstreams
        .ops
        .as_caller(&session.token)
        .get(&format!("/ops/failures/{}", encode(&id)))
        .await?;
    let parked = detail["status"] == "parked";
    let payload = if detail["payload"].is_null() {
        detail["body"].clone()
    } else {
        detail["payload"].clone()
    };
    Ok(layout(
        &frame(lang, lang.tr("Failure", "Falha")),
        html! {
            h1 { (lang.tr("Message ", "Mensagem ")) code { (id) } }
            dl {
                dt { (lang.tr("Queue", "Fila")) } dd { (detail["queue"].as_str().unwrap_or_default()) }
                dt { (lang.tr("Type", "Tipo")) } dd { (detail["message_type"].as_str().unwrap_or_default()) }
                dt { (lang.tr("Status", "Situação")) } dd #status { (detail["status"].as_str().unwrap_or_default()) }
                dt { (lang.tr("Error", "Erro")) } dd { (detail["error"].as_str().unwrap_or_default()) " (" (detail["error_kind"].as_str().unwrap_or_default()) ")" }
                dt { (lang.tr("Attempts", "Tentativas")) } dd { (detail["attempts"]) }
            }
            @if parked {
                form.inline method="post" action=(format!("/ops/failures/{}/retry", encode(&id))) {
                    (csrf_field(&csrf)) button #retry type="submit" { (lang.tr("Retry", "Reenviar")) }
                }
                " "
                form.inline method="post" action=(format!("/ops/failures/{}/discard", encode(&id))) {
                    (csrf_field(&csrf)) button.danger #discard type="submit" { (lang.tr("Discard", "Descartar")) }
                }
            }
            h2 { (lang.tr("Headers", "Cabeçalhos")) }
            pre #headers { (pretty(&detail["headers"])) }
            h2 { (lang.tr("Payload", "Conteúdo")) }
            pre #payload { (if payload.is_string() { payload.as_str().unwrap_or_default().to_owned() } else { pretty(&payload) }) }
            @if detail["history"].as_array().is_some_and(|h| !h.is_empty()) {
                h2 { (lang.tr("Earlier failures", "Falhas anteriores")) }
                pre { (pretty(&detail["history"])) }
            }
        },
    )
    .into_response())
}

/// Retries or discards one failure; a 409 (already retried or discarded) is no error.
async fn act(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    action: &str,
) -> Result<Response, PageError> {
    let Some(session) = session(state, headers) else {
        return Ok(see_other("/ops"));
    };
    match state
        .upstreams
        .ops
        .as_caller(&session.token)
        .send(
            reqwest::Method::POST,
            &format!("/ops/failures/{}/{action}", encode(id)),
            Body::None,
        )
        .await
    {
        Ok(_) | Err(UpstreamError::Status { status: 409, .. }) => Ok(see_other("/ops")),
        Err(error) => Err(error.into()),
    }
}

/// `POST /ops/failures/{id}/retry`.
async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    act(&state, &headers, &id, "retry").await
}

/// `POST /ops/failures/{id}/discard`.
async fn discard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    act(&state, &headers, &id, "discard").await
}

/// A count ops could not read (the queue missing, the broker away): a dash.
fn count(value: &Value) -> String {
    value
        .as_i64()
        .map_or_else(|| "—".to_owned(), |n| n.to_string())
}

/// `GET /ops/queues`: every work queue ops drains — ready messages and consumers, its
/// dead-letter queue's, failures parked from it, and rates when the broker gives them.
async fn queues(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> PageResult {
    let lang = Lang::negotiate(Some("en"), &headers);
    let Some(session) = session(&state, &headers) else {
        return Ok(signin_page(lang, &csrf, None).into_response());
    };
    let overview = match state
        .upstreams
        .ops
        .as_caller(&session.token)
        .get("/ops/queues")
        .await
    {
        Ok(overview) => overview,
        Err(UpstreamError::Status { status: 401, .. }) => return Ok(token_refused(lang, &csrf)),
        Err(error) => return Err(error.into()),
    };
    let rows = overview["queues"].as_array().cloned().unwrap_or_default();
    Ok(layout(
        &frame(lang, lang.tr("Queues", "Filas")),
        html! {
            h1 { (lang.tr("Queues", "Filas")) }
            @if let Some(note) = overview["rates_note"].as_str() {
                p.hint #rates-note { (lang.tr("No rates: ", "Sem taxas: ")) (note) }
            }
            table #queues {
                thead { tr {
                    th scope="col" { (lang.tr("Queue", "Fila")) }
                    th scope="col" { (lang.tr("Ready", "Prontas")) }
                    th scope="col" { (lang.tr("Consumers", "Consumidores")) }
                    th scope="col" { (lang.tr("Dead letters", "Mensagens mortas")) }
                    th scope="col" { (lang.tr("Parked", "Estacionadas")) }
                    th scope="col" { (lang.tr("In / out per second", "Entrada / saída por segundo")) }
                } }
                tbody {
                    @for row in &rows {
                        @let queue = row["queue"].as_str().unwrap_or_default();
                        tr data-queue=(queue) {
                            th scope="row" { code { (queue) } }
                            td.depth { (count(&row["depth"])) }
                            td.consumers { (count(&row["consumers"])) }
                            td.dead-letters { (count(&row["dead_letters"])) }
                            td.parked {
                                @if row["parked"].as_i64().unwrap_or(0) > 0 {
                                    a href=(format!("/ops?queue={}", encode(queue))) { (count(&row["parked"])) }
                                } @else { (count(&row["parked"])) }
                            }
                            td.rates {
                                @if row["rates"].is_object() {
                                    (format!("{:.1} / {:.1}", row["rates"]["publish_per_s"].as_f64().unwrap_or(0.0), row["rates"]["ack_per_s"].as_f64().unwrap_or(0.0)))
                                } @else { "—" }
                            }
                        }
                        @if let Some(error) = row["error"].as_str() {
                            tr.error { td colspan="6" { (error) } }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

/// One service as the services page shows it.
struct ServiceRow {
    name: &'static str,
    /// `ready`, `degraded`, `not ready`, or why nothing answered.
    readiness: String,
    /// The checks that failed, with their reasons.
    failing: Vec<(String, String)>,
    /// The outbox's figures (`None`: no answer).
    outbox: Option<Value>,
}

async fn look_at(upstream: &crate::Upstream) -> ServiceRow {
    let (ready, outbox) = tokio::join!(
        upstream.observe("/health/ready"),
        upstream.observe("/outbox")
    );
    let (readiness, failing) = match ready {
        Ok((_, body)) if body["status"].is_string() => (
            body["status"].as_str().unwrap_or_default().to_owned(),
            body["reasons"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(check, why)| (check.clone(), why.as_str().unwrap_or_default().to_owned()))
                .collect(),
        ),
        Ok((status, _)) => (format!("answered {status}"), Vec::new()),
        Err(UpstreamError::Unavailable { why, .. }) => (why, Vec::new()),
        Err(error) => (error.to_string(), Vec::new()),
    };
    ServiceRow {
        name: upstream.name(),
        readiness,
        failing,
        outbox: outbox
            .ok()
            .filter(|(status, _)| *status == 200)
            .map(|(_, body)| body),
    }
}

/// `GET /ops/services`: each service's readiness (its failing checks and why) and its
/// outbox's backlog — what `summitctl outbox` and the readiness probes see.
async fn services(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
) -> PageResult {
    let lang = Lang::negotiate(Some("en"), &headers);
    let Some(session) = session(&state, &headers) else {
        return Ok(signin_page(lang, &csrf, None).into_response());
    };
    // The figures need no token, but the page is the operators': ops checks the token.
    match state
        .upstreams
        .ops
        .as_caller(&session.token)
        .get("/ops/failures/groups")
        .await
    {
        Ok(_) => {}
        Err(UpstreamError::Status { status: 401, .. }) => return Ok(token_refused(lang, &csrf)),
        // Ops itself may be the sick one: its row below says so.
        Err(_) => {}
    }
    let [catalog, checkout, payments, notifications, ops] = state.upstreams.all();
    let rows = <[ServiceRow; 5]>::from(tokio::join!(
        look_at(catalog),
        look_at(checkout),
        look_at(payments),
        look_at(notifications),
        look_at(ops)
    ));
    Ok(layout(
        &frame(lang, lang.tr("Services", "Serviços")),
        html! {
            h1 { (lang.tr("Services", "Serviços")) }
            table #services {
                thead { tr {
                    th scope="col" { (lang.tr("Service", "Serviço")) }
                    th scope="col" { (lang.tr("Readiness", "Prontidão")) }
                    th scope="col" { (lang.tr("Outbox backlog", "Fila de saída")) }
                    th scope="col" { (lang.tr("Oldest unsent", "Mais antiga não enviada")) }
                    th scope="col" { (lang.tr("Scheduled", "Agendadas")) }
                    th scope="col" { (lang.tr("Failing", "Falhando")) }
                    th scope="col" { (lang.tr("Set aside", "Separadas")) }
                } }
                tbody {
                    @for row in &rows {
                        tr data-service=(row.name) {
                            th scope="row" { (row.name) }
                            td.readiness data-readiness=(row.readiness) {
                                (row.readiness)
                                @for (check, why) in &row.failing {
                                    br; small { (check) ": " (why) }
                                }
                            }
                            @if let Some(outbox) = &row.outbox {
                                td.backlog { (count(&outbox["backlog"])) }
                                td.oldest { (outbox["oldest_unsent_age_s"].as_f64().map_or_else(|| "—".to_owned(), |s| format!("{s:.0} s"))) }
                                td.scheduled { (count(&outbox["scheduled"])) }
                                td.failing { (count(&outbox["failing"])) }
                                td.set-aside { (count(&outbox["set_aside"])) }
                            } @else {
                                td.backlog colspan="5" { (lang.tr("no answer", "sem resposta")) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response())
}

csrf_form!(SigninForm);
