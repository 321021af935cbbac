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
//! - ratelimit: three real `payments` processes (the release binary, started as OS processes)
//!   sharing one limit in Redis, 500 charge commands queued at once so they push as hard as
//!   they can; measured where the calls land, at the simulator: `observed_per_s` is the charge
//!   calls over their span, `worst_window_ratio` the busiest 1 s window over the limit. About
//!   10 s with the processes' start.
//!
//! A database, a simulator and a Redis key of the bench's own. Figures only, never judged.

use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, BusConfig, Outgoing};
use contracts::Contract;
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
/// Queued at once for the three processes: five seconds' worth at `LIMIT_PER_S`.
const RATELIMIT_CHARGES: usize = 500;

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A charge command for a new order of `store`, its card tokenized at the simulator `base`.
async fn new_command(
    http: &reqwest::Client,
    base: &str,
    store: uuid::Uuid,
) -> anyhow::Result<Charge> {
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
    Ok(Charge {
        order_id: uuid::Uuid::now_v7(),
        store_id: store,
        amount_minor: 9_990,
        currency: "BRL".into(),
        customer: Customer {
            email: "bench@example.com".into(),
            name: Some("Bench".into()),
        },
        payment_token: token["id"].as_str().unwrap_or_default().to_owned(),
    })
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
        let command = new_command(&http, &base, store).await?;
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

/// The most arrivals in any window `[t, t + 1 s)` starting at an arrival.
fn busiest_window(arrivals_ms: &[f64]) -> usize {
    let mut end = 0;
    let mut busiest = 0;
    for (start, from) in arrivals_ms.iter().enumerate() {
        while end < arrivals_ms.len() && arrivals_ms[end] < from + 1000.0 {
            end += 1;
        }
        busiest = busiest.max(end - start);
    }
    busiest
}

/// Three real `payments` processes (the release binary, port 0, the bench's database, a vhost
/// and a Redis key namespace of the bench's own) share `LIMIT_PER_S`; `RATELIMIT_CHARGES`
/// commands are queued at once (the three could take them far faster than the limit lets
/// them), so they push as hard as they can; the simulator's arrival times of the charge calls
/// are measured.
async fn ratelimit(admin_base: &str, database: &str) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(Simulator::new().serve(listener));
    let http = reqwest::Client::new();
    let vhost = testkit::Vhost::create().await?;
    let bus = Bus::connect(
        &BusConfig::new(vhost.url(), format!("payments-bench-{}", vhost.name())),
        payments::topology(),
    )
    .await?;
    let prefix = format!("bench:{}", uuid::Uuid::now_v7());
    let env = [
        ("DATABASE_URL", format!("{admin_base}/{database}")),
        ("AMQP_URL", vhost.url()),
        ("PAGARME_BASE_URL", format!("{sim_url}/core/v5")),
        ("PAGARME_SECRET_KEY", "sk_bench".to_owned()),
        ("REDIS_URL", redis_url()),
        ("GATEWAY_RATE_LIMIT_PREFIX", prefix),
        ("GATEWAY_RATE_LIMIT_PER_S", LIMIT_PER_S.to_string()),
        ("PAYMENTS_REPLICAS", "3".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_payments"));
    let mut processes = Vec::new();
    for _ in 0..3 {
        processes.push(testkit::ServiceProcess::start(binary, &env).await?);
    }
    let store = uuid::Uuid::now_v7();
    let mut orders = Vec::with_capacity(RATELIMIT_CHARGES);
    let mut envelopes = Vec::with_capacity(RATELIMIT_CHARGES);
    for _ in 0..RATELIMIT_CHARGES {
        let command = new_command(&http, &format!("{sim_url}/core/v5"), store).await?;
        orders.push(command.order_id);
        envelopes.push(Envelope::new(Some(store), command).into_raw());
    }
    let publisher = bus.publisher();
    for raw in &envelopes {
        publisher
            .publish(&Outgoing::envelope(raw, Charge::DESTINATION))
            .await?;
    }
    let pool = PgPool::connect(&format!("{admin_base}/{database}")).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payments WHERE order_id = ANY($1) AND status = 'completed'",
        )
        .bind(&orders)
        .fetch_one(&pool)
        .await?;
        if done as usize == orders.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    for process in &mut processes {
        process.kill().await?;
    }
    bus.close().await;
    let calls: Value = http
        .get(format!("{sim_url}/_sim/calls"))
        .send()
        .await?
        .json()
        .await?;
    let mut arrivals: Vec<f64> = calls["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["method"] == "POST" && c["path"] == "/core/v5/orders")
        .filter_map(|c| c["at_ms"].as_f64())
        .collect();
    arrivals.sort_by(f64::total_cmp);
    let span_s = match (arrivals.first(), arrivals.last()) {
        (Some(first), Some(last)) if last > first => (last - first) / 1000.0,
        _ => f64::NAN,
    };
    println!(
        "payments what=ratelimit processes=3 limit_per_s={LIMIT_PER_S} observed_per_s={:.1} worst_window_ratio={:.3}",
        arrivals.len().saturating_sub(1) as f64 / span_s,
        busiest_window(&arrivals) as f64 / f64::from(LIMIT_PER_S)
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
        ratelimit(base, &database).await
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
