//! `make bench-payments`: charges through the gateway simulator (no faults, a set shared
//! limit) and the shared rate limit on its own, on the local Postgres and Redis, one logfmt
//! line per figure:
//!
//! `payments what=charge charges=N concurrency=C per_s=… p50_ms=… p99_ms=…`
//! `payments what=ratelimit processes=3 limit_per_s=L observed_per_s=… worst_window_ratio=…`
//!
//! - charge: `payments.charge` handled end to end (payment row, gateway call over HTTP through
//!   the policy stack and the Redis limit, the move with its history and event); latency = one
//!   command.
//! - ratelimit: three limits with their own Redis connections (the three processes' share of
//!   one key), four callers each, pushing as hard as they can; `worst_window_ratio` is the
//!   busiest 1 s window over the limit.
//!
//! A database, a simulator and a Redis key of the bench's own. Figures only, never judged.

use std::sync::Arc;
use std::time::Duration;

use contracts::Envelope;
use contracts::payments::{Charge, Customer};
use payments::charges::Payments;
use payments::gateway::PagarMe;
use payments::ratelimit::{GatewayLimit, LimitConfig};
use payments::sim::Simulator;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::time::Instant;

const CHARGES: usize = 400;
const CONCURRENCY: usize = 16;
const CHARGE_LIMIT_PER_S: u32 = 1000;
const LIMIT_PER_S: u32 = 100;
const PUSH_FOR: Duration = Duration::from_secs(3);

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn charges(pool: PgPool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/core/v5", listener.local_addr()?);
    tokio::spawn(Simulator::new().serve(listener));
    let http = reqwest::Client::new();
    let gateway = PagarMe::new(base.clone(), SecretString::from("sk_bench".to_owned()))?;
    let limit = Arc::new(GatewayLimit::new(
        &redis_url(),
        LimitConfig {
            key: format!("bench:payments:{}", uuid::Uuid::now_v7()),
            rate_per_s: CHARGE_LIMIT_PER_S,
            burst: 1,
            replicas: 1,
        },
    )?);
    let service = Arc::new(
        Payments::new(pool, gateway, &payments::PaymentsConfig::default()).with_limit(limit),
    );
    let store = uuid::Uuid::now_v7();
    let mut commands = Vec::with_capacity(CHARGES);
    for _ in 0..CHARGES {
        let token: Value = http
            .post(format!("{base}/tokens?appId=pk_bench"))
            .json(
                &json!({"type": "card", "card": {"number": "4000000000000010",
                "holder_name": "Bench", "exp_month": 12, "exp_year": 2030, "cvv": "123"}}),
            )
            .send()
            .await?
            .json()
            .await?;
        let command = Charge {
            order_id: uuid::Uuid::now_v7(),
            store_id: store,
            amount_minor: 9_990,
            currency: "BRL".into(),
            customer: Customer {
                email: "bench@example.com".into(),
                name: Some("Bench".into()),
            },
            payment_token: token["id"].as_str().unwrap_or_default().to_owned(),
        };
        commands.push(command);
    }
    let queue = Arc::new(tokio::sync::Mutex::new(commands));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (queue, service) = (queue.clone(), service.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let Some(command) = queue.lock().await.pop() else {
                    break;
                };
                let raw = Envelope::new(Some(command.store_id), command.clone()).into_raw();
                let began = Instant::now();
                if let Err(e) = service.charge(Some(&raw), &command).await {
                    eprintln!("charge failed: {e}");
                }
                latencies.push(began.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await?);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    println!(
        "payments what=charge charges={CHARGES} concurrency={CONCURRENCY} per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
        CHARGES as f64 / elapsed.as_secs_f64(),
        pct(&latencies, 0.50),
        pct(&latencies, 0.99)
    );
    Ok(())
}

async fn ratelimit() -> anyhow::Result<()> {
    let key = format!("bench:ratelimit:{}", uuid::Uuid::now_v7());
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let limit = Arc::new(GatewayLimit::new(
            &redis_url(),
            LimitConfig {
                key: key.clone(),
                rate_per_s: LIMIT_PER_S,
                burst: 1,
                replicas: 3,
            },
        )?);
        for _ in 0..4 {
            let limit = limit.clone();
            workers.push(tokio::spawn(async move {
                let mut admitted = Vec::new();
                while start.elapsed() < PUSH_FOR {
                    limit.acquire().await;
                    admitted.push(start.elapsed());
                }
                admitted
            }));
        }
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await?);
    }
    all.retain(|at| *at < PUSH_FOR);
    all.sort();
    let window = Duration::from_secs(1);
    let worst = all
        .iter()
        .map(|from| {
            all.iter()
                .filter(|at| **at >= *from && **at < *from + window)
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "payments what=ratelimit processes=3 limit_per_s={LIMIT_PER_S} observed_per_s={:.1} worst_window_ratio={:.3}",
        all.len() as f64 / PUSH_FOR.as_secs_f64(),
        worst as f64 / f64::from(LIMIT_PER_S)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--test") {
        return Ok(()); // built by `cargo test --all-targets`, measured only by `make bench-payments`
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://summit:summit@127.0.0.1:5432/postgres".into());
    let database = format!("bench_payments_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let pool = PgPool::connect(&format!("{base}/{database}")).await?;
    payments::migrator().run(&pool).await?;
    let result = async {
        charges(pool.clone()).await?;
        ratelimit().await
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
