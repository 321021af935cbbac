//! The gateway simulator: a real HTTP server speaking pagar.me's v5 shape under `/core/v5` and
//! Stripe's PaymentIntents under `/v1`, for development (`gateway-sim` binary, port 8090) and tests (in-process, port 0).
//!
//! - `POST /core/v5/tokens?appId=pk_…` tokenizes a card; `POST /core/v5/orders` charges a
//!   token; `GET /core/v5/orders?code=` and `GET /core/v5/charges/{id}` look a charge up;
//!   `DELETE /core/v5/charges/{id}` cancels it.
//! - Stripe: `POST /v1/payment_intents` (form, `confirm=true`, Bearer `sk_test_…`/`sk_live_…`)
//!   with `pm_card_visa` (succeeded) or `pm_card_chargeDeclined` (402 `card_error`, the intent
//!   `requires_payment_method`); `GET /v1/payment_intents/{id}`,
//!   `GET /v1/payment_intents/search?query=metadata['order_id']:'…'`,
//!   `POST /v1/payment_intents/{id}/cancel`, `POST /v1/refunds` (`payment_intent`). Intents are
//!   counted by `GET /_sim/charges?code=` (their `metadata[order_id]`) like pagar.me's charges.
//! - pagar.me's test cards: `…0010` paid, `…0028` failed (not authorized), `…0036`
//!   processing, then paid: the acquirer "confirms" it on the charge's next lookup.
//! - Tokenization answers CORS (`Access-Control-Allow-Origin: *`, and `OPTIONS` preflights),
//!   so a shop's page can tokenize from the browser as with the real gateway.
//! - `PUT /_sim/faults` `{"latency_ms", "charge_latency_ms", "error_rate", "rate_limit_per_s",
//!   "timeout_rate", "outage", "seed"}` and `DELETE /_sim/faults`; `GET /_sim/charges?code=` counts the
//!   charges really made for an order, names the secret key (account) each was made with, and
//!   lists each one's `status` and `amount` (`items`) without looking it up.
//! - `GET /_sim/calls` lists when each gateway call arrived (`at_ms` since the simulator
//!   started, method, path; tokenization excluded: the browser makes it, not Summit), the record
//!   the rate-limit tests and bench measure windows over. The newest [`CALLS_KEPT`] are kept.
//!
//! Invariants:
//! - A mutating call with an `Idempotency-Key` seen before answers the first answer again and
//!   makes nothing new (as the real gateways do).
//! - Faults are per simulator instance; their random source is seeded, so a run repeats.
//! - A `timeout_rate` fault happens after the work: the charge is made and the answer is lost,
//!   the case reconciliation exists for. Every other fault happens before any work.
//! - Only the card's last four digits are kept beside a token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

/// docs/design.md's port for the simulator.
pub const PORT: u16 = 8090;

/// How many arrivals `GET /_sim/calls` keeps (the oldest go first), so a long `make run`
/// does not grow without bound.
pub const CALLS_KEPT: usize = 100_000;

/// One gateway call as it arrived.
#[derive(Debug, Clone, Serialize)]
struct Arrival {
    /// Since the simulator started, in milliseconds.
    at_ms: f64,
    method: String,
    path: String,
}

/// Faults on cue; all off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added before every gateway answer.
    pub latency_ms: u64,
    /// Added before a new charge is made (pagar.me `POST /orders`, Stripe
    /// `POST /v1/payment_intents`), on top of `latency_ms`: until then a lookup finds no
    /// charge, as when a void overtakes a slow charge call.
    pub charge_latency_ms: u64,
    /// Share of calls answered 500 before any work, `0.0..=1.0`.
    pub error_rate: f64,
    /// Calls per second above which the gateway answers 429 with `Retry-After: 1`; 0 is none.
    pub rate_limit_per_s: u32,
    /// Share of calls whose answer never comes (held 60 s) after the work was done.
    pub timeout_rate: f64,
    /// Every gateway call answers 503.
    pub outage: bool,
    pub seed: u64,
}

