//! The merchants' admin (`/admin`): sign up, sign in with the admin key, products, settings
//! (the logo, a custom domain and its TXT record, a new admin key, the language), orders.
//!
//! Invariants:
//! - The session is a sealed cookie (`sf_admin`: the store and its admin key, with an expiry),
//!   so the key is never readable in the browser and a changed cookie does not open.
//!   Signing out deletes it.
//! - Every call to a service is made with the session's key, so a store sees only its own
//!   products and orders: another store's id is the service's 404, shown as a 404 page.
//! - Every form carries the CSRF token; every write that creates something carries an
//!   `Idempotency-Key` made when its form was rendered.
//! - The admin key is shown once, on the page that answers sign-up or a new key; a new key
//!   goes straight into the session, which carries on (the old key opens nothing anymore).
//! - A change to what `/stores/resolve` answers (a verified or dropped domain, the language)
//!   forgets the cached copies of it, so the shop reflects it at once on this replica.

use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::checkout::{status_label, timeline};
use super::forms::{Checked, CsrfOnly, csrf_form, see_other_setting};
use super::{Frame, PageError, PageResult, check_csrf, csrf_field, layout, see_other};
use crate::AppState;
use crate::cookies::{self, ADMIN_SESSION, CsrfToken};
use crate::i18n::{Lang, parse_price};
use crate::upstream::{Body, UpstreamError, encode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/signup", get(signup_form).post(signup))
        .route("/admin/signin", post(signin))
        .route("/admin/signout", post(signout))
        .route("/admin/products", get(products).post(create_product))
        .route("/admin/products/new", get(new_product))
        .route(
            "/admin/products/{id}",
            get(edit_product).post(update_product),
        )
        .route("/admin/products/{id}/stock", post(adjust_stock))
        .route("/admin/products/{id}/delete", post(delete_product))
        .route("/admin/settings", get(settings))
        .route("/admin/settings/logo", post(upload_logo))
        .route("/admin/settings/domain", post(set_domain))
        .route("/admin/settings/domain/verify", post(verify_domain))
        .route("/admin/settings/key", post(rotate_key))
        .route("/admin/settings/language", post(set_language))
        .route("/admin/logo", get(logo))
        .route("/admin/orders", get(orders))
        .route("/admin/orders/{id}", get(order))
}

/// What the session cookie holds.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    pub slug: String,
    pub name: String,
    pub language: String,
    pub temporary_domain: String,
    /// The admin key: sealed in the cookie, sent to services as `Bearer`.
    pub key: String,
    /// Unix seconds.
    pub expires: i64,
}

/// A signed-in merchant. Without a session, the extractor answers with the sign-in page's
/// redirect.
pub struct Merchant {
    pub session: Session,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for Merchant {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = cookies::jar(&parts.headers)
            .get(ADMIN_SESSION)
            .and_then(|v| state.sealer.open::<Session>(ADMIN_SESSION, v))
            .filter(|s| s.expires > chrono::Utc::now().timestamp())
            .ok_or_else(|| see_other("/admin"))?;
        let lang = Lang::negotiate(Some(&session.language), &parts.headers);
        Ok(Self { session, lang })
    }
}

fn session_cookie(state: &AppState, headers: &HeaderMap, session: &Session) -> header::HeaderValue {
    let secure = state.config.cookie_secure || cookies::over_tls(headers);
    cookies::set_cookie(
        ADMIN_SESSION,
        &state.sealer.seal(ADMIN_SESSION, session),
        state.config.session_ttl.as_secs(),
        secure,
    )
}

fn new_session(state: &AppState, store: &Value, key: &str) -> Option<Session> {
    Some(Session {
        slug: store["slug"].as_str()?.to_owned(),
        name: store["name"].as_str()?.to_owned(),
        language: store["language"].as_str().unwrap_or("pt-BR").to_owned(),
        temporary_domain: store["temporary_domain"].as_str()?.to_owned(),
        key: key.to_owned(),
        expires: chrono::Utc::now().timestamp()
            + i64::try_from(state.config.session_ttl.as_secs()).unwrap_or(i64::MAX / 2),
    })
}

/// The shop's address as this visitor can open it: the temporary domain on the port (and
/// scheme) this page was reached on.
pub fn shop_url(headers: &HeaderMap, domain: &str) -> String {
    let scheme = if cookies::over_tls(headers) {
        "https"
    } else {
        "http"
    };
    let port = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, port)| port)
        .filter(|p| p.chars().all(|c| c.is_ascii_digit()))
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!("{scheme}://{domain}{port}/")
}

fn frame<'a>(merchant: &Merchant, csrf: &CsrfToken, title: &str) -> (Frame<'a>, Markup) {
    let lang = merchant.lang;
    let mut frame = Frame::plain(lang, format!("{title} · {}", merchant.session.name));
    frame.nav = vec![
        ("/admin".into(), lang.tr("Dashboard", "Painel").into()),
        (
            "/admin/products".into(),
            lang.tr("Products", "Produtos").into(),
        ),
        ("/admin/orders".into(), lang.tr("Orders", "Pedidos").into()),
        (
            "/admin/payments".into(),
            lang.tr("Payments", "Pagamentos").into(),
        ),
        (
            "/admin/notifications".into(),
            lang.tr("Notifications", "Notificações").into(),
        ),
        (
            "/admin/settings".into(),
            lang.tr("Settings", "Configurações").into(),
        ),
    ];
    let signout = html! {
        form.inline method="post" action="/admin/signout" {
            (csrf_field(csrf))
            button type="submit" { (lang.tr("Sign out", "Sair")) }
        }
    };
    (frame, signout)
}

// `body` by value: every caller hands over a freshly rendered `html!` block.
#[allow(clippy::needless_pass_by_value)]
pub(super) fn page(merchant: &Merchant, csrf: &CsrfToken, title: &str, body: Markup) -> Markup {
    let (frame, signout) = frame(merchant, csrf, title);
    layout(
        &frame,
        html! {
            p.signed-in { (merchant.lang.tr("Store: ", "Loja: ")) strong { (merchant.session.name) } " " (signout) }
            (body)
        },
    )
}

