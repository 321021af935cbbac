//! A merchant and shoppers, through the platform's HTTP APIs only.
//!
//! A store signs up at catalog, adds products, and registers a webhook endpoint at
//! notifications; [`Shop::open`] returns once checkout, payments and notifications have heard
//! of the store (their admin APIs accept its key). A shopper tokenizes a card at the simulator,
//! as pagar.me's browser script does, and places an order at checkout with an
//! `Idempotency-Key`, retrying with the same key on a 503 or a dropped connection, as a
//! client should ([`Shop::place`]).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::faults::Svc;
use crate::platform::Platform;
use crate::receivers::recipient;

/// pagar.me's test cards (docs/payments.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// `4000000000000010`: paid.
    Approved,
    /// `4000000000000028`: not authorized.
    Declined,
    /// `4000000000000036`: processing, paid when the acquirer is next asked.
    ProcessingThenPaid,
}

impl Card {
    pub fn number(self) -> &'static str {
        match self {
            Card::Approved => "4000000000000010",
            Card::Declined => "4000000000000028",
            Card::ProcessingThenPaid => "4000000000000036",
        }
    }
}

/// A product and the stock it started with.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub price_minor: i64,
    pub initial_stock: i64,
}

/// A store with products and a webhook endpoint at the test's receiver.
#[derive(Debug, Clone)]
pub struct Shop {
    pub id: Uuid,
    pub slug: String,
    pub admin_key: String,
    pub products: Vec<Product>,
    /// The event types its endpoint subscribes to.
    pub webhook_events: Vec<&'static str>,
}

/// An order a shopper placed (checkout answered 202).
#[derive(Debug, Clone)]
pub struct Placed {
    pub order_id: Uuid,
    pub token: String,
    pub email: String,
    pub card: Card,
    /// (product, quantity)
    pub lines: Vec<(Uuid, i64)>,
    pub total_minor: i64,
}

const SHOP_READY: Duration = Duration::from_secs(60);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("a plain HTTP client builds")
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, Value)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

impl Shop {
    /// A store named `name` with `products` (name, price in cents, stock), its webhook endpoint
    /// subscribed to the order outcomes; ready once every service knows it.
    pub async fn open(
        platform: &Platform,
        name: &str,
        products: &[(&str, i64, i64)],
    ) -> anyhow::Result<Self> {
        let http = client();
        let slug = format!(
            "{}-{}",
            name.to_lowercase(),
            &Uuid::new_v4().simple().to_string()[..10]
        );
        let (status, store) = send(
            http.post(platform.url(Svc::Catalog, "/stores")?)
                .json(&json!({"name": name, "slug": slug, "contact_email": recipient("merchant")})),
        )
        .await?;
        anyhow::ensure!(status == 201, "store sign-up: {status} {store}");
        let admin_key = store["admin_key"].as_str().context("admin_key")?.to_owned();
        let id: Uuid = store["id"].as_str().context("id")?.parse()?;
        let mut made = Vec::new();
        for (i, (product, price_minor, stock)) in products.iter().enumerate() {
            let (status, body) = send(
                http.post(platform.url(Svc::Catalog, "/admin/products")?)
                    .bearer_auth(&admin_key)
                    .json(
                        &json!({"name": product, "description": "", "sku": format!("SKU-{i}"),
                                  "price_minor": price_minor, "currency": "BRL", "stock": stock,
                                  "active": true}),
                    ),
            )
            .await?;
            anyhow::ensure!(status == 201, "product {product}: {status} {body}");
            made.push(Product {
                id: body["id"].as_str().context("product id")?.parse()?,
                name: (*product).to_owned(),
                price_minor: *price_minor,
                initial_stock: *stock,
            });
        }
        let webhook_events = vec!["checkout.OrderConfirmed", "checkout.OrderCancelled"];
        // Notifications learns of the store from StoreCreated: 401 until then.
        let url = platform.url(Svc::Notifications, "/admin/webhooks")?;
        crate::eventually(
            "notifications to take the store's webhook endpoint",
            SHOP_READY,
            || {
                let request = http
                    .post(&url)
                    .bearer_auth(&admin_key)
                    .header("Idempotency-Key", format!("webhook-{id}"))
                    .json(&json!({"url": platform.webhooks.url(), "event_types": webhook_events}));
                async move {
                    let (status, body) = send(request).await?;
                    match status {
                        201 => Ok(Some(())),
                        401 => Ok(None),
                        _ => bail!("registering the webhook: {status} {body}"),
                    }
                }
            },
        )
        .await?;
        for (svc, path) in [
            (Svc::Checkout, "/admin/orders"),
            (Svc::Payments, "/admin/transactions"),
        ] {
            let url = platform.url(svc, path)?;
            crate::eventually(&format!("{svc} to know the store"), SHOP_READY, || {
                let request = http.get(&url).bearer_auth(&admin_key);
                async move { Ok((send(request).await?.0 == 200).then_some(())) }
            })
            .await?;
        }
        Ok(Self {
            id,
            slug,
            admin_key,
            products: made,
            webhook_events,
        })
    }