#[derive(Debug, Clone)]
struct SimCharge {
    order_id: String,
    code: String,
    amount: i64,
    status: String,
    /// `…0036`: paid on the next lookup.
    settles_on_lookup: bool,
    acquirer_return_code: &'static str,
    /// The secret key the charge was made with (the account), for tests to check routing.
    account: String,
}

#[derive(Debug)]
struct Sim {
    /// Token → the card's number (a test server; production never runs it).
    tokens: HashMap<String, String>,
    charges: HashMap<String, SimCharge>,
    /// Stripe's PaymentIntents by id.
    intents: HashMap<String, SimIntent>,
    /// Idempotency key → the first answer.
    answers: HashMap<String, (StatusCode, Value)>,
    faults: Faults,
    rng: StdRng,
    /// The current one-second window and the calls in it.
    window: (Instant, u32),
    started: Instant,
    /// Every gateway call's arrival (tokenization excluded), oldest first.
    calls: std::collections::VecDeque<Arrival>,
}

/// One simulator: cheap to clone, its state shared by the clones.
#[derive(Debug, Clone)]
pub struct Simulator {
    inner: Arc<Mutex<Sim>>,
}

impl Default for Simulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Simulator {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Sim {
                tokens: HashMap::new(),
                charges: HashMap::new(),
                intents: HashMap::new(),
                answers: HashMap::new(),
                faults: Faults::default(),
                rng: StdRng::seed_from_u64(0),
                window: (Instant::now(), 0),
                started: Instant::now(),
                calls: std::collections::VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Sim> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The simulator's routes.
    pub fn router(&self) -> Router {
        // Browsers tokenize from the shop's own origin, so tokenization answers CORS (as the
        // real gateway's does); nothing else does.
        let tokens = Router::new()
            .route(
                "/core/v5/tokens",
                post(tokenize).options(|| async { StatusCode::NO_CONTENT }),
            )
            .layer(middleware::from_fn(cors));
        let gateway = tokens
            .route("/core/v5/orders", post(create_order).get(find_orders))
            .route(
                "/core/v5/charges/{id}",
                get(get_charge).delete(cancel_charge),
            )
            .route("/v1/payment_intents", post(create_intent))
            .route("/v1/payment_intents/search", get(search_intents))
            .route("/v1/payment_intents/{id}", get(get_intent))
            .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
            .route("/v1/refunds", post(create_refund))
            .layer(middleware::from_fn_with_state(self.clone(), faults));
        Router::new()
            .route("/_sim/faults", put(set_faults).delete(clear_faults))
            .route("/_sim/charges", get(count_charges))
            .route("/_sim/calls", get(list_calls))
            .merge(gateway)
            .with_state(self.clone())
    }

