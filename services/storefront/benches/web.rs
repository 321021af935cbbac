//! `make bench-web`: what the web edge costs over calling the services directly, per page, in
//! one run. The real catalog, checkout and storefront run as release binaries (started as the
//! `it` tests start them: `tests/it/stack.rs`), with a store of 20 products and one placed
//! order. For each page — home, search, product, status — it sends `N` requests through the
//! storefront (with the store's `Host`) and, interleaved with them, `N` times the calls that
//! page makes upstream, straight at the services:
//!
//! | page | storefront | direct (one sample = the calls in order) |
//! |---|---|---|
//! | home | `GET /` | catalog `/stores/resolve?host=`, `/stores/{slug}/products?limit=12` |
//! | search | `GET /search?q=` | resolve, `/stores/{slug}/products?limit=10&q=` |
//! | product | `GET /products/{id}` | resolve, `/stores/{slug}/products/{id}` |
//! | status | `GET /orders/{id}?token=` | resolve, checkout `/orders/{id}?token=&lang=` |
//!
//! The cache: the storefront keeps catalog's public reads (the store by host, the home
//! listing, search pages, products) for `FRESH_FOR_MS` (5 s by default); an order's status is
//! never cached. Measured against a cache, the edge would mostly time its own copy, not the
//! composition. So two storefronts run side by side on the same services: one with
//! `FRESH_FOR_MS=0` (every page asks its services: the figures compared with direct), and one
//! with the default (a burst of shoppers on the same pages: `cached_p50_ms`, `cached_p99_ms`;
//! for status only the store is a copy). One logfmt line per page:
//!
//! `web page=<home|search|product|status> requests=N p50_ms=… p99_ms=… direct_p50_ms=…
//! direct_p99_ms=… overhead_vs_direct_ms=… cached_p50_ms=… cached_p99_ms=…`
//!
//! where `overhead_vs_direct_ms` is the uncached edge's p50 minus direct's p50. Every answer
//! must be a 200 with the page's content, or the bench fails rather than time error pages.
//! One request at a time (latency, not throughput). `BENCH_WEB_REQUESTS` sets `N` (500).
//! Figures only, never judged.

#[path = "../tests/it/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use reqwest::header::HOST;
use serde_json::{Value, json};
use stack::{Stack, eventually, start, wait_ready};

/// Calls before measuring: connections open, code paths warm.
const WARMUP: usize = 20;

/// One page: the storefront path, and the direct calls (service base URL, path) it stands for.
struct Page {
    name: &'static str,
    path: String,
    /// Text the page must show (the store's product, or the order's total).
    shows: String,
    direct: Vec<String>,
}

/// The millisecond value at quantile `q` of `samples` (sorted here).
fn quantile_ms(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort_unstable();
    let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1000.0
}

/// One request through a storefront, timed; fails unless 200 showing `page.shows`.
async fn through_edge(
    http: &reqwest::Client,
    edge: &str,
    host: &str,
    page: &Page,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let response = http
        .get(format!("{edge}{}", page.path))
        .header(HOST, host)
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    let took = start.elapsed();
    anyhow::ensure!(
        status == 200 && body.contains(&page.shows),
        "{} answered {status} without {:?}: {body}",
        page.path,
        page.shows
    );
    Ok(took)
}

/// The page's upstream calls in order, timed together; fails unless each is a 200.
async fn direct(http: &reqwest::Client, page: &Page) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for url in &page.direct {
        let response = http.get(url).send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        anyhow::ensure!(status == 200, "{url} answered {status}: {body:?}");
    }
    Ok(start.elapsed())
}

