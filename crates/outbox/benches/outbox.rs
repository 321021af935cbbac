//! `make bench-outbox`: what the outbox crate adds to the bus, on the local broker and
//! database, one logfmt line per figure:
//!
//! `outbox what=<consume_inbox|relay> messages=N per_s=… p50_ms=… p99_ms=…`
//!
//! - consume_inbox: consume + ack through the consumer runtime, the handler recording its inbox
//!   row in Postgres (one transaction per message); latency = handler time.
//! - relay: outbox rows committed → leased, confirmed-published and marked by `outbox::Relay`;
//!   latency = batch time.
//!
//! All 1 KiB persistent messages into a quorum queue, in a vhost and a database of the bench's
//! own. Figures are printed, never judged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bus::{
    Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing, QueueSpec, Topology,
};
use contracts::catalog::StockReleased;
use contracts::{Contract, Envelope};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

const QUEUE: &str = "bench.catalog-events";
const COUNT: usize = 10_000;
/// Messages per pipelined publish while filling the queue.
const IN_FLIGHT: usize = 100;

fn line(what: &str, messages: usize, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "outbox what={what} messages={messages} per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
        messages as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
}

/// A 1 KiB envelope (the payload padded through an unknown field, which consumers ignore).
fn message() -> Outgoing {
    let mut raw = Envelope::new(
        None,
        StockReleased {
            order_id: uuid::Uuid::now_v7(),
            store_id: uuid::Uuid::now_v7(),
        },
    )
    .into_raw();
    let size = raw.to_vec().len();
    raw.payload["padding"] =
        serde_json::Value::from("x".repeat(1024usize.saturating_sub(size + 14)));
    Outgoing::envelope(&raw, StockReleased::DESTINATION)
}

struct InboxHandler {
    pool: PgPool,
    done: AtomicUsize,
    latencies: Mutex<Vec<Duration>>,
    all_done: CancellationToken,
    target: usize,
}

impl Handler for InboxHandler {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let start = Instant::now();
        let result = async {
            let mut tx = self.pool.begin().await?;
            outbox::inbox::record(&mut tx, incoming.envelope.id, "bench").await?;
            tx.commit().await
        }
        .await;
        if let Err(error) = result {
            return outbox::classify::outcome_of(&error);
        }
        self.latencies.lock().await.push(start.elapsed());
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.all_done.cancel();
        }
        Outcome::Done
    }
}

async fn consume_inbox(bus: Arc<Bus>, pool: PgPool, messages: &[Outgoing]) -> anyhow::Result<()> {
    for window in messages.chunks(IN_FLIGHT) {
        for result in bus.publisher().publish_all(window).await {
            result?;
        }
    }
    let handler = Arc::new(InboxHandler {
        pool,
        done: AtomicUsize::new(0),
        latencies: Mutex::new(Vec::new()),
        all_done: CancellationToken::new(),
        target: messages.len(),
    });
    let stop = handler.all_done.clone();
    let config = ConsumerConfig {
        prefetch: 64,
        ..ConsumerConfig::default()
    };
    let start = Instant::now();
    let consuming = {
        let bus = bus.clone();
        let handler = handler.clone();
        let retries: Arc<dyn bus::RetryQueue> =
            Arc::new(outbox::Retries::new(handler.pool.clone()));
        tokio::spawn(async move { bus.consume(QUEUE, handler, retries, config, stop).await })
    };
    consuming.await??;
    let elapsed = start.elapsed();
    let latencies = std::mem::take(&mut *handler.latencies.lock().await);
    line("consume_inbox", messages.len(), elapsed, latencies);
    Ok(())
}

async fn relay(bus: &Bus, pool: PgPool, count: usize) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for _ in 0..count {
        outbox::enqueue(
            &mut tx,
            Envelope::new(
                None,
                StockReleased {
                    order_id: uuid::Uuid::now_v7(),
                    store_id: uuid::Uuid::now_v7(),
                },
            ),
        )
        .await?;
    }
    tx.commit().await?;
    let relay = outbox::Relay::new(
        pool,
        bus.publisher().clone(),
        outbox::RelayConfig::default(),
    );
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut sent = 0;
    while sent < count {
        let batch = Instant::now();
        let n = relay.publish_batch().await?;
        anyhow::ensure!(n > 0, "relay stalled at {sent}");
        latencies.push(batch.elapsed());
        sent += n;
    }
    line("relay", count, start.elapsed(), latencies);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--test") {
        return Ok(()); // built by `cargo test --all-targets`, measured only by `make bench-outbox`
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://summit:summit@127.0.0.1:5432/postgres".into());
    let database = format!("bench_outbox_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let pool = PgPool::connect(&format!("{base}/{database}")).await?;
    outbox::MIGRATIONS.run(&pool).await?;

    let vhost = testkit::Vhost::create().await?;
    let config = BusConfig::new(vhost.url(), "bench-outbox");
    let topology = Topology::new().queue(QueueSpec::new(QUEUE).events_from("catalog.events"));
    let bus = Arc::new(Bus::connect(&config, topology).await?);
    eprintln!("bench-outbox: {COUNT} × 1 KiB messages through quorum queue {QUEUE}");

    let messages: Vec<Outgoing> = (0..COUNT).map(|_| message()).collect();
    consume_inbox(bus.clone(), pool.clone(), &messages).await?;
    while !bus.take(QUEUE, 5_000).await?.is_empty() {}
    relay(&bus, pool.clone(), COUNT).await?;

    bus.close().await;
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    Ok(())
}