/// `GET /admin`: the dashboard when signed in, the sign-in form otherwise.
async fn home(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    merchant: Result<Merchant, Response>,
) -> Response {
    let Ok(merchant) = merchant else {
        return signin_page(&csrf, &headers, None, StatusCode::OK);
    };
    let lang = merchant.lang;
    let key = merchant.session.key.clone();
    let orders = state
        .upstreams
        .checkout
        .get("/admin/orders?limit=100", Some(&key))
        .await;
    let chart = match &orders {
        Ok(list) => dashboard_chart(
            lang,
            list["items"].as_array().map_or(&[][..], Vec::as_slice),
        ),
        Err(_) => {
            html! { p.notice { (lang.tr("Orders cannot be read right now.", "Os pedidos não podem ser lidos agora.")) } }
        }
    };
    let waiting = orders
        .as_ref()
        .ok()
        .and_then(|l| l["items"].as_array())
        .map_or(0, |items| {
            items
                .iter()
                .filter(|o| {
                    matches!(
                        o["status"].as_str(),
                        Some("pending" | "reserved" | "awaiting_payment")
                    )
                })
                .count()
        });
    let shop = shop_url(&headers, &merchant.session.temporary_domain);
    page(
        &merchant,
        &csrf,
        lang.tr("Dashboard", "Painel"),
        html! {
            h1 { (lang.tr("Dashboard", "Painel")) }
            p { (lang.tr("Your store is open at ", "Sua loja está no ar em ")) a #shop-link href=(shop) { (shop) } }
            p { (lang.tr("Orders waiting: ", "Pedidos aguardando: ")) strong { (waiting) } }
            h2 { (lang.tr("Orders and revenue, last 14 days", "Pedidos e faturamento, últimos 14 dias")) }
            (chart)
        },
    )
    .into_response()
}

/// Orders per day as a server-rendered SVG bar chart (last 14 days), with a text summary.
fn dashboard_chart(lang: Lang, orders: &[Value]) -> Markup {
    let today = chrono::Utc::now().date_naive();
    let mut days = [(0_u32, 0_i64); 14];
    let mut currency = String::new();
    for order in orders {
        let Some(at) = order["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        else {
            continue;
        };
        let age = (today - at.date_naive()).num_days();
        if (0..14).contains(&age) {
            let slot = &mut days[13 - age as usize];
            slot.0 += 1;
            if order["status"] == "confirmed" {
                slot.1 += order["total_minor"].as_i64().unwrap_or_default();
                currency = order["currency"].as_str().unwrap_or_default().to_owned();
            }
        }
    }
    let most = days.iter().map(|d| d.0).max().unwrap_or(0).max(1);
    let revenue: i64 = days.iter().map(|d| d.1).sum();
    let count: u32 = days.iter().map(|d| d.0).sum();
    html! {
        svg.chart role="img" aria-labelledby="chart-title" width="420" height="140" viewBox="0 0 420 140" xmlns="http://www.w3.org/2000/svg" {
            title #chart-title { (lang.tr("Orders per day", "Pedidos por dia")) }
            @for (i, (n, _)) in days.iter().enumerate() {
                @let h = (f64::from(*n) / f64::from(most) * 110.0).round();
                rect x=(i * 30 + 2) y=(120.0 - h) width="24" height=(h) fill="#0b5cad" {}
                text x=(i * 30 + 14) y="135" font-size="10" text-anchor="middle" { (n) }
            }
        }
        p { (count) " " (lang.tr("orders; confirmed revenue ", "pedidos; faturamento confirmado ")) (lang.money(revenue, if currency.is_empty() { "BRL" } else { &currency })) }
    }
}

fn signin_page(
    csrf: &CsrfToken,
    headers: &HeaderMap,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let lang = Lang::negotiate(Some("en"), headers);
    let body = layout(
        &Frame::plain(lang, lang.tr("Merchant sign in", "Entrar como lojista")),
        html! {
            h1 { (lang.tr("Sign in to your store", "Entre na sua loja")) }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/admin/signin" {
                (csrf_field(csrf))
                label for="admin_key" { (lang.tr("Admin key", "Chave de administração")) }
                input #admin_key type="password" name="admin_key" autocomplete="current-password" required size="70";
                p { button type="submit" { (lang.tr("Sign in", "Entrar")) } }
            }
            p { a href="/admin/signup" { (lang.tr("No store yet? Open one", "Ainda não tem loja? Abra uma")) } }
        },
    );
    (status, body).into_response()
}

#[derive(Deserialize)]
struct SigninForm {
    csrf: Option<String>,
    admin_key: String,
}

/// `POST /admin/signin`: the key is checked with catalog (`GET /admin/store`).
async fn signin(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Checked(form): Checked<SigninForm>,
) -> PageResult {
    let lang = Lang::negotiate(Some("en"), &headers);
    let key = form.admin_key.trim();
    match state.upstreams.catalog.get("/admin/store", Some(key)).await {
        Ok(store) => {
            let session = new_session(&state, &store, key)
                .ok_or(PageError::Unavailable { retry_after_s: 5 })?;
            Ok(see_other_setting(
                "/admin",
                [session_cookie(&state, &headers, &session)],
            ))
        }
        Err(UpstreamError::Status {
            status: 401 | 422 | 400,
            ..
        }) => Ok(signin_page(
            &csrf,
            &headers,
            Some(lang.tr(
                "That admin key is not right.",
                "Essa chave de administração não está certa.",
            )),
            StatusCode::UNAUTHORIZED,
        )),
        Err(error) => Err(error.into()),
    }
}

