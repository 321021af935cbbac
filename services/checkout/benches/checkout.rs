//! `make bench-checkout`: guest orders placed over HTTP against a running checkout (its router
//! on a real socket, a read model of 100 products loaded through catalog's events, row-level
//! security in force), and in the same run the ceiling of the same database doing the same
//! inserts with pgbench. One logfmt line per figure:
//!
//! `checkout what=place_order orders=N concurrency=C accepted_per_s=… p50_ms=… p99_ms=…`
//! `checkout what=ceiling_pg_order_outbox_tps=… clients=C seconds=S`
//! `checkout what=place_order_ratio accepted_per_s=… ceiling_tps=… ratio=…`
//!
//! The ceiling script is one transaction per order, statement for statement what
//! `orders::place` writes: the tenant setting, the idempotency row (claimed, then its answer
//! recorded), the order, two lines, the timeline entry, OrderPlaced and `catalog.reserve-stock`
//! in the outbox. It leaves out what the service adds on top — HTTP, JSON, validation, the
//! read-model lookup, hashing — which is what the ratio shows. Figures only, never judged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contracts::catalog::{ProductUpserted, StoreCreated};
use contracts::{Contract, Envelope, Message};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::time::Instant;
use uuid::Uuid;

const ORDERS: usize = 2000;
const CONCURRENCY: usize = 16;
const PRODUCTS: usize = 100;
const CEILING_SECONDS: u32 = 10;

/// The transaction, for pgbench (`:store` is defined on its command line).
const CEILING_SCRIPT: &str = include_str!("place_order.pgbench.sql");

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn feed<P: Contract>(pool: &PgPool, store: Uuid, payload: P) -> anyhow::Result<()> {
    let raw = Envelope::new(Some(store), payload).into_raw();
    let message = Message::decode(&raw)?;
    checkout::read_model::apply(pool, &raw, &message).await?;
    Ok(())
}

/// The app's pool: a plain role, so row-level security is in force as in production.
async fn app_pool(pool: &PgPool) -> anyhow::Result<PgPool> {
    pool.execute(
        "DO $$ BEGIN
             CREATE ROLE checkout_bench_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$;
         GRANT USAGE ON SCHEMA public TO checkout_bench_app;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO checkout_bench_app;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO checkout_bench_app;",
    )
    .await?;
    let options = (*pool.connect_options()).clone();
    Ok(PgPoolOptions::new()
        .max_connections(u32::try_from(CONCURRENCY)?)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE checkout_bench_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

async fn place_orders(pool: &PgPool) -> anyhow::Result<f64> {
    let app = app_pool(pool).await?;
    let store = Uuid::now_v7();
    feed(
        &app,
        store,
        StoreCreated {
            store_id: store,
            slug: "bench".into(),
            name: "Bench".into(),
            contact_email: "bench@example.com".into(),
            temporary_domain: "bench.summit.localhost".into(),
            admin_key_hash: service_kit::admin_key::hash("bench"),
            language: None,
            version: 1,
        },
    )
    .await?;
    let mut products = Vec::with_capacity(PRODUCTS);
    for i in 0..PRODUCTS {
        let id = Uuid::now_v7();
        feed(
            &app,
            store,
            ProductUpserted {
                product_id: id,
                store_id: store,
                sku: format!("SKU-{i}"),
                name: format!("Produto {i}"),
                description: String::new(),
                price_minor: 990 + i as i64,
                currency: "BRL".into(),
                active: true,
                version: 1,
            },
        )
        .await?;
        products.push(id);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/stores/bench/orders", listener.local_addr()?);
    let router = checkout::router(app.clone(), checkout::CheckoutConfig::default());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let products = Arc::new(products);
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (http, url, next, products) =
                (http.clone(), url.clone(), next.clone(), products.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= ORDERS {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let body = json!({
                        "lines": [
                            {"product_id": products[n % PRODUCTS], "quantity": 2},
                            {"product_id": products[(n * 7 + 1) % PRODUCTS], "quantity": 1},
                        ],
                        "customer": {"name": "Ana Souza", "email": "ana@example.com"},
                        "shipping_address": {"line1": "Rua A, 1", "city": "São Paulo", "state": "SP",
                                             "postal_code": "01000-000", "country": "BR"},
                        "payment": {"card_token": "tok_test_4000000000000010"}
                    });
                    let sent = Instant::now();
                    let response = http
                        .post(&url)
                        .header("idempotency-key", format!("bench-{n}"))
                        .json(&body)
                        .send()
                        .await?;
                    anyhow::ensure!(
                        response.status() == reqwest::StatusCode::ACCEPTED,
                        "order {n}: {}",
                        response.text().await?
                    );
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(ORDERS);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let per_s = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "checkout what=place_order orders={} concurrency={CONCURRENCY} accepted_per_s={per_s:.0} p50_ms={:.2} p99_ms={:.2}",
        latencies.len(),
        pct(&latencies, 0.50),
        pct(&latencies, 0.99),
    );
    app.close().await;
    Ok(per_s)
}

/// pgbench doing the same transaction as `orders::place`, on the same database.
fn ceiling(database_url: &str, store: Uuid) -> anyhow::Result<f64> {
    let tps = testkit::pgbench::tps(
        database_url,
        CEILING_SCRIPT,
        CONCURRENCY,
        CEILING_SECONDS,
        &[("store", &format!("'{store}'"))],
    )?;
    println!(
        "checkout what=ceiling_pg_order_outbox_tps={tps:.0} clients={CONCURRENCY} seconds={CEILING_SECONDS}"
    );
    Ok(tps)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--test") {
        return Ok(()); // built by `cargo test --all-targets`, measured only by `make bench-checkout`
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://summit:summit@127.0.0.1:5432/postgres".into());
    let database = format!("bench_checkout_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let url = format!("{base}/{database}");
    let pool = PgPool::connect(&url).await?;
    checkout::migrator().run(&pool).await?;
    let result = async {
        let accepted = place_orders(&pool).await?;
        let tps = ceiling(&url, Uuid::now_v7())?;
        println!(
            "checkout what=place_order_ratio accepted_per_s={accepted:.0} ceiling_tps={tps:.0} ratio={:.2}",
            accepted / tps
        );
        Ok::<_, anyhow::Error>(())
    }
    .await;
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}