    /// Finds products by a word of their name, as a shopper searches.
    pub async fn search(&self, platform: &Platform, q: &str) -> anyhow::Result<Vec<Uuid>> {
        let url = platform.url(Svc::Catalog, &format!("/stores/{}/products", self.slug))?;
        let (status, body) = send(client().get(url).query(&[("q", q)])).await?;
        anyhow::ensure!(status == 200, "search: {status} {body}");
        body["items"]
            .as_array()
            .context("items")?
            .iter()
            .map(|p| Ok(p["id"].as_str().context("id")?.parse()?))
            .collect()
    }

    /// The card tokenized at the simulator, as the shopper's browser does.
    pub async fn tokenize(platform: &Platform, card: Card) -> anyhow::Result<String> {
        let (status, body) = send(
            client()
                .post(format!(
                    "{}/core/v5/tokens?appId=pk_test_platform",
                    platform.sim_url()
                ))
                .json(&json!({"type": "card", "card": {"number": card.number(),
                    "holder_name": "Ana Souza", "exp_month": 12, "exp_year": 2030, "cvv": "123"}})),
        )
        .await?;
        anyhow::ensure!(status == 200, "tokenize: {status} {body}");
        Ok(body["id"].as_str().context("token id")?.to_owned())
    }

    /// Places an order for `lines` paid with `card`. A 503, a 5xx or no answer is retried
    /// with the same `Idempotency-Key` (the client's side of exactly-once) for up to `limit`.
    pub async fn place(
        &self,
        platform: &Platform,
        lines: &[(Uuid, i64)],
        card: Card,
        limit: Duration,
    ) -> anyhow::Result<Placed> {
        let token = Self::tokenize(platform, card).await?;
        self.place_tokenized(platform, lines, card, &token, limit)
            .await
    }