/// `POST /admin/signout`.
async fn signout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    let secure = state.config.cookie_secure || cookies::over_tls(&headers);
    Ok(see_other_setting(
        "/admin",
        [cookies::set_cookie(ADMIN_SESSION, "", 0, secure)],
    ))
}

#[derive(Default, Deserialize)]
struct SignupForm {
    csrf: Option<String>,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    contact_email: String,
    #[serde(default)]
    language: String,
}

fn signup_page(
    csrf: &CsrfToken,
    headers: &HeaderMap,
    form: &SignupForm,
    error: Option<String>,
) -> Markup {
    let lang = Lang::negotiate(Some("en"), headers);
    let key = uuid::Uuid::new_v4().to_string();
    layout(
        &Frame::plain(lang, lang.tr("Open your store", "Abra sua loja")),
        html! {
            h1 { (lang.tr("Open your store", "Abra sua loja")) }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/admin/signup" {
                (csrf_field(csrf))
                input type="hidden" name="idempotency_key" value=(key);
                label for="name" { (lang.tr("Store name", "Nome da loja")) }
                input #name name="name" value=(form.name) required;
                label for="slug" { (lang.tr("Address (lowercase letters, digits and dashes)", "Endereço (letras minúsculas, números e hífens)")) }
                input #slug name="slug" value=(form.slug) required pattern="[a-z0-9-]+";
                label for="contact_email" { (lang.tr("Contact email", "E-mail de contato")) }
                input #contact_email type="email" name="contact_email" value=(form.contact_email) required;
                label for="language" { (lang.tr("Store language", "Idioma da loja")) }
                select #language name="language" {
                    option value="pt-BR" selected[form.language != "en"] { "Português" }
                    option value="en" selected[form.language == "en"] { "English" }
                }
                p { button type="submit" { (lang.tr("Open store", "Abrir loja")) } }
            }
            p { a href="/admin" { (lang.tr("Already have a store? Sign in", "Já tem uma loja? Entre")) } }
        },
    )
}

/// `GET /admin/signup`.
async fn signup_form(Extension(csrf): Extension<CsrfToken>, headers: HeaderMap) -> Markup {
    signup_page(&csrf, &headers, &SignupForm::default(), None)
}

