//! The gateway's rate limit shared by three real `payments` processes (the binary, started as
//! OS processes on port 0, one database, the test's own vhost, the test's own Redis key
//! namespace, `GATEWAY_RATE_LIMIT_PER_S` = 20), pushed with more charge commands than the limit
//! lets through at once; the simulator's record of when each charge call arrived is what is
//! measured. Then a Redis of the test's own is killed (each process falls back to its local
//! share, keeps charging, and its readiness says `degraded` with the reason) and started again
//! (the shared limit resumes, readiness is `ready` again). One limit on its own against a proxy
//! that goes down checks the local share's spacing exactly.

use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, BusConfig, Outgoing};
use contracts::Contract;
use contracts::payments::Charge;
use payments::ratelimit::{GatewayLimit, LimitConfig};
use serde_json::Value;
use testkit::{RedisServer, ServiceProcess, Vhost};
use tokio::time::Instant;

use crate::helpers::{PAID, World, eventually, shared_redis_url, start_payments};

/// The limit the three processes share, calls per second.
const LIMIT: u32 = 20;
/// How many processes share it (`PAYMENTS_REPLICAS`): each one's share without Redis.
const REPLICAS: u32 = 3;
/// The tolerance on the busiest 1 s window, as a fraction of the limit. The limit admits a
/// call in Redis (GCRA on Redis's clock); the simulator times its arrival after the process's
/// policy stack and an HTTP round trip, which on a loaded 2-core machine vary by tens of ms
/// from call to call. A window can catch calls admitted up to that jitter before it opened,
/// so it may hold a few more than the limit: 25 % covers ±60 ms of jitter at 20/s. Anything
/// that does not share the limit breaks it by far (three processes on their own: 60/s).
const TOLERANCE: f64 = 0.25;
/// GCRA's burst (calls admitted at once), per limit.
const BURST: usize = 1;

/// The most calls a 1 s window may hold for `limit_per_s` shared by limits with `bursts`
/// bursts between them.
fn allowed(limit_per_s: u32, bursts: usize) -> usize {
    (f64::from(limit_per_s) * (1.0 + TOLERANCE)).floor() as usize + bursts
}

/// The most arrivals in any window `[t, t + 1 s)` starting at an arrival.
fn busiest_window(arrivals_ms: &[f64]) -> usize {
    let mut sorted = arrivals_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut end = 0;
    let mut busiest = 0;
    for (start, from) in sorted.iter().enumerate() {
        while end < sorted.len() && sorted[end] < from + 1000.0 {
            end += 1;
        }
        busiest = busiest.max(end - start);
    }
    busiest
}

/// Three payments processes over one world, and the test's bus to send them commands.
struct Fleet {
    world: World,
    bus: Bus,
    processes: Vec<ServiceProcess>,
    http: reqwest::Client,
    /// Keep the vhost (deleted on drop) until the processes are gone.
    _vhost: Vhost,
}

impl Fleet {
    async fn start(world: World, redis_url: &str, prefix: &str) -> anyhow::Result<Self> {
        let vhost = Vhost::create().await?;
        let bus = Bus::connect(
            &BusConfig::new(vhost.url(), format!("payments-it-{}", vhost.name())),
            payments::topology(),
        )
        .await?;
        let mut env = world.process_env(&vhost.url(), redis_url, prefix)?;
        env.push(("GATEWAY_RATE_LIMIT_PER_S", LIMIT.to_string()));
        env.push(("PAYMENTS_REPLICAS", REPLICAS.to_string()));
        let mut processes = Vec::new();
        for _ in 0..REPLICAS {
            processes.push(start_payments(&env).await?);
        }
        Ok(Self {
            world,
            bus,
            processes,
            http: reqwest::Client::new(),
            _vhost: vhost,
        })
    }

    /// Publishes `n` charge commands (new orders, the approved card) at once; their orders.
    async fn push(&self, n: usize) -> anyhow::Result<Vec<uuid::Uuid>> {
        let mut commands = Vec::with_capacity(n);
        for _ in 0..n {
            commands.push(self.world.charge(PAID).await?);
        }
        let publisher = self.bus.publisher();
        for (raw, _) in &commands {
            publisher
                .publish(&Outgoing::envelope(raw, Charge::DESTINATION))
                .await?;
        }
        Ok(commands.into_iter().map(|(_, c)| c.order_id).collect())
    }