    /// Serves on `listener` until the task is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

/// CORS for tokenization: any origin may post a card here and read the token back (the
/// public key, not a cookie, is what identifies the account).
async fn cors(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::HeaderValue::from_static("content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        header::HeaderValue::from_static("600"),
    );
    response
}

enum Fault {
    None,
    Answer(Response),
    LoseAnswer,
}

async fn faults(State(sim): State<Simulator>, request: Request, next: Next) -> Response {
    let makes_a_charge = request.method() == axum::http::Method::POST
        && matches!(
            request.uri().path(),
            "/core/v5/orders" | "/v1/payment_intents"
        );
    let (latency, fault) = {
        let mut s = sim.lock();
        let f = s.faults.clone();
        let now = Instant::now();
        if request.uri().path() != "/core/v5/tokens" {
            if s.calls.len() >= CALLS_KEPT {
                s.calls.pop_front();
            }
            let arrival = Arrival {
                at_ms: now.duration_since(s.started).as_secs_f64() * 1000.0,
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
            };
            s.calls.push_back(arrival);
        }
        if now.duration_since(s.window.0) >= Duration::from_secs(1) {
            s.window = (now, 0);
        }
        s.window.1 += 1;
        let fault = if f.outage {
            Fault::Answer((StatusCode::SERVICE_UNAVAILABLE, "outage").into_response())
        } else if f.rate_limit_per_s > 0 && s.window.1 > f.rate_limit_per_s {
            Fault::Answer(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "1")],
                    "rate limited",
                )
                    .into_response(),
            )
        } else if f.error_rate > 0.0 && s.rng.random::<f64>() < f.error_rate {
            Fault::Answer((StatusCode::INTERNAL_SERVER_ERROR, "injected").into_response())
        } else if f.timeout_rate > 0.0 && s.rng.random::<f64>() < f.timeout_rate {
            Fault::LoseAnswer
        } else {
            Fault::None
        };
        let extra = if makes_a_charge {
            f.charge_latency_ms
        } else {
            0
        };
        (
            Duration::from_millis(f.latency_ms.saturating_add(extra)),
            fault,
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Fault::Answer(response) => response,
        Fault::None => next.run(request).await,
        Fault::LoseAnswer => {
            let _made = next.run(request).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

/// pagar.me wants Basic auth with a secret key `sk_…` as the user and an empty password.
fn basic_user(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(base64_lite::decode)
        .filter(|user_pass| user_pass.starts_with("sk_") && user_pass.ends_with(':'))
        .map(|user_pass| user_pass.trim_end_matches(':').to_owned())
}

fn authorized(headers: &HeaderMap) -> bool {
    basic_user(headers).is_some()
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(rename = "appId")]
    app_id: Option<String>,
}

async fn tokenize(
    State(sim): State<Simulator>,
    Query(query): Query<TokenQuery>,
    Json(body): Json<Value>,
) -> Response {
    if !query.app_id.is_some_and(|k| k.starts_with("pk_")) {
        return error(StatusCode::UNAUTHORIZED, "appId must be a public key pk_…");
    }
    let Some(number) = body["card"]["number"].as_str() else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "card.number is required");
    };
    let id = format!("token_{}", Uuid::new_v4().simple());
    let last_four: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    sim.lock().tokens.insert(id.clone(), number.to_owned());
    (
        StatusCode::OK,
        Json(json!({
            "id": id,
            "type": "card",
            "card": { "last_four_digits": last_four, "brand": "Visa" },
        })),
    )
        .into_response()
}

fn charge_json(id: &str, c: &SimCharge) -> Value {
    json!({
        "id": id,
        "code": c.code,
        "amount": c.amount,
        "status": c.status,
        "payment_method": "credit_card",
        "order": { "id": c.order_id },
        "last_transaction": {
            "status": match c.status.as_str() {
                "paid" => "captured",
                "failed" => "not_authorized",
                "canceled" => "voided",
                other => other,
            },
            "acquirer_return_code": c.acquirer_return_code,
        },
    })
}

fn order_json(id: &str, c: &SimCharge) -> Value {
    let status = match c.status.as_str() {
        "processing" => "pending",
        other => other,
    };
    json!({
        "id": c.order_id,
        "code": c.code,
        "amount": c.amount,
        "status": status,
        "charges": [charge_json(id, c)],
    })
}

async fn create_order(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let Some(account) = basic_user(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "Authorization has been denied");
    };
    let key = idempotency_key(&headers);
    let mut s = sim.lock();
    if let Some((status, answer)) = key.as_ref().and_then(|k| s.answers.get(k)) {
        return (*status, Json(answer.clone())).into_response();
    }
    let (status, answer) = order_of(&mut s, &body, account);
    if let Some(key) = key {
        s.answers.insert(key, (status, answer.clone()));
    }
    (status, Json(answer)).into_response()
}

