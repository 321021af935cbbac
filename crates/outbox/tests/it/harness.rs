//! A test's own database (from `#[sqlx::test]`), vhost, bus, relay and recording handlers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{
    Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, QueueSpec, RetryQueue, Topology,
};
use contracts::Envelope;
use contracts::catalog::StockReleased;
use outbox::{Relay, RelayConfig, Retries};
use sqlx::PgPool;
use testkit::Vhost;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const QUEUE: &str = "test.catalog-events";

pub struct Harness {
    /// The test's vhost on the shared broker (none on a broker of the test's own).
    pub vhost: Option<Vhost>,
    pub bus: Arc<Bus>,
    pub pool: PgPool,
}

/// A relay tuned for tests: quick to notice a due row even without NOTIFY.
pub fn fast_relay() -> RelayConfig {
    RelayConfig {
        poll_interval: Duration::from_millis(200),
        failure_pause: Duration::from_millis(100),
        ..RelayConfig::default()
    }
}

impl Harness {
    pub async fn start(pool: PgPool) -> anyhow::Result<Self> {
        let vhost = Vhost::create().await?;
        let url = vhost.url();
        let name = format!("outbox-test-{}", vhost.name());
        Self::start_at(pool, &url, &name, Some(vhost)).await
    }

    /// A harness whose bus reaches the broker at `url` (e.g. a broker node of the test's own),
    /// with the test's database reached through `pool`.
    pub async fn start_at(
        pool: PgPool,
        url: &str,
        name: &str,
        vhost: Option<Vhost>,
    ) -> anyhow::Result<Self> {
        outbox::MIGRATIONS.run(&pool).await?;
        sqlx::query(
            "CREATE TABLE effects (message_id uuid NOT NULL, at timestamptz DEFAULT now())",
        )
        .execute(&pool)
        .await?;
        let mut config = BusConfig::new(url, name);
        config.confirm_timeout = Duration::from_secs(2);
        let bus = Arc::new(Bus::connect(&config, topology()).await?);
        Ok(Self { vhost, bus, pool })
    }

    /// The retry store in this test's database.
    pub fn retries(&self) -> Arc<dyn RetryQueue> {
        Arc::new(Retries::new(self.pool.clone()))
    }

    /// Consumes the test queue with `handler`, retries kept in the test's database.
    pub fn consume<H: Handler>(
        &self,
        handler: Arc<H>,
        config: ConsumerConfig,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), bus::BusError>> {
        let bus = self.bus.clone();
        let retries = self.retries();
        tokio::spawn(async move { bus.consume(QUEUE, handler, retries, config, shutdown).await })
    }

    /// Consumes the test queue with [`RecordEffect`] until `shutdown`.
    pub fn consume_with_inbox(
        &self,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), bus::BusError>> {
        self.consume(
            RecordEffect::new(self.pool.clone()),
            ConsumerConfig::default(),
            shutdown,
        )
    }

    pub fn relay(&self) -> Relay {
        Relay::new(
            self.pool.clone(),
            self.bus.publisher().clone(),
            RelayConfig::default(),
        )
    }

    /// Runs a relay with `config` until `shutdown`.
    pub fn run_relay(&self, config: RelayConfig, shutdown: CancellationToken) {
        let relay = Relay::new(self.pool.clone(), self.bus.publisher().clone(), config);
        tokio::spawn(relay.run(shutdown));
    }

    /// Writes `count` events to the outbox in one committed transaction; returns their ids.
    pub async fn commit_events(&self, count: usize) -> anyhow::Result<Vec<Uuid>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let envelope = event();
            ids.push(envelope.id);
            outbox::enqueue(&mut tx, envelope).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Publishes a fresh event straight to the broker; returns its envelope id.
    pub async fn publish_event(&self) -> anyhow::Result<Uuid> {
        use contracts::Contract;
        let envelope = event();
        let id = envelope.id;
        self.bus
            .publisher()
            .publish(&bus::Outgoing::envelope(
                &envelope.into_raw(),
                StockReleased::DESTINATION,
            ))
            .await?;
        Ok(id)
    }