/// `POST /admin/signup`: creates the store at catalog, shows its admin key once, signs in.
async fn signup(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    Checked(form): Checked<SignupForm>,
) -> PageResult {
    let lang = Lang::negotiate(Some("en"), &headers);
    let body = json!({
        "name": form.name.trim(), "slug": form.slug.trim(),
        "contact_email": form.contact_email.trim(),
        "language": if form.language == "en" { "en" } else { "pt-BR" },
    });
    let key = Some(form.idempotency_key.as_str()).filter(|k| !k.is_empty() && k.len() <= 255);
    let answer = state
        .upstreams
        .catalog
        .send(
            reqwest::Method::POST,
            "/stores",
            None,
            Body::Json(body),
            key,
        )
        .await;
    let store = match answer {
        Ok((_, store)) => store,
        Err(error @ UpstreamError::Status { .. }) => {
            let message = match (error.status(), error.field_error()) {
                (Some(409), _) => lang
                    .tr(
                        "That address is taken: choose another.",
                        "Esse endereço já está em uso: escolha outro.",
                    )
                    .to_owned(),
                (_, Some((field, why))) => format!("{field}: {why}"),
                _ => error.detail().unwrap_or_default(),
            };
            let page = signup_page(&csrf, &headers, &form, Some(message));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(error) => return Err(error.into()),
    };
    let admin_key = store["admin_key"].as_str().unwrap_or_default().to_owned();
    let session = new_session(&state, &store, &admin_key)
        .ok_or(PageError::Unavailable { retry_after_s: 5 })?;
    let shop = shop_url(&headers, &session.temporary_domain);
    let page = layout(
        &Frame::plain(lang, lang.tr("Your store is open", "Sua loja está aberta")),
        html! {
            h1 { (lang.tr("Your store is open", "Sua loja está aberta")) }
            p { (lang.tr("This is your admin key. It is shown only now: keep it somewhere safe, you sign in with it.",
                         "Esta é sua chave de administração. Ela só aparece agora: guarde-a em lugar seguro, você entra com ela.")) }
            p.key #admin-key { (admin_key) }
            p { (lang.tr("Your store's address: ", "Endereço da sua loja: ")) a #shop-link href=(shop) { (shop) } }
            p { a.button href="/admin/products/new" { (lang.tr("Add your first product", "Cadastre seu primeiro produto")) } }
        },
    );
    let mut response = (StatusCode::CREATED, page).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&state, &headers, &session),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `GET /admin/products`.
async fn products(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> PageResult {
    let lang = merchant.lang;
    let mut path = "/admin/products?limit=50".to_owned();
    if let Some(cursor) = query.get("cursor").filter(|c| !c.is_empty()) {
        path.push_str(&format!("&cursor={}", encode(cursor)));
    }
    let list = state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .get(&path)
        .await?;
    let q = query
        .get("q")
        .map(|q| q.trim().to_lowercase())
        .unwrap_or_default();
    let items: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            q.is_empty()
                || p["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(&q)
                || p["sku"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(&q)
        })
        .collect();
    Ok(page(
        &merchant,
        &csrf,
        lang.tr("Products", "Produtos"),
        html! {
            h1 { (lang.tr("Products", "Produtos")) }
            p { a.button href="/admin/products/new" { (lang.tr("New product", "Novo produto")) } }
            form.search method="get" action="/admin/products" {
                label for="q" { (lang.tr("Filter by name or SKU", "Filtrar por nome ou SKU")) }
                input #q name="q" value=(q);
                button type="submit" { (lang.tr("Filter", "Filtrar")) }
            }
            table {
                caption { (lang.tr("Your products", "Seus produtos")) }
                thead { tr { th scope="col" { (lang.tr("Name", "Nome")) } th scope="col" { "SKU" } th scope="col" { (lang.tr("Price", "Preço")) } th scope="col" { (lang.tr("Stock", "Estoque")) } th scope="col" { (lang.tr("On sale", "À venda")) } } }
                tbody {
                    @for p in &items {
                        tr {
                            td { a href=(format!("/admin/products/{}", p["id"].as_str().unwrap_or_default())) { (p["name"].as_str().unwrap_or_default()) } }
                            td { (p["sku"].as_str().unwrap_or_default()) }
                            td { (lang.money(p["price_minor"].as_i64().unwrap_or_default(), p["currency"].as_str().unwrap_or_default())) }
                            td { (p["stock"]) }
                            td { @if p["active"] == true { (lang.tr("yes", "sim")) } @else { (lang.tr("no", "não")) } }
                        }
                    }
                }
            }
            @if let Some(next) = list["next_cursor"].as_str() {
                p { a rel="next" href=(format!("/admin/products?cursor={}", encode(next))) { (lang.tr("Next page", "Próxima página")) } }
            }
        },
    )
    .into_response())
}

#[derive(Default, Deserialize)]
struct ProductForm {
    csrf: Option<String>,
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    stock: String,
    #[serde(default)]
    active: Option<String>,
}

fn product_fields(lang: Lang, form: &ProductForm, creating: bool) -> Markup {
    html! {
        label for="name" { (lang.tr("Name", "Nome")) }
        input #name name="name" value=(form.name) required maxlength="200";
        label for="description" { (lang.tr("Description", "Descrição")) }
        textarea #description name="description" rows="3" { (form.description) }
        label for="sku" { "SKU" }
        input #sku name="sku" value=(form.sku) required;
        label for="price" { (lang.tr("Price (e.g. 25,90)", "Preço (ex.: 25,90)")) }
        input #price name="price" value=(form.price) required inputmode="decimal";
        label for="currency" { (lang.tr("Currency", "Moeda")) }
        input #currency name="currency" value=(if form.currency.is_empty() { "BRL" } else { &form.currency }) required maxlength="3";
        @if creating {
            label for="stock" { (lang.tr("Units in stock", "Unidades em estoque")) }
            input #stock type="number" min="0" name="stock" value=(if form.stock.is_empty() { "0" } else { &form.stock }) required;
        }
        p { input #active type="checkbox" name="active" value="on" checked[creating || form.active.is_some()];
            label.inline for="active" { (lang.tr("On sale", "À venda")) } }
    }
}

fn product_form_page(
    merchant: &Merchant,
    csrf: &CsrfToken,
    form: &ProductForm,
    error: Option<String>,
) -> Markup {
    let lang = merchant.lang;
    page(
        merchant,
        csrf,
        lang.tr("New product", "Novo produto"),
        html! {
            h1 { (lang.tr("New product", "Novo produto")) }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/admin/products" {
                (csrf_field(csrf))
                input type="hidden" name="idempotency_key" value=(uuid::Uuid::new_v4());
                (product_fields(lang, form, true))
                button type="submit" { (lang.tr("Create product", "Criar produto")) }
            }
        },
    )
}

/// `GET /admin/products/new`.
async fn new_product(Extension(csrf): Extension<CsrfToken>, merchant: Merchant) -> Markup {
    product_form_page(&merchant, &csrf, &ProductForm::default(), None)
}

/// A refusal in the service's words: the field and why, else the problem's detail.
pub(super) fn problem_text(error: &UpstreamError) -> String {
    match error.field_error() {
        Some((field, why)) => format!("{field}: {why}"),
        None => error.detail().unwrap_or_default(),
    }
}

fn refused(lang: Lang, error: &UpstreamError) -> String {
    match error.field_error() {
        Some((field, why)) => format!("{field}: {why}"),
        None if error.status() == Some(409) => lang
            .tr(
                "That SKU is already used by another product.",
                "Esse SKU já é usado por outro produto.",
            )
            .to_owned(),
        None => error.detail().unwrap_or_default(),
    }
}

/// `POST /admin/products`.
async fn create_product(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Checked(form): Checked<ProductForm>,
) -> PageResult {
    let lang = merchant.lang;
    let Some(price) = parse_price(&form.price) else {
        let message = lang
            .tr(
                "Price: use a number like 25,90.",
                "Preço: use um número como 25,90.",
            )
            .to_owned();
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            product_form_page(&merchant, &csrf, &form, Some(message)),
        )
            .into_response());
    };
    let body = json!({
        "name": form.name, "description": form.description, "sku": form.sku.trim(),
        "price_minor": price, "currency": form.currency.trim().to_ascii_uppercase(),
        "stock": form.stock.trim().parse::<i64>().unwrap_or(-1), "active": form.active.is_some(),
    });
    let key = Some(form.idempotency_key.as_str()).filter(|k| !k.is_empty() && k.len() <= 255);
    match state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send_once(
            reqwest::Method::POST,
            "/admin/products",
            Body::Json(body),
            key,
        )
        .await
    {
        Ok(_) => {
            state
                .upstreams
                .catalog
                .forget(&format!("/stores/{}/", merchant.session.slug));
            Ok(see_other("/admin/products"))
        }
        Err(
            error @ UpstreamError::Status {
                status: 409 | 422, ..
            },
        ) => {
            let message = refused(lang, &error);
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                product_form_page(&merchant, &csrf, &form, Some(message)),
            )
                .into_response())
        }
        Err(error) => Err(error.into()),
    }
}

fn product_id(raw: &str) -> Result<uuid::Uuid, PageError> {
    raw.parse().map_err(|_| PageError::NotFound)
}