fn order_of(s: &mut Sim, body: &Value, account: String) -> (StatusCode, Value) {
    let invalid = |m: &str| (StatusCode::UNPROCESSABLE_ENTITY, json!({ "message": m }));
    let Some(code) = body["code"].as_str() else {
        return invalid("code is required");
    };
    let payment = &body["payments"][0];
    let Some(amount) = payment["amount"].as_i64().filter(|a| *a > 0) else {
        return invalid("payments[0].amount must be a positive integer (cents)");
    };
    if payment["payment_method"] != "credit_card" {
        return invalid("only credit_card is simulated");
    }
    let Some(token) = payment["credit_card"]["card_token"].as_str() else {
        return invalid("credit_card.card_token is required");
    };
    let Some(number) = s.tokens.get(token).cloned() else {
        return invalid("card_token not found");
    };
    let (status, settles_on_lookup, acquirer_return_code) = if number.ends_with("0028") {
        ("failed", false, "05")
    } else if number.ends_with("0036") {
        ("processing", true, "00")
    } else {
        ("paid", false, "00")
    };
    let charge = SimCharge {
        order_id: format!("or_{}", Uuid::new_v4().simple()),
        code: code.to_owned(),
        amount,
        status: status.to_owned(),
        settles_on_lookup,
        acquirer_return_code,
        account,
    };
    let id = format!("ch_{}", Uuid::new_v4().simple());
    let answer = order_json(&id, &charge);
    s.charges.insert(id, charge);
    (StatusCode::OK, answer)
}

/// The acquirer confirms a processing charge when it is next looked at.
fn settle(charge: &mut SimCharge) {
    if charge.settles_on_lookup && charge.status == "processing" {
        charge.status = "paid".to_owned();
        charge.settles_on_lookup = false;
    }
}

#[derive(Deserialize)]
struct CodeQuery {
    code: String,
}

async fn find_orders(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Query(query): Query<CodeQuery>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization has been denied");
    }
    let mut s = sim.lock();
    let mut data = Vec::new();
    for (id, charge) in s.charges.iter_mut().filter(|(_, c)| c.code == query.code) {
        settle(charge);
        data.push(order_json(id, charge));
    }
    let total = data.len();
    Json(json!({ "data": data, "paging": { "total": total } })).into_response()
}

async fn get_charge(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization has been denied");
    }
    let mut s = sim.lock();
    match s.charges.get_mut(&id) {
        Some(charge) => {
            settle(charge);
            Json(charge_json(&id, charge)).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "charge not found"),
    }
}

async fn cancel_charge(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return error(StatusCode::UNAUTHORIZED, "Authorization has been denied");
    }
    let key = idempotency_key(&headers);
    let mut s = sim.lock();
    if let Some((status, answer)) = key.as_ref().and_then(|k| s.answers.get(k)) {
        return (*status, Json(answer.clone())).into_response();
    }
    let (status, answer) = match s.charges.get_mut(&id) {
        None => (
            StatusCode::NOT_FOUND,
            json!({ "message": "charge not found" }),
        ),
        Some(charge) if charge.status == "failed" => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": "a failed charge cannot be canceled" }),
        ),
        Some(charge) => {
            charge.status = "canceled".to_owned();
            charge.settles_on_lookup = false;
            (StatusCode::OK, charge_json(&id, charge))
        }
    };
    if let Some(key) = key {
        s.answers.insert(key, (status, answer.clone()));
    }
    (status, Json(answer)).into_response()
}

async fn set_faults(State(sim): State<Simulator>, Json(faults): Json<Faults>) -> StatusCode {
    let mut s = sim.lock();
    s.rng = StdRng::seed_from_u64(faults.seed);
    s.faults = faults;
    StatusCode::NO_CONTENT
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.lock().faults = Faults::default();
    StatusCode::NO_CONTENT
}

async fn list_calls(State(sim): State<Simulator>) -> Json<Value> {
    Json(json!({ "calls": sim.lock().calls }))
}

async fn count_charges(
    State(sim): State<Simulator>,
    Query(query): Query<CodeQuery>,
) -> Json<Value> {
    let s = sim.lock();
    let accounts: Vec<&str> = s
        .charges
        .values()
        .filter(|c| c.code == query.code)
        .map(|c| c.account.as_str())
        .chain(
            s.intents
                .values()
                .filter(|i| i.code == query.code)
                .map(|i| i.account.as_str()),
        )
        .collect();
    // Each charge's status and amount too, read without the side effect of a lookup (which
    // settles a processing test card): what the platform drills' invariant checker needs.
    let items: Vec<Value> = s
        .charges
        .values()
        .filter(|c| c.code == query.code)
        .map(|c| json!({ "status": c.status, "amount": c.amount }))
        .chain(
            s.intents
                .values()
                .filter(|i| i.code == query.code)
                .map(|i| json!({ "status": i.status, "amount": i.amount })),
        )
        .collect();
    Json(
        json!({ "code": query.code, "charges": accounts.len(), "accounts": accounts, "items": items }),
    )
}

