//! A whole platform of the test's own, and an HTTP client that speaks to the storefront as a
//! browser would: with a `Host`, cookies it keeps, and the CSRF token read from forms.

use std::collections::HashMap;

use platform_tests::Database;
use reqwest::header::{COOKIE, HOST, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use testkit::ServiceProcess;

use crate::dns::DnsServer;
pub use crate::stack::eventually;
use crate::stack::{Stack, service_env, start, wait_ready};

pub const OPS_TOKEN: &str = "it-ops-token";
pub const APPROVED: &str = "4000000000000010";
pub const DECLINED: &str = "4000000000000028";

/// The stack (catalog, checkout), payments and ops, the simulator, a DNS server, and the
/// storefront.
pub struct World {
    pub stack: Stack,
    pub payments: ServiceProcess,
    pub ops: ServiceProcess,
    /// Only in [`World::start_with_notifications`].
    pub notifications: Option<ServiceProcess>,
    pub storefront: ServiceProcess,
    pub sim_url: String,
    /// The DNS server catalog checks custom domains' TXT records with.
    pub dns: DnsServer,
    _sim: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl World {
    /// Everything but notifications (whose URL then names a port nothing listens on).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(false).await
    }

    /// Everything, notifications included (mail to the local maildev, webhooks to loopback
    /// allowed).
    pub async fn start_with_notifications() -> anyhow::Result<Self> {
        Self::start_with(true).await
    }

    async fn start_with(with_notifications: bool) -> anyhow::Result<Self> {
        // Custom domains' TXT records are looked up here (catalog's DNS_RESOLVER).
        let dns = DnsServer::start().await?;
        let mut stack = Stack::start(vec![("DNS_RESOLVER", dns.addr.to_string())]).await?;
        let amqp = stack.vhost.url();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim_url = format!("http://{}", listener.local_addr()?);
        let sim = tokio::spawn(payments::sim::Simulator::new().serve(listener));
        let payments_db = Database::create("payments").await?;
        let ops_db = Database::create("ops").await?;
        let mut env = service_env(&payments_db, &amqp);
        env.extend([
            ("PAGARME_BASE_URL", format!("{sim_url}/core/v5")),
            ("PAGARME_SECRET_KEY", "sk_test_storefront_it".to_owned()),
            (
                "REDIS_URL",
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            ),
            (
                "GATEWAY_RATE_LIMIT_PREFIX",
                format!("storefront-it-{}", uuid::Uuid::new_v4().simple()),
            ),
        ]);
        let payments = start("payments", env).await?;
        let mut env = service_env(&ops_db, &amqp);
        env.push(("OPS_TOKEN", OPS_TOKEN.to_owned()));
        let ops = start("ops", env).await?;
        stack.databases.extend([payments_db, ops_db]);
        let notifications = if with_notifications {
            let database = Database::create("notifications").await?;
            let mut env = service_env(&database, &amqp);
            env.extend([
                (
                    "SMTP_URL",
                    std::env::var("SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into()),
                ),
                ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
            ]);
            stack.databases.push(database);
            Some(start("notifications", env).await?)
        } else {
            None
        };
        let mut env = stack.storefront_env();
        env.extend([
            ("PAYMENTS_URL", payments.url()),
            ("OPS_URL", ops.url()),
            // Without notifications: a port nothing listens on, so the edge meets it as it
            // would a service that is down (not whatever runs on 8084).
            (
                "NOTIFICATIONS_URL",
                notifications
                    .as_ref()
                    .map_or_else(|| "http://127.0.0.1:1".to_owned(), ServiceProcess::url),
            ),
            ("GATEWAY_TOKENIZE_URL", format!("{sim_url}/core/v5")),
            // Copies go stale fast, so a test sees them stand in without waiting long.
            ("FRESH_FOR_MS", "300".to_owned()),
        ]);
        let storefront = start("storefront", env).await?;
        for process in [&payments, &ops, &storefront]
            .into_iter()
            .chain(notifications.as_ref())
        {
            wait_ready(process).await?;
        }
        Ok(Self {
            stack,
            payments,
            ops,
            notifications,
            storefront,
            sim_url,
            dns,
            _sim: sim,
        })
    }

    pub fn port(&self) -> u16 {
        self.storefront.addr.port()
    }

    /// `<slug>.summit.localhost:<port>`: a store's temporary domain on the storefront.
    pub fn shop_host(&self, slug: &str) -> String {
        format!("{slug}.summit.localhost:{}", self.port())
    }

    /// Creates a store at catalog (its admin key back) with `products` (name, price_minor).
    pub async fn store(
        &self,
        slug: &str,
        products: &[(&str, i64)],
    ) -> anyhow::Result<(String, Vec<String>)> {
        self.stack.store(slug, products).await
    }

    /// A card token from the simulator, as a browser would get it.
    pub async fn card_token(&self, number: &str) -> anyhow::Result<String> {
        let token: Value = reqwest::Client::new()
            .post(format!("{}/core/v5/tokens?appId=pk_summit_local", self.sim_url))
            .json(&json!({"type": "card", "card": {"number": number, "holder_name": "Ana", "exp_month": 12, "exp_year": 2030, "cvv": "123"}}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(token["id"].as_str().unwrap().to_owned())
    }

    pub fn visitor(&self, host: &str) -> Visitor {
        Visitor {
            base: self.storefront.url(),
            host: host.to_owned(),
            cookies: HashMap::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        for process in [&mut self.storefront, &mut self.ops, &mut self.payments]
            .into_iter()
            .chain(self.notifications.as_mut())
        {
            let _ = process.kill().await;
        }
        self.stack.stop().await
    }
}

/// One browser's worth of state, over plain HTTP.
pub struct Visitor {
    base: String,
    pub host: String,
    pub cookies: HashMap<String, String>,
    http: reqwest::Client,
}

/// What came back: status, the raw `Set-Cookie` values, `Location`, headers, body.
pub struct Answer {
    pub status: u16,
    pub set_cookies: Vec<String>,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Visitor {
    fn keep(&mut self, response: &reqwest::Response) -> Vec<String> {
        let raw: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &raw {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || cookie.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        raw
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> anyhow::Result<Answer> {
        let set_cookies = self.keep(&response);
        Ok(Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            headers: response.headers().clone(),
            set_cookies,
            body: response.text().await?,
        })
    }

    pub async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(HOST, &self.host)
            .header(COOKIE, self.cookie_header())
            .send()
            .await?;
        self.answer(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        self.post_with(path, form, &[]).await
    }

    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(HOST, &self.host)
            .header(COOKIE, self.cookie_header())
            .form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        self.answer(response).await
    }

    /// The CSRF token the pages' forms carry (a page must have been fetched first).
    pub async fn csrf(&mut self) -> anyhow::Result<String> {
        let page = self.get("/admin/signup").await?;
        hidden(&page.body, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf field in {}", page.body))
    }

    /// Signs in with `key` on the platform host.
    pub async fn sign_in(&mut self, key: &str) -> anyhow::Result<Answer> {
        let csrf = self.csrf().await?;
        self.post("/admin/signin", &[("csrf", &csrf), ("admin_key", key)])
            .await
    }
}

/// A hidden input's value in `html`.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}