/// `GET /admin/products/{id}`: edit, stock and delete forms.
async fn edit_product(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Path(id): Path<String>,
) -> PageResult {
    let lang = merchant.lang;
    let id = product_id(&id)?;
    let product = state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .get(&format!("/admin/products/{id}"))
        .await?;
    let form = ProductForm {
        name: product["name"].as_str().unwrap_or_default().into(),
        description: product["description"].as_str().unwrap_or_default().into(),
        sku: product["sku"].as_str().unwrap_or_default().into(),
        price: format!(
            "{:.2}",
            product["price_minor"].as_i64().unwrap_or_default() as f64 / 100.0
        ),
        currency: product["currency"].as_str().unwrap_or_default().into(),
        active: (product["active"] == true).then(|| "on".into()),
        ..ProductForm::default()
    };
    let deleted = !product["deleted_at"].is_null();
    Ok(page(
        &merchant,
        &csrf,
        &form.name,
        html! {
            h1 { (form.name) }
            @if deleted { p.notice { (lang.tr("This product was deleted.", "Este produto foi excluído.")) } }
            form method="post" action=(format!("/admin/products/{id}")) {
                (csrf_field(&csrf))
                (product_fields(lang, &form, false))
                button type="submit" { (lang.tr("Save", "Salvar")) }
            }
            h2 { (lang.tr("Stock", "Estoque")) }
            p { (lang.tr("Units in stock: ", "Unidades em estoque: ")) strong #stock-count { (product["stock"]) } }
            form method="post" action=(format!("/admin/products/{id}/stock")) {
                (csrf_field(&csrf))
                label for="stock_delta" { (lang.tr("Received (+) or removed (−) units", "Unidades recebidas (+) ou retiradas (−)")) }
                input #stock_delta type="number" name="stock_delta" required;
                button type="submit" { (lang.tr("Adjust stock", "Ajustar estoque")) }
            }
            @if !deleted {
                h2 { (lang.tr("Delete", "Excluir")) }
                form method="post" action=(format!("/admin/products/{id}/delete")) {
                    (csrf_field(&csrf))
                    button.danger type="submit" { (lang.tr("Delete this product", "Excluir este produto")) }
                }
            }
        },
    )
    .into_response())
}

async fn patch(state: &AppState, merchant: &Merchant, id: uuid::Uuid, body: Value) -> PageResult {
    match state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send(
            reqwest::Method::PATCH,
            &format!("/admin/products/{id}"),
            Body::Json(body),
        )
        .await
    {
        Ok(_) => {
            state
                .upstreams
                .catalog
                .forget(&format!("/stores/{}/", merchant.session.slug));
            Ok(see_other(&format!("/admin/products/{id}")))
        }
        Err(
            error @ UpstreamError::Status {
                status: 409 | 422, ..
            },
        ) => Err(PageError::BadRequest(refused(merchant.lang, &error))),
        Err(error) => Err(error.into()),
    }
}

/// `POST /admin/products/{id}`.
async fn update_product(
    State(state): State<AppState>,
    merchant: Merchant,
    Path(id): Path<String>,
    Checked(form): Checked<ProductForm>,
) -> PageResult {
    let id = product_id(&id)?;
    let price = parse_price(&form.price).ok_or_else(|| PageError::BadRequest("price".into()))?;
    let body = json!({
        "name": form.name, "description": form.description, "sku": form.sku.trim(),
        "price_minor": price, "currency": form.currency.trim().to_ascii_uppercase(),
        "active": form.active.is_some(),
    });
    patch(&state, &merchant, id, body).await
}

#[derive(Deserialize)]
struct StockForm {
    csrf: Option<String>,
    stock_delta: String,
}

/// `POST /admin/products/{id}/stock`.
async fn adjust_stock(
    State(state): State<AppState>,
    merchant: Merchant,
    Path(id): Path<String>,
    Checked(form): Checked<StockForm>,
) -> PageResult {
    let id = product_id(&id)?;
    let delta: i64 = form
        .stock_delta
        .trim()
        .trim_start_matches('+')
        .parse()
        .map_err(|_| PageError::BadRequest("stock_delta must be a whole number".into()))?;
    patch(&state, &merchant, id, json!({"stock_delta": delta})).await
}

/// `POST /admin/products/{id}/delete`: a soft delete.
async fn delete_product(
    State(state): State<AppState>,
    merchant: Merchant,
    Path(id): Path<String>,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    let id = product_id(&id)?;
    state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send(
            reqwest::Method::DELETE,
            &format!("/admin/products/{id}"),
            Body::None,
        )
        .await?;
    state
        .upstreams
        .catalog
        .forget(&format!("/stores/{}/", merchant.session.slug));
    Ok(see_other("/admin/products"))
}

/// A message on the settings page after an action that did not go through, and its status.
struct Refusal {
    status: StatusCode,
    message: String,
}

/// `GET /admin/settings`: the logo (with a preview of the chosen file), the custom domain
/// (claim, the TXT record to publish, verify), the admin key (rotate) and the language.
async fn settings(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    merchant: Merchant,
) -> PageResult {
    settings_page(&state, &csrf, &headers, &merchant, None).await
}

/// A domain's claim status in words.
fn domain_status_label(lang: Lang, status: &str) -> &'static str {
    match status {
        "verified" => lang.tr(
            "verified: your store answers there",
            "verificado: sua loja responde nele",
        ),
        "failed" => lang.tr("not verified yet", "ainda não verificado"),
        _ => lang.tr("waiting for the DNS record", "aguardando o registro DNS"),
    }
}

