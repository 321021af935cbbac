//! `make bench-orders`: the whole platform (the release binaries as processes, as the drills
//! start them) takes `BENCH_ORDERS` guest orders (default 600) from `BENCH_CONCURRENCY`
//! shoppers (default 16) paying with the approved card, and follows each to `confirmed`.
//! In the same run, the ceiling: pgbench doing checkout's order+outbox transaction (the
//! same script as `make bench-checkout`) on the same Postgres, in a scratch database.
//!
//! Two logfmt lines, figures only:
//!
//! `orders accepted_per_s=… post_p50_ms=… post_p99_ms=… confirmed_per_s=… placed_to_confirmed_p50_ms=… placed_to_confirmed_p99_ms=… broker_msgs_per_s=… cores=… concurrency=… orders=… gateway_limit_per_s=…`
//! `ceiling pg_order_tps=… clients=… seconds=… ratio_accepted=…`
//!
//! - `accepted_per_s`: orders answered 202 per second of the posting phase; `post_*`: the
//!   latency of those posts.
//! - `confirmed_per_s`: orders confirmed per second from the first post to the last
//!   confirmation; `placed_to_confirmed_*`: from the order's `pending` to its `confirmed`
//!   timeline entry (checkout's clock), through catalog's reservation, payments' charge at the
//!   simulator, and back.
//! - `broker_msgs_per_s`: messages the four services' outbox relays published (their
//!   `summit_outbox_published_total`) per second over the same span.
//! - Cards are tokenized before the clock starts (the browser does it, not Summit). The
//!   gateway's shared rate limit is raised to `GATEWAY_LIMIT_PER_S` so the figure is the
//!   platform's, not the limit's; services log at `warn`.
//! - Every service sits behind the harness's fault proxies (in pass mode) on its links to
//!   Postgres, RabbitMQ, Redis and the gateway: a few tens of µs per round trip.

use std::time::{Duration, Instant};

use anyhow::Context;
use platform_tests::faults::Svc;
use platform_tests::platform::{Options, Platform};
use platform_tests::shop::{Card, Shop};
use sqlx::Connection;
use uuid::Uuid;

const GATEWAY_LIMIT_PER_S: u32 = 1000;
const CEILING_SECONDS: u32 = 10;
const CONFIRM_LIMIT: Duration = Duration::from_secs(300);

fn setting(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

/// Messages the services' outbox relays have published so far.
async fn published(platform: &Platform) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for svc in Svc::ALL {
        let text = reqwest::get(platform.url(svc, "/metrics")?)
            .await?
            .text()
            .await?;
        total += text
            .lines()
            .filter(|l| l.starts_with("summit_outbox_published_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    Ok(total)
}

/// Each order's time from `pending` to `confirmed`, in ms, and when the last was confirmed
/// (seconds after the first `pending`); `None` until every order is final.
async fn outcomes(
    platform: &Platform,
    ids: &[Uuid],
) -> anyhow::Result<Option<(Vec<f64>, f64, usize)>> {
    let mut db = sqlx::PgConnection::connect(&platform.admin_database_url(Svc::Checkout)).await?;
    let finals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE id = ANY($1) AND status IN ('confirmed', 'cancelled')",
    )
    .bind(ids)
    .fetch_one(&mut db)
    .await?;
    if finals < ids.len() as i64 {
        db.close().await?;
        return Ok(None);
    }
    let rows: Vec<(f64,)> = sqlx::query_as(
        "SELECT extract(epoch FROM c.at - p.at)::float8 * 1000
           FROM order_timeline p JOIN order_timeline c ON c.order_id = p.order_id
          WHERE p.order_id = ANY($1) AND p.status = 'pending' AND c.status = 'confirmed'",
    )
    .bind(ids)
    .fetch_all(&mut db)
    .await?;
    let span: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM max(at) FILTER (WHERE status = 'confirmed')
                                 - min(at) FILTER (WHERE status = 'pending'))::float8
           FROM order_timeline WHERE order_id = ANY($1)",
    )
    .bind(ids)
    .fetch_one(&mut db)
    .await?;
    db.close().await?;
    let mut ms: Vec<f64> = rows.into_iter().map(|(v,)| v).collect();
    ms.sort_by(f64::total_cmp);
    let confirmed = ms.len();
    Ok(Some((ms, span, confirmed)))
}