    /// Message ids currently in the test queue (taken off it).
    pub async fn drain(&self) -> anyhow::Result<Vec<Uuid>> {
        let mut ids = Vec::new();
        for message in self.bus.take(QUEUE, usize::MAX).await? {
            let envelope: contracts::RawEnvelope = serde_json::from_slice(&message.body)?;
            ids.push(envelope.id);
        }
        Ok(ids)
    }

    pub async fn depth(&self, queue: &str) -> anyhow::Result<u32> {
        Ok(self.bus.depth(queue).await?)
    }

    pub async fn effects(&self) -> anyhow::Result<Vec<Uuid>> {
        Ok(
            sqlx::query_scalar("SELECT message_id FROM effects ORDER BY message_id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    pub async fn unpublished(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Waits until the effects table holds `count` rows.
    pub async fn wait_for_effects(&self, count: usize, limit: Duration) -> anyhow::Result<()> {
        wait_for(limit, || async {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
                .fetch_one(&self.pool)
                .await?;
            Ok(n as usize >= count)
        })
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{count} effects: {e} (deliveries in this test's database: see the outbox and inbox)"
            )
        })
    }
}

/// Polls `done` every 50 ms until it holds, or fails after `limit`.
pub async fn wait_for<F, Fut>(limit: Duration, done: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    loop {
        if done().await.unwrap_or(false) {
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn topology() -> Topology {
    Topology::new().queue(QueueSpec::new(QUEUE).events_from("catalog.events"))
}

pub fn event() -> Envelope<StockReleased> {
    Envelope::new(
        None,
        StockReleased {
            order_id: Uuid::now_v7(),
            store_id: Uuid::now_v7(),
        },
    )
}

/// A handler whose effect is a row in `effects`, made idempotent by the inbox; it also counts
/// every delivery it sees, duplicates included.
pub struct RecordEffect {
    pub pool: PgPool,
    pub deliveries: Mutex<Vec<Uuid>>,
    /// Answer `Retry` to every first attempt, so each message passes through the retry store.
    fail_first_attempt: bool,
}

impl RecordEffect {
    pub fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            deliveries: Mutex::new(Vec::new()),
            fail_first_attempt: false,
        })
    }

    /// A `RecordEffect` that fails each message's first attempt: every message is retried once.
    pub fn retrying_each_once(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            deliveries: Mutex::new(Vec::new()),
            fail_first_attempt: true,
        })
    }

    pub fn deliveries(&self) -> usize {
        self.deliveries.lock().unwrap().len()
    }

    async fn apply(&self, incoming: &Incoming) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if outbox::inbox::record(&mut tx, incoming.envelope.id, "test.record-effect").await? {
            sqlx::query("INSERT INTO effects (message_id) VALUES ($1)")
                .bind(incoming.envelope.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }
}

impl Handler for RecordEffect {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        self.deliveries.lock().unwrap().push(incoming.envelope.id);
        if self.fail_first_attempt && incoming.attempt == 1 {
            return Outcome::Retry("first attempts fail in this test".into());
        }
        match self.apply(&incoming).await {
            Ok(()) => Outcome::Done,
            Err(error) => outbox::classify::outcome_of(&error),
        }
    }
}

/// One handler call: which message, which attempt, when.
#[derive(Debug, Clone)]
pub struct Call {
    pub message_id: Uuid,
    pub attempt: u32,
    pub at: Instant,
}

/// A handler that answers `script(attempt)` and records every call.
pub struct Recorder<F> {
    pub calls: Mutex<Vec<Call>>,
    script: F,
}

impl<F: Fn(u32) -> Outcome + Send + Sync + 'static> Recorder<F> {
    pub fn new(script: F) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            script,
        })
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, id: Uuid) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.message_id == id)
            .collect()
    }

    /// Waits until `done(calls)` holds, or fails after `limit`.
    pub async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[Call]) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(&self.calls()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!(
            "condition not met within {limit:?}; calls: {:?}",
            self.calls().len()
        )
    }
}

impl<F: Fn(u32) -> Outcome + Send + Sync + 'static> Handler for Recorder<F> {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let outcome = (self.script)(incoming.attempt);
        self.calls.lock().unwrap().push(Call {
            message_id: incoming.envelope.id,
            attempt: incoming.attempt,
            at: Instant::now(),
        });
        outcome
    }
}