    async fn completed(&self, orders: &[uuid::Uuid]) -> anyhow::Result<usize> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payments WHERE order_id = ANY($1) AND status = 'completed'",
        )
        .bind(orders)
        .fetch_one(&self.world.pool)
        .await?;
        Ok(n as usize)
    }

    async fn all_completed(&self, orders: &[uuid::Uuid]) -> anyhow::Result<()> {
        eventually(
            "every charge to complete",
            Duration::from_secs(90),
            || async { Ok(self.completed(orders).await? == orders.len()) },
        )
        .await
    }

    /// Each process's `/health/ready` body.
    async fn readiness(&self) -> anyhow::Result<Vec<Value>> {
        let mut bodies = Vec::new();
        for process in &self.processes {
            let body: Value = self
                .http
                .get(format!("{}/health/ready", process.url()))
                .send()
                .await?
                .json()
                .await?;
            bodies.push(body);
        }
        Ok(bodies)
    }

    /// Each process's `/metrics` text.
    async fn metrics(&self) -> anyhow::Result<Vec<String>> {
        let mut texts = Vec::new();
        for process in &self.processes {
            let url = format!("{}/metrics", process.url());
            texts.push(self.http.get(url).send().await?.text().await?);
        }
        Ok(texts)
    }

    /// When each charge call arrived at the simulator, from the `from`-th on.
    async fn charge_calls(&self, from: usize) -> anyhow::Result<Vec<f64>> {
        let calls = self.world.sim.calls("POST", "/core/v5/orders").await?;
        Ok(calls.get(from..).unwrap_or_default().to_vec())
    }

    async fn close(mut self) -> anyhow::Result<()> {
        for process in &mut self.processes {
            process.kill().await?;
        }
        self.bus.close().await;
        Ok(())
    }
}

/// Whether the shared limit's key exists in `redis_url` now (it lives a second past its last
/// admission).
async fn key_exists(redis_url: &str, key: &str) -> anyhow::Result<bool> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let exists: bool = redis::cmd("EXISTS").arg(key).query_async(&mut conn).await?;
    Ok(exists)
}

#[sqlx::test(migrations = false)]
async fn three_processes_stay_together_under_the_shared_limit(
    pool: sqlx::PgPool,
) -> anyhow::Result<()> {
    let redis = shared_redis_url();
    let prefix = format!("it:{}", uuid::Uuid::now_v7());
    let key = format!("{prefix}:pagarme:platform");
    let fleet = Fleet::start(World::new(pool).await?, &redis, &prefix).await?;

    // 100 charges at once: ~5 s at the limit; 96 handlers in the three processes could take
    // them all in well under a second, so they wait on the limit.
    let orders = fleet.push(100).await?;
    eventually(
        "the limit's key in the test's namespace",
        Duration::from_secs(30),
        || async { key_exists(&redis, &key).await },
    )
    .await?;
    fleet.all_completed(&orders).await?;

    let calls = fleet.charge_calls(0).await?;
    assert_eq!(calls.len(), orders.len(), "one charge call per order");
    let busiest = busiest_window(&calls);
    eprintln!(
        "shared: busiest 1 s window {busiest} (allowed {}), {} calls over {:.0} ms",
        allowed(LIMIT, BURST),
        calls.len(),
        calls.last().unwrap_or(&0.0) - calls.first().unwrap_or(&0.0)
    );
    assert!(
        busiest <= allowed(LIMIT, BURST),
        "busiest 1 s window: {busiest} charge calls; the limit is {LIMIT}/s"
    );
    for body in fleet.readiness().await? {
        assert_eq!(body["status"], "ready", "{body}");
        assert_eq!(body["checks"]["gateway.ratelimit"], true, "{body}");
    }
    // 100 calls at 20/s cannot all pass at once: some process waited, and said so.
    let texts = fleet.metrics().await?;
    assert!(
        texts
            .iter()
            .any(|t| t.contains("summit_ratelimit_waits_total{source=\"shared\"}")),
        "no process counted a wait on the shared limit"
    );
    fleet.close().await
}