/// pgbench doing checkout's order+outbox transaction in a scratch database on the platform's
/// Postgres (never the running checkout's: its relay would publish the rows).
async fn ceiling(platform: &Platform, clients: usize) -> anyhow::Result<f64> {
    let admin_url = platform.admin_database_url(Svc::Checkout);
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b)
        .to_owned();
    let database = format!("bench_ceiling_{}", Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await?;
    let url = format!("{base}/{database}");
    let result = async {
        let pool = sqlx::PgPool::connect(&url).await?;
        checkout::migrator().run(&pool).await?;
        pool.close().await;
        let store = format!("'{}'", Uuid::now_v7());
        let script = include_str!("../../../services/checkout/benches/place_order.pgbench.sql");
        tokio::task::spawn_blocking(move || {
            testkit::pgbench::tps(&url, script, clients, CEILING_SECONDS, &[("store", &store)])
        })
        .await?
    }
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let orders = setting("BENCH_ORDERS", 600)?;
    let concurrency = setting("BENCH_CONCURRENCY", 16)?;
    let mut env = Vec::new();
    for svc in Svc::ALL {
        env.push((svc, "RUST_LOG", "warn".to_owned()));
        env.push((svc, "DB_MAX_CONNECTIONS", "10".to_owned()));
    }
    env.push((
        Svc::Payments,
        "GATEWAY_RATE_LIMIT_PER_S",
        GATEWAY_LIMIT_PER_S.to_string(),
    ));
    let platform = Platform::start(Options {
        env,
        ..Options::default()
    })
    .await?;
    let products: Vec<(String, i64, i64)> = (0..20)
        .map(|i| (format!("Café {i}"), 990 + i * 10, 1_000_000))
        .collect();
    let products: Vec<(&str, i64, i64)> = products
        .iter()
        .map(|(n, p, s)| (n.as_str(), *p, *s))
        .collect();
    let shop = Shop::open(&platform, "Bench", &products).await?;

    // Cards tokenized ahead, concurrently: the browser's work, not the platform's.
    let tokens = futures_util::future::try_join_all((0..orders).map(|_| {
        let platform = &platform;
        async move { Shop::tokenize(platform, Card::Approved).await }
    }))
    .await?;

    let published_before = published(&platform).await?;
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = (0..concurrency).map(|_| async {
        let mut placed = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(token) = tokens.get(i) else {
                return anyhow::Ok(placed);
            };
            let product = &shop.products[i % shop.products.len()];
            let sent = Instant::now();
            let order = shop
                .place_tokenized(
                    &platform,
                    &[(product.id, 1)],
                    Card::Approved,
                    token,
                    Duration::from_secs(60),
                )
                .await?;
            placed.push((order.order_id, sent.elapsed().as_secs_f64() * 1000.0));
        }
    });
    let placed: Vec<(Uuid, f64)> = futures_util::future::try_join_all(workers)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let posting = started.elapsed().as_secs_f64();
    let ids: Vec<Uuid> = placed.iter().map(|(id, _)| *id).collect();
    let (to_confirmed, span, confirmed) =
        platform_tests::eventually("every order final", CONFIRM_LIMIT, || {
            outcomes(&platform, &ids)
        })
        .await?;
    let relayed = published(&platform).await? - published_before;
    let mut posts: Vec<f64> = placed.iter().map(|(_, ms)| *ms).collect();
    posts.sort_by(f64::total_cmp);
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let accepted_per_s = placed.len() as f64 / posting;
    println!(
        "orders accepted_per_s={accepted_per_s:.1} post_p50_ms={:.2} post_p99_ms={:.2} confirmed_per_s={:.1} placed_to_confirmed_p50_ms={:.1} placed_to_confirmed_p99_ms={:.1} broker_msgs_per_s={:.1} cores={cores} concurrency={concurrency} orders={} confirmed={confirmed} gateway_limit_per_s={GATEWAY_LIMIT_PER_S}",
        pct(&posts, 0.50),
        pct(&posts, 0.99),
        confirmed as f64 / span,
        pct(&to_confirmed, 0.50),
        pct(&to_confirmed, 0.99),
        relayed / span,
        placed.len(),
    );
    let tps = ceiling(&platform, concurrency).await?;
    println!(
        "ceiling pg_order_tps={tps:.0} clients={concurrency} seconds={CEILING_SECONDS} ratio_accepted={:.3}",
        accepted_per_s / tps
    );
    platform.finish().await
}