async fn settings_page(
    state: &AppState,
    csrf: &CsrfToken,
    headers: &HeaderMap,
    merchant: &Merchant,
    refusal: Option<Refusal>,
) -> PageResult {
    let lang = merchant.lang;
    let catalog = state.upstreams.catalog.as_caller(&merchant.session.key);
    let store = catalog.get("/admin/store").await?;
    let claim = match catalog.get("/admin/store/domain").await {
        Ok(claim) => Some(claim),
        Err(error) if error.is_not_found() => None,
        Err(error) => return Err(error.into()),
    };
    let shop = shop_url(headers, &merchant.session.temporary_domain);
    let (mut frame, signout) = frame(merchant, csrf, lang.tr("Settings", "Configurações"));
    frame.scripts.push("preview.js");
    let status = refusal.as_ref().map_or(StatusCode::OK, |r| r.status);
    let language = store["language"].as_str().unwrap_or("pt-BR");
    let body = layout(
        &frame,
        html! {
            p.signed-in { (lang.tr("Store: ", "Loja: ")) strong { (merchant.session.name) } " " (signout) }
            h1 { (lang.tr("Settings", "Configurações")) }
            @if let Some(refusal) = &refusal {
                p.error role="alert" #settings-error { (refusal.message) }
            }
            dl {
                dt { (lang.tr("Temporary address", "Endereço temporário")) } dd { a href=(shop) { (shop) } }
            }
            h2 { (lang.tr("Logo", "Logotipo")) }
            @if store["logo_url"].is_string() {
                p { (lang.tr("Current logo:", "Logotipo atual:")) }
                img.logo #current-logo src=(format!("/admin/logo?{}", store["logo_url"].as_str().unwrap_or_default().rsplit_once('?').map(|(_, v)| v).unwrap_or_default())) alt=(lang.tr("Current logo", "Logotipo atual"));
            }
            form method="post" action="/admin/settings/logo" enctype="multipart/form-data" {
                (csrf_field(csrf))
                label for="logo" { (lang.tr("New logo (PNG, JPEG or WebP, up to 1 MiB)", "Novo logotipo (PNG, JPEG ou WebP, até 1 MiB)")) }
                input #logo type="file" name="logo" accept="image/png,image/jpeg,image/webp" required;
                p { img.logo #logo-preview hidden alt=(lang.tr("Preview of the new logo", "Prévia do novo logotipo")); }
                button type="submit" { (lang.tr("Upload logo", "Enviar logotipo")) }
            }

            h2 #domain { (lang.tr("Custom domain", "Domínio próprio")) }
            @if let Some(claim) = &claim {
                @let domain = claim["domain"].as_str().unwrap_or_default();
                @let claim_status = claim["status"].as_str().unwrap_or_default();
                dl {
                    dt { (lang.tr("Domain", "Domínio")) } dd #domain-name { (domain) }
                    dt { (lang.tr("Status", "Situação")) } dd #domain-status data-status=(claim_status) { (domain_status_label(lang, claim_status)) }
                }
                @if claim_status == "verified" {
                    p { (lang.tr("Your store answers at ", "Sua loja responde em ")) a href=(shop_url(headers, domain)) { (shop_url(headers, domain)) } }
                } @else {
                    p { (lang.tr("To prove the domain is yours, publish this TXT record at your DNS provider, then verify:",
                                 "Para provar que o domínio é seu, publique este registro TXT no seu provedor de DNS e depois verifique:")) }
                    table #txt-record {
                        tbody {
                            tr { th scope="row" { (lang.tr("Name", "Nome")) } td { code #txt-name { (claim["txt_record"]["name"].as_str().unwrap_or_default()) } } }
                            tr { th scope="row" { (lang.tr("Type", "Tipo")) } td { code { "TXT" } } }
                            tr { th scope="row" { (lang.tr("Value", "Valor")) } td { code #txt-value { (claim["txt_record"]["value"].as_str().unwrap_or_default()) } } }
                        }
                    }
                    form.inline method="post" action="/admin/settings/domain/verify" {
                        (csrf_field(csrf))
                        button #verify-domain type="submit" { (lang.tr("Verify now", "Verificar agora")) }
                    }
                }
                form.inline method="post" action="/admin/settings/domain" {
                    (csrf_field(csrf))
                    input type="hidden" name="custom_domain" value="";
                    button.danger #remove-domain type="submit" { (lang.tr("Remove domain", "Remover domínio")) }
                }
            }
            form method="post" action="/admin/settings/domain" {
                (csrf_field(csrf))
                label for="custom_domain" { (lang.tr("Your domain (like shop.example.com)", "Seu domínio (como loja.exemplo.com.br)")) }
                input #custom_domain name="custom_domain" value=(claim.as_ref().and_then(|c| c["domain"].as_str()).unwrap_or_default()) required autocomplete="off";
                button type="submit" { (lang.tr("Claim domain", "Usar este domínio")) }
            }

            h2 #key { (lang.tr("Admin key", "Chave de administração")) }
            p { (lang.tr("A new key replaces the current one at once: the old one stops working everywhere. The new key is shown only once.",
                         "Uma nova chave substitui a atual na hora: a antiga deixa de valer em todo lugar. A nova chave aparece uma única vez.")) }
            form method="post" action="/admin/settings/key" {
                (csrf_field(csrf))
                button.danger #rotate-key type="submit" { (lang.tr("Make a new admin key", "Gerar nova chave")) }
            }

            h2 #language-settings { (lang.tr("Language", "Idioma")) }
            form method="post" action="/admin/settings/language" {
                (csrf_field(csrf))
                label for="language" { (lang.tr("Your store speaks", "Sua loja fala")) }
                select #language name="language" {
                    option value="pt-BR" selected[language != "en"] { "Português (Brasil)" }
                    option value="en" selected[language == "en"] { "English" }
                }
                button type="submit" { (lang.tr("Save language", "Salvar idioma")) }
            }
        },
    );
    Ok((status, body).into_response())
}

#[derive(Deserialize)]
struct DomainForm {
    csrf: Option<String>,
    #[serde(default)]
    custom_domain: String,
}

/// Catalog's word on a domain action, for the settings page.
fn domain_refusal(lang: Lang, error: &UpstreamError) -> Option<Refusal> {
    let (status, message) = match error.status()? {
        409 => (
            StatusCode::CONFLICT,
            lang.tr(
                "That domain belongs to another store.",
                "Esse domínio pertence a outra loja.",
            )
            .to_owned(),
        ),
        422 => (StatusCode::UNPROCESSABLE_ENTITY, problem_text(error)),
        _ => return None,
    };
    Some(Refusal { status, message })
}

/// After a change to what `/stores/resolve` answers (domain, language): forget its copies.
fn forget_store(state: &AppState) {
    state.upstreams.catalog.forget("/stores/resolve");
}

/// `POST /admin/settings/domain`: claims the domain (empty: drops the claim).
async fn set_domain(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    merchant: Merchant,
    Checked(form): Checked<DomainForm>,
) -> PageResult {
    let domain = form.custom_domain.trim();
    let body = json!({ "custom_domain": (!domain.is_empty()).then_some(domain) });
    let change = (
        reqwest::Method::PUT,
        "/admin/store/domain",
        Body::Json(body),
    );
    change_domain(&state, &csrf, &headers, &merchant, change).await
}

/// Sends a domain change to catalog as the merchant: on success the store's cached copies
/// are forgotten and the settings page shown again; a refusal catalog explains is shown on
/// the settings page, in the merchant's language.
async fn change_domain(
    state: &AppState,
    csrf: &CsrfToken,
    headers: &HeaderMap,
    merchant: &Merchant,
    (method, path, body): (reqwest::Method, &str, Body),
) -> PageResult {
    match state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send(method, path, body)
        .await
    {
        Ok(_) => {
            forget_store(state);
            Ok(see_other("/admin/settings#domain"))
        }
        Err(error) => match domain_refusal(merchant.lang, &error) {
            Some(refusal) => settings_page(state, csrf, headers, merchant, Some(refusal)).await,
            None => Err(error.into()),
        },
    }
}

/// `POST /admin/settings/domain/verify`: catalog looks the TXT record up now.
async fn verify_domain(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    merchant: Merchant,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    let change = (
        reqwest::Method::POST,
        "/admin/store/domain/verify",
        Body::None,
    );
    change_domain(&state, &csrf, &headers, &merchant, change).await
}

/// `POST /admin/settings/key`: a new admin key, shown once; the session carries it on (the
/// old key no longer opens anything).
async fn rotate_key(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    merchant: Merchant,
    Checked(_): Checked<CsrfOnly>,
) -> PageResult {
    let lang = merchant.lang;
    let (_, store) = state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send(reqwest::Method::POST, "/admin/store/rotate-key", Body::None)
        .await?;
    let admin_key = store["admin_key"]
        .as_str()
        .ok_or(PageError::Unavailable { retry_after_s: 5 })?
        .to_owned();
    let session = new_session(&state, &store, &admin_key)
        .ok_or(PageError::Unavailable { retry_after_s: 5 })?;
    let body = page(
        &merchant,
        &csrf,
        lang.tr("New admin key", "Nova chave de administração"),
        html! {
            h1 { (lang.tr("Your new admin key", "Sua nova chave de administração")) }
            p { (lang.tr("It is shown only now: keep it somewhere safe. The old key no longer works.",
                         "Ela só aparece agora: guarde-a em lugar seguro. A chave antiga não vale mais.")) }
            p.key #admin-key { (admin_key) }
            p { a href="/admin/settings" { (lang.tr("Back to settings", "Voltar às configurações")) } }
        },
    );
    let mut response = body.into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&state, &headers, &session),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[derive(Deserialize)]
struct LanguageForm {
    csrf: Option<String>,
    #[serde(default)]
    language: String,
}

/// `POST /admin/settings/language`: what the shop and the admin speak from now on.
async fn set_language(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    headers: HeaderMap,
    merchant: Merchant,
    Checked(form): Checked<LanguageForm>,
) -> PageResult {
    match state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send(
            reqwest::Method::PUT,
            "/admin/store/language",
            Body::Json(json!({ "language": form.language.trim() })),
        )
        .await
    {
        Ok((_, store)) => {
            forget_store(&state);
            let session = Session {
                language: store["language"]
                    .as_str()
                    .unwrap_or(&merchant.session.language)
                    .to_owned(),
                ..merchant.session.clone()
            };
            Ok(see_other_setting(
                "/admin/settings#language-settings",
                [session_cookie(&state, &headers, &session)],
            ))
        }
        Err(error @ UpstreamError::Status { status: 422, .. }) => {
            let refusal = Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                message: problem_text(&error),
            };
            settings_page(&state, &csrf, &headers, &merchant, Some(refusal)).await
        }
        Err(error) => Err(error.into()),
    }
}

/// `GET /admin/logo`: the signed-in store's logo (the admin is on the platform's host, where
/// `/logo` names no store).
async fn logo(State(state): State<AppState>, merchant: Merchant) -> PageResult {
    let served = state
        .upstreams
        .catalog
        .get_public(&format!("/stores/{}/logo", merchant.session.slug))
        .await?;
    super::shop::image(&served.into_inner())
}

/// `POST /admin/settings/logo` (multipart: `csrf`, `logo`).
async fn upload_logo(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    mut multipart: Multipart,
) -> PageResult {
    let (mut presented, mut image) = (None, None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| PageError::BadRequest(e.body_text()))?
    {
        match field.name() {
            Some("csrf") => {
                presented = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| PageError::BadRequest(e.body_text()))?,
                );
            }
            Some("logo") => {
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| PageError::BadRequest(e.body_text()))?;
                image = Some((content_type, bytes.to_vec()));
            }
            _ => {}
        }
    }
    check_csrf(&csrf, presented.as_deref())?;
    let (content_type, bytes) =
        image.ok_or_else(|| PageError::BadRequest("logo is required".into()))?;
    match state
        .upstreams
        .catalog
        .as_caller(&merchant.session.key)
        .send(
            reqwest::Method::PUT,
            "/admin/store/logo",
            Body::Bytes {
                content_type,
                bytes,
            },
        )
        .await
    {
        Ok(_) => {
            state.upstreams.catalog.forget("/stores/resolve");
            state
                .upstreams
                .catalog
                .forget(&format!("/stores/{}/logo", merchant.session.slug));
            Ok(see_other("/admin/settings"))
        }
        Err(UpstreamError::Status { status: 413, .. }) => Err(PageError::BadRequest(
            merchant
                .lang
                .tr(
                    "That image is too large (1 MiB at most).",
                    "Essa imagem é grande demais (no máximo 1 MiB).",
                )
                .into(),
        )),
        Err(UpstreamError::Status { status: 415, .. }) => Err(PageError::BadRequest(
            merchant
                .lang
                .tr(
                    "Use a PNG, JPEG or WebP image.",
                    "Use uma imagem PNG, JPEG ou WebP.",
                )
                .into(),
        )),
        Err(error) => Err(error.into()),
    }
}