    /// [`Shop::place`] with a card tokenized ahead (tokenization is the gateway too: a drill
    /// that takes the gateway away tokenizes before).
    pub async fn place_tokenized(
        &self,
        platform: &Platform,
        lines: &[(Uuid, i64)],
        card: Card,
        token: &str,
        limit: Duration,
    ) -> anyhow::Result<Placed> {
        let email = recipient("shopper");
        let body = json!({
            "lines": lines.iter().map(|(p, q)| json!({"product_id": p, "quantity": q})).collect::<Vec<_>>(),
            "customer": {"name": "Ana Souza", "email": email},
            "shipping_address": {"line1": "Rua A, 1", "city": "São Paulo", "state": "SP",
                                 "postal_code": "01000-000", "country": "BR"},
            "payment": {"card_token": token}
        });
        let key = Uuid::new_v4().to_string();
        let http = client();
        let start = Instant::now();
        loop {
            let url = platform.url(Svc::Checkout, &format!("/stores/{}/orders", self.slug))?;
            match send(http.post(url).header("Idempotency-Key", &key).json(&body)).await {
                Ok((202, answer)) => {
                    let total_minor = lines
                        .iter()
                        .map(|(p, q)| {
                            self.products
                                .iter()
                                .find(|product| product.id == *p)
                                .map_or(0, |product| product.price_minor * q)
                        })
                        .sum();
                    return Ok(Placed {
                        order_id: answer["order_id"].as_str().context("order_id")?.parse()?,
                        token: answer["token"].as_str().context("token")?.to_owned(),
                        email,
                        card,
                        lines: lines.to_vec(),
                        total_minor,
                    });
                }
                Ok((status, answer)) if status < 500 => {
                    bail!("order refused: {status} {answer}")
                }
                Ok(_) | Err(_) => {}
            }
            if start.elapsed() > limit {
                bail!("no order accepted within {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The order as its shopper sees it (`GET /orders/{id}?token=`).
    pub async fn order(&self, platform: &Platform, placed: &Placed) -> anyhow::Result<Value> {
        let url = platform.url(Svc::Checkout, &format!("/orders/{}", placed.order_id))?;
        let (status, body) = send(client().get(url).query(&[("token", &placed.token)])).await?;
        anyhow::ensure!(status == 200, "order: {status} {body}");
        Ok(body)
    }

    /// `GET path` on `svc` with the store's admin key.
    pub async fn admin_get(
        &self,
        platform: &Platform,
        svc: Svc,
        path: &str,
    ) -> anyhow::Result<Value> {
        let (status, body) = send(
            client()
                .get(platform.url(svc, path)?)
                .bearer_auth(&self.admin_key),
        )
        .await?;
        anyhow::ensure!(status == 200, "{svc} {path}: {status} {body}");
        Ok(body)
    }

    /// Orders placed one after another every `every`, `count` of them, cycling through the
    /// products; every `declined_every`-th order (if any) is paid with the declined card.
    pub async fn stream(
        &self,
        platform: &Platform,
        count: usize,
        every: Duration,
        declined_every: Option<usize>,
    ) -> anyhow::Result<Vec<Placed>> {
        let cards = Self::cards(platform, count, declined_every).await?;
        self.stream_cards(platform, cards, every).await
    }

    /// `count` cards tokenized ahead, every `declined_every`-th the declined one: tokenization
    /// is the gateway too, and a drill may take the gateway away.
    pub async fn cards(
        platform: &Platform,
        count: usize,
        declined_every: Option<usize>,
    ) -> anyhow::Result<Vec<(Card, String)>> {
        let mut cards = Vec::with_capacity(count);
        for i in 0..count {
            let card = match declined_every {
                Some(n) if i % n == n - 1 => Card::Declined,
                _ => Card::Approved,
            };
            cards.push((card, Self::tokenize(platform, card).await?));
        }
        Ok(cards)
    }

    /// One order per card, one every `every`.
    pub async fn stream_cards(
        &self,
        platform: &Platform,
        cards: Vec<(Card, String)>,
        every: Duration,
    ) -> anyhow::Result<Vec<Placed>> {
        let count = cards.len();
        let mut placed = Vec::with_capacity(count);
        for (i, (card, token)) in cards.into_iter().enumerate() {
            let started = Instant::now();
            let product = &self.products[i % self.products.len()];
            let quantity = 1 + (i % 2) as i64;
            placed.push(
                self.place_tokenized(
                    platform,
                    &[(product.id, quantity)],
                    card,
                    &token,
                    Duration::from_secs(60),
                )
                .await
                .with_context(|| format!("order {i} of the stream"))?,
            );
            // Pacing between arrivals, not synchronisation: a steady stream through the fault.
            if let Some(rest) = every.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        Ok(placed)
    }
}