// ---- Stripe's PaymentIntents shape (`/v1`) ----

/// One simulated PaymentIntent.
#[derive(Debug, Clone)]
struct SimIntent {
    /// `metadata[order_id]`: what `/_sim/charges?code=` counts by.
    code: String,
    amount: i64,
    currency: String,
    status: &'static str,
    /// `pm_card_chargeDeclined`: the decline code.
    decline_code: Option<&'static str>,
    refunded: bool,
    account: String,
}

fn intent_json(id: &str, i: &SimIntent) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": i.amount,
        "amount_received": if i.status == "succeeded" { i.amount } else { 0 },
        "currency": i.currency,
        "status": i.status,
        "capture_method": "automatic",
        "metadata": { "order_id": i.code },
        "last_payment_error": i.decline_code.map(|code| json!({
            "type": "card_error", "code": "card_declined", "decline_code": code,
        })),
        "latest_charge": { "refunded": i.refunded },
    })
}

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Value) {
    (
        status,
        json!({ "error": { "type": kind, "message": message } }),
    )
}

/// Stripe wants `Authorization: Bearer sk_test_…` (or `sk_live_…`).
fn bearer_account(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|k| k.starts_with("sk_test_") || k.starts_with("sk_live_"))
        .map(str::to_owned)
}

fn unauthorized_stripe() -> Response {
    let (status, body) = stripe_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "Invalid API Key provided",
    );
    (status, Json(body)).into_response()
}

/// Runs a mutating Stripe call once per (account, idempotency key): the same key answers the
/// first answer again.
fn once(
    sim: &Simulator,
    account: &str,
    headers: &HeaderMap,
    work: impl FnOnce(&mut Sim) -> (StatusCode, Value),
) -> Response {
    let key = idempotency_key(headers).map(|k| format!("stripe\n{account}\n{k}"));
    let mut s = sim.lock();
    if let Some((status, answer)) = key.as_ref().and_then(|k| s.answers.get(k)) {
        return (*status, Json(answer.clone())).into_response();
    }
    let (status, answer) = work(&mut s);
    if let Some(key) = key {
        s.answers.insert(key, (status, answer.clone()));
    }
    (status, Json(answer)).into_response()
}

async fn create_intent(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(account) = bearer_account(&headers) else {
        return unauthorized_stripe();
    };
    once(&sim, &account.clone(), &headers, move |s| {
        let invalid = |m: &str| stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", m);
        let Some(amount) = form
            .get("amount")
            .and_then(|a| a.parse::<i64>().ok())
            .filter(|a| *a > 0)
        else {
            return invalid("amount must be a positive integer (minor units)");
        };
        let Some(currency) = form.get("currency").filter(|c| c.len() == 3) else {
            return invalid("currency is required");
        };
        if form.get("confirm").map(String::as_str) != Some("true") {
            return invalid("only confirm=true is simulated");
        }
        let (status, decline_code) = match form.get("payment_method").map(String::as_str) {
            Some("pm_card_visa") => ("succeeded", None),
            Some("pm_card_chargeDeclined") => ("requires_payment_method", Some("generic_decline")),
            _ => return invalid("No such PaymentMethod"),
        };
        let intent = SimIntent {
            code: form.get("metadata[order_id]").cloned().unwrap_or_default(),
            amount,
            currency: currency.clone(),
            status,
            decline_code,
            refunded: false,
            account,
        };
        let id = format!("pi_{}", Uuid::new_v4().simple());
        let answer = intent_json(&id, &intent);
        s.intents.insert(id, intent);
        match decline_code {
            None => (StatusCode::OK, answer),
            Some(code) => (
                StatusCode::PAYMENT_REQUIRED,
                json!({ "error": {
                    "type": "card_error", "code": "card_declined", "decline_code": code,
                    "message": "Your card was declined.", "payment_intent": answer,
                }}),
            ),
        }
    })
}