/// `GET /admin/orders?status=`.
async fn orders(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> PageResult {
    let lang = merchant.lang;
    let status = query.get("status").map(String::as_str).unwrap_or_default();
    let mut path = "/admin/orders?limit=50".to_owned();
    if !status.is_empty() {
        path.push_str(&format!("&status={}", encode(status)));
    }
    if let Some(cursor) = query.get("cursor").filter(|c| !c.is_empty()) {
        path.push_str(&format!("&cursor={}", encode(cursor)));
    }
    let list = state
        .upstreams
        .checkout
        .as_caller(&merchant.session.key)
        .get(&path)
        .await?;
    Ok(page(
        &merchant,
        &csrf,
        lang.tr("Orders", "Pedidos"),
        html! {
            h1 { (lang.tr("Orders", "Pedidos")) }
            form.search method="get" action="/admin/orders" {
                label for="status" { (lang.tr("Status", "Situação")) }
                select #status name="status" {
                    option value="" { (lang.tr("All", "Todos")) }
                    @for s in ["pending", "reserved", "awaiting_payment", "confirmed", "cancelled"] {
                        option value=(s) selected[s == status] { (status_label(lang, s)) }
                    }
                }
                button type="submit" { (lang.tr("Filter", "Filtrar")) }
            }
            table {
                caption { (lang.tr("Newest first", "Mais recentes primeiro")) }
                thead { tr { th scope="col" { (lang.tr("Date", "Data")) } th scope="col" { (lang.tr("Customer", "Cliente")) } th scope="col" { (lang.tr("Status", "Situação")) } th scope="col" { (lang.tr("Total", "Total")) } } }
                tbody {
                    @for o in list["items"].as_array().into_iter().flatten() {
                        tr {
                            td { a href=(format!("/admin/orders/{}", o["id"].as_str().unwrap_or_default())) { (o["created_at"].as_str().unwrap_or_default().get(..16).unwrap_or_default().replace('T', " ")) } }
                            td { (o["customer"]["name"].as_str().unwrap_or_default()) }
                            td { (status_label(lang, o["status"].as_str().unwrap_or_default())) }
                            td { (lang.money(o["total_minor"].as_i64().unwrap_or_default(), o["currency"].as_str().unwrap_or_default())) }
                        }
                    }
                }
            }
            @if let Some(next) = list["next_cursor"].as_str() {
                p { a rel="next" href=(format!("/admin/orders?status={}&cursor={}", encode(status), encode(next))) { (lang.tr("Next page", "Próxima página")) } }
            }
        },
    )
    .into_response())
}