#[sqlx::test(migrations = false)]
async fn without_redis_each_process_takes_its_share_and_the_shared_limit_resumes(
    pool: sqlx::PgPool,
) -> anyhow::Result<()> {
    let mut redis = RedisServer::start().await?;
    let prefix = format!("it:{}", uuid::Uuid::now_v7());
    let key = format!("{prefix}:pagarme:platform");
    let fleet = Fleet::start(World::new(pool).await?, &redis.url(), &prefix).await?;

    // Shared: a first round through Redis.
    let first = fleet.push(20).await?;
    fleet.all_completed(&first).await?;
    for body in fleet.readiness().await? {
        assert_eq!(body["status"], "ready", "{body}");
    }

    // Redis dies: every process keeps charging at its own share (20/3 → 6/s each).
    redis.kill().await?;
    let before = fleet.charge_calls(0).await?.len();
    let offline = fleet.push(60).await?;
    fleet.all_completed(&offline).await?;
    let calls = fleet.charge_calls(before).await?;
    assert_eq!(calls.len(), offline.len());
    let share = LIMIT / REPLICAS;
    let busiest = busiest_window(&calls);
    eprintln!("without Redis: busiest 1 s window {busiest}");
    assert!(
        busiest <= allowed(share * REPLICAS, BURST * REPLICAS as usize),
        "busiest 1 s window without Redis: {busiest}; three shares of {share}/s"
    );
    for body in fleet.readiness().await? {
        assert_eq!(body["status"], "degraded", "{body}");
        assert_eq!(body["checks"]["gateway.ratelimit"], false, "{body}");
        let reason = body["reasons"]["gateway.ratelimit"].as_str().unwrap_or("");
        assert!(reason.starts_with("redis unavailable"), "{body}");
    }

    // Redis returns (empty): readiness clears without waiting for traffic, and the next
    // charges are limited through Redis again.
    redis.restart().await?;
    eventually(
        "every process ready again",
        Duration::from_secs(30),
        || async {
            Ok(fleet
                .readiness()
                .await?
                .iter()
                .all(|body| body["status"] == "ready"))
        },
    )
    .await?;
    let before = fleet.charge_calls(0).await?.len();
    let again = fleet.push(40).await?;
    eventually(
        "the shared limit's key back in Redis",
        Duration::from_secs(30),
        || async { key_exists(&redis.url(), &key).await },
    )
    .await?;
    fleet.all_completed(&again).await?;
    let calls = fleet.charge_calls(before).await?;
    let busiest = busiest_window(&calls);
    eprintln!("Redis back: busiest 1 s window {busiest}");
    assert!(
        busiest <= allowed(LIMIT, BURST),
        "busiest 1 s window with Redis back: {busiest}"
    );
    for body in fleet.readiness().await? {
        assert_eq!(body["status"], "ready", "{body}");
    }
    fleet.close().await
}

/// One limit behind a proxy of the test's own: with Redis away its local share (30/s over
/// three replicas: one call per 100 ms) spaces the calls exactly, it says why, and it clears
/// once Redis answers again.
#[tokio::test]
async fn without_redis_one_limit_spaces_calls_by_its_share() -> anyhow::Result<()> {
    let target = shared_redis_url()
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()?;
    let proxy = testkit::TcpProxy::start(target).await?;
    let key = format!("it:ratelimit:{}", uuid::Uuid::now_v7());
    let limit = GatewayLimit::new(
        &format!("redis://127.0.0.1:{}", proxy.port()),
        LimitConfig {
            key,
            rate_per_s: 30,
            burst: 1,
            replicas: 3,
        },
    )?;
    limit.acquire().await;
    assert_eq!(limit.degraded(), None, "shared limit in force");

    proxy.down();
    let start = Instant::now();
    for _ in 0..4 {
        limit.acquire().await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "the local share spaces calls 100 ms apart: {:?}",
        start.elapsed()
    );
    let reason = limit.degraded().unwrap_or_default();
    assert!(reason.starts_with("redis unavailable"), "{reason}");
    assert!(limit.recheck().await.is_some(), "still away");

    proxy.up();
    let limit = Arc::new(limit);
    eventually("the shared limit back", Duration::from_secs(10), || {
        let limit = limit.clone();
        async move { Ok(limit.recheck().await.is_none()) }
    })
    .await?;
    Ok(())
}

#[test]
fn the_busiest_window_counts_arrivals_in_any_second() {
    assert_eq!(busiest_window(&[]), 0);
    assert_eq!(busiest_window(&[0.0, 999.0, 1000.0, 1500.0]), 3);
    assert_eq!(busiest_window(&[0.0, 500.0, 999.9, 1999.0]), 3);
    assert_eq!(allowed(20, 1), 26);
}