/// Places one order at checkout (retrying until checkout has learned the store's products
/// from catalog's events); its id and token.
async fn place_order(stack: &Stack, slug: &str, product: &str) -> anyhow::Result<(String, String)> {
    let http = reqwest::Client::new();
    let url = format!("{}/stores/{slug}/orders", stack.checkout.url());
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "lines": [{"product_id": product, "quantity": 2}],
        "customer": {"name": "Ana Souza", "email": "ana@example.com"},
        "shipping_address": {"line1": "Rua A, 1", "city": "São Paulo", "state": "SP",
                             "postal_code": "01000-000", "country": "BR"},
        "payment": {"card_token": "tok_test_4000000000000010"}
    });
    eventually(
        "checkout to accept the order",
        Duration::from_secs(60),
        || async {
            let response = http
                .post(&url)
                .header("idempotency-key", &key)
                .json(&body)
                .send()
                .await
                .ok()?;
            if response.status() != 202 {
                return None;
            }
            let answer: Value = response.json().await.ok()?;
            Some((
                answer["order_id"].as_str()?.to_owned(),
                answer["token"].as_str()?.to_owned(),
            ))
        },
    )
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::var("BENCH_WEB_REQUESTS")
        .ok()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(500);
    let stack = Stack::start(Vec::new()).await?;
    let slug = "bench-web";
    let products: Vec<(String, i64)> = (0..20)
        .map(|i| (format!("Café especial {i:02}"), 1990 + i * 100))
        .collect();
    let named: Vec<(&str, i64)> = products.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let (_key, ids) = stack.store(slug, &named).await?;
    let (order, token) = place_order(&stack, slug, &ids[0]).await?;

    let mut uncached_env = stack.storefront_env();
    uncached_env.push(("FRESH_FOR_MS", "0".to_owned()));
    let uncached = start("storefront", uncached_env).await?;
    let cached = start("storefront", stack.storefront_env()).await?;
    for process in [&uncached, &cached] {
        wait_ready(process).await?;
    }

    let host = format!("{slug}.summit.localhost");
    let catalog = stack.catalog.url();
    let resolve = format!("{catalog}/stores/resolve?host={host}");
    let pages = [
        Page {
            name: "home",
            path: "/".into(),
            shows: "Café especial".into(),
            direct: vec![
                resolve.clone(),
                format!("{catalog}/stores/{slug}/products?limit=12"),
            ],
        },
        Page {
            name: "search",
            path: "/search?q=cafe".into(),
            shows: "Café especial".into(),
            direct: vec![
                resolve.clone(),
                format!("{catalog}/stores/{slug}/products?limit=10&q=cafe"),
            ],
        },
        Page {
            name: "product",
            path: format!("/products/{}", ids[0]),
            shows: "Café especial 00".into(),
            direct: vec![
                resolve.clone(),
                format!("{catalog}/stores/{slug}/products/{}", ids[0]),
            ],
        },
        Page {
            name: "status",
            path: format!("/orders/{order}?token={token}"),
            shows: "order-status".into(),
            direct: vec![
                resolve.clone(),
                format!(
                    "{}/orders/{order}?token={token}&lang=pt-BR",
                    stack.checkout.url()
                ),
            ],
        },
    ];

    // One client per path measured, each keeping its connections alive, as a browser would.
    let (to_uncached, to_cached, to_services) = (
        reqwest::Client::new(),
        reqwest::Client::new(),
        reqwest::Client::new(),
    );
    let shop_host = |process: &testkit::ServiceProcess| format!("{host}:{}", process.addr.port());
    for page in &pages {
        for _ in 0..WARMUP {
            through_edge(&to_uncached, &uncached.url(), &shop_host(&uncached), page).await?;
            through_edge(&to_cached, &cached.url(), &shop_host(&cached), page).await?;
            direct(&to_services, page).await?;
        }
        let (mut edge, mut cached_edge, mut straight) = (
            Vec::with_capacity(requests),
            Vec::with_capacity(requests),
            Vec::with_capacity(requests),
        );
        for _ in 0..requests {
            edge.push(
                through_edge(&to_uncached, &uncached.url(), &shop_host(&uncached), page).await?,
            );
            straight.push(direct(&to_services, page).await?);
            cached_edge
                .push(through_edge(&to_cached, &cached.url(), &shop_host(&cached), page).await?);
        }
        let (p50, p99) = (quantile_ms(&mut edge, 0.5), quantile_ms(&mut edge, 0.99));
        let (direct_p50, direct_p99) = (
            quantile_ms(&mut straight, 0.5),
            quantile_ms(&mut straight, 0.99),
        );
        println!(
            "web page={} requests={requests} p50_ms={p50:.3} p99_ms={p99:.3} \
             direct_p50_ms={direct_p50:.3} direct_p99_ms={direct_p99:.3} \
             overhead_vs_direct_ms={:.3} cached_p50_ms={:.3} cached_p99_ms={:.3}",
            page.name,
            p50 - direct_p50,
            quantile_ms(&mut cached_edge, 0.5),
            quantile_ms(&mut cached_edge, 0.99),
        );
    }

    for mut process in [uncached, cached] {
        let _ = process.kill().await;
    }
    stack.stop().await
}