/// `GET /admin/orders/{id}`.
async fn order(
    State(state): State<AppState>,
    Extension(csrf): Extension<CsrfToken>,
    merchant: Merchant,
    Path(id): Path<String>,
) -> PageResult {
    let lang = merchant.lang;
    let id = product_id(&id)?;
    let order = state
        .upstreams
        .checkout
        .as_caller(&merchant.session.key)
        .get(&format!("/admin/orders/{id}?lang={}", lang.code()))
        .await?;
    let currency = order["currency"].as_str().unwrap_or_default();
    let address = &order["shipping_address"];
    Ok(page(
        &merchant,
        &csrf,
        lang.tr("Order", "Pedido"),
        html! {
            h1 { (lang.tr("Order", "Pedido")) " " code { (id) } }
            p.order-status data-status=(order["status"].as_str().unwrap_or_default()) { strong { (status_label(lang, order["status"].as_str().unwrap_or_default())) } }
            @if let Some(reason) = order["reason_message"].as_str() { p.reason { (reason) } }
            h2 { (lang.tr("Customer", "Cliente")) }
            p { (order["customer"]["name"].as_str().unwrap_or_default()) " · " (order["customer"]["email"].as_str().unwrap_or_default()) }
            p { (address["line1"].as_str().unwrap_or_default()) " " (address["line2"].as_str().unwrap_or_default()) ", "
                (address["city"].as_str().unwrap_or_default()) " " (address["state"].as_str().unwrap_or_default()) " "
                (address["postal_code"].as_str().unwrap_or_default()) " " (address["country"].as_str().unwrap_or_default()) }
            h2 { (lang.tr("Items", "Itens")) }
            table {
                thead { tr { th scope="col" { (lang.tr("Product", "Produto")) } th scope="col" { "SKU" } th scope="col" { (lang.tr("Quantity", "Quantidade")) } th scope="col" { (lang.tr("Total", "Total")) } } }
                tbody {
                    @for line in order["lines"].as_array().into_iter().flatten() {
                        tr { td { (line["name"].as_str().unwrap_or_default()) } td { (line["sku"].as_str().unwrap_or_default()) } td { (line["quantity"]) }
                             td { (lang.money(line["line_total_minor"].as_i64().unwrap_or_default(), currency)) } }
                    }
                }
            }
            p.total { (lang.tr("Total", "Total")) ": " (lang.money(order["total_minor"].as_i64().unwrap_or_default(), currency)) }
            h2 { (lang.tr("Timeline", "Linha do tempo")) }
            (timeline(lang, &order))
        },
    )
    .into_response())
}

csrf_form!(
    SigninForm,
    SignupForm,
    ProductForm,
    StockForm,
    DomainForm,
    LanguageForm
);