#[derive(Deserialize)]
struct SearchQuery {
    query: String,
}

/// Only the search Summit makes: `metadata['order_id']:'<code>'`.
async fn search_intents(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Query(query): Query<SearchQuery>,
) -> Response {
    let Some(account) = bearer_account(&headers) else {
        return unauthorized_stripe();
    };
    let Some(code) = query
        .query
        .strip_prefix("metadata['order_id']:'")
        .and_then(|rest| rest.strip_suffix('\''))
    else {
        let (status, body) = stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unsupported search query",
        );
        return (status, Json(body)).into_response();
    };
    let s = sim.lock();
    let data: Vec<Value> = s
        .intents
        .iter()
        .filter(|(_, i)| i.code == code && i.account == account)
        .map(|(id, i)| intent_json(id, i))
        .collect();
    Json(json!({ "object": "search_result", "data": data, "has_more": false })).into_response()
}

async fn get_intent(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(account) = bearer_account(&headers) else {
        return unauthorized_stripe();
    };
    let s = sim.lock();
    match s.intents.get(&id).filter(|i| i.account == account) {
        Some(intent) => Json(intent_json(&id, intent)).into_response(),
        None => {
            let (status, body) = stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "No such payment_intent",
            );
            (status, Json(body)).into_response()
        }
    }
}

async fn cancel_intent(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(account) = bearer_account(&headers) else {
        return unauthorized_stripe();
    };
    once(&sim, &account.clone(), &headers, move |s| {
        match s.intents.get_mut(&id).filter(|i| i.account == account) {
            None => stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "No such payment_intent",
            ),
            Some(intent) if matches!(intent.status, "succeeded" | "canceled") => stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "You cannot cancel this PaymentIntent because it has a status of succeeded or canceled",
            ),
            Some(intent) => {
                intent.status = "canceled";
                (StatusCode::OK, intent_json(&id, intent))
            }
        }
    })
}

async fn create_refund(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some(account) = bearer_account(&headers) else {
        return unauthorized_stripe();
    };
    once(&sim, &account.clone(), &headers, move |s| {
        let id = form.get("payment_intent").cloned().unwrap_or_default();
        match s.intents.get_mut(&id).filter(|i| i.account == account) {
            Some(intent) if intent.status == "succeeded" && !intent.refunded => {
                intent.refunded = true;
                (
                    StatusCode::OK,
                    json!({
                        "id": format!("re_{}", Uuid::new_v4().simple()),
                        "object": "refund",
                        "amount": intent.amount,
                        "payment_intent": id,
                        "status": "succeeded",
                    }),
                )
            }
            Some(_) => stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "This PaymentIntent has no captured charge to refund, or it was refunded already",
            ),
            None => stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "No such payment_intent",
            ),
        }
    })
}

/// The few lines of standard base64 decoding Basic auth needs.
mod base64_lite {
    pub fn decode(input: &str) -> Option<String> {
        let mut bits: u32 = 0;
        let mut count = 0;
        let mut out = Vec::with_capacity(input.len() * 3 / 4);
        for byte in input.bytes().filter(|b| *b != b'=') {
            let value = match byte {
                b'A'..=b'Z' => byte - b'A',
                b'a'..=b'z' => byte - b'a' + 26,
                b'0'..=b'9' => byte - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            bits = (bits << 6) | u32::from(value);
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push(((bits >> count) & 0xff) as u8);
            }
        }
        String::from_utf8(out).ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn decodes_basic_credentials() {
            assert_eq!(super::decode("c2tfdGVzdDo=").as_deref(), Some("sk_test:"));
            assert_eq!(super::decode("not base64!"), None);
        }
    }
}
