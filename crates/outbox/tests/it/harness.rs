use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, Handler, Incoming, Outcome, QueueSpec, Topology};
use contracts::Envelope;
use contracts::catalog::StockReleased;
use lapin::options::BasicGetOptions;
use outbox::{Relay, RelayConfig};
use sqlx::PgPool;
use testkit::Vhost;
use uuid::Uuid;

pub const QUEUE: &str = "test.catalog-events";

pub struct Harness {
    pub vhost: Vhost,
    pub bus: Arc<Bus>,
    pub pool: PgPool,
}

impl Harness {
    pub async fn start(pool: PgPool) -> anyhow::Result<Self> {
        outbox::MIGRATIONS.run(&pool).await?;
        sqlx::query(
            "CREATE TABLE effects (message_id uuid NOT NULL, at timestamptz DEFAULT now())",
        )
        .execute(&pool)
        .await?;
        let vhost = Vhost::create().await?;
        let bus = Arc::new(Bus::connect(&bus_config(&vhost), topology()).await?);
        Ok(Self { vhost, bus, pool })
    }

    /// Consumes the test queue with [`RecordEffect`] until `shutdown`.
    pub fn consume_with_inbox(
        &self,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), bus::BusError>> {
        let handler = Arc::new(RecordEffect {
            pool: self.pool.clone(),
        });
        let bus = self.bus.clone();
        tokio::spawn(async move {
            bus.consume(QUEUE, handler, bus::ConsumerConfig::default(), shutdown)
                .await
        })
    }

    pub fn relay(&self) -> Relay {
        Relay::new(
            self.pool.clone(),
            self.bus.publisher().clone(),
            RelayConfig::default(),
        )
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

    /// Message ids currently in the test queue (taken off it).
    pub async fn drain(&self) -> anyhow::Result<Vec<Uuid>> {
        let channel = self.bus.channel().await?;
        let mut ids = Vec::new();
        while let Some(message) = channel
            .basic_get(QUEUE.into(), BasicGetOptions { no_ack: true })
            .await?
        {
            let envelope: contracts::RawEnvelope = serde_json::from_slice(&message.delivery.data)?;
            ids.push(envelope.id);
        }
        Ok(ids)
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
        let start = Instant::now();
        loop {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM effects")
                .fetch_one(&self.pool)
                .await?;
            if n as usize >= count {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < limit,
                "only {n} of {count} effects within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn bus_config(vhost: &Vhost) -> BusConfig {
    BusConfig {
        url: vhost.url(),
        connection_name: format!("outbox-test-{}", vhost.name()),
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

/// A handler whose effect is a row in `effects`, made idempotent by the inbox.
pub struct RecordEffect {
    pub pool: PgPool,
}

impl RecordEffect {
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
        match self.apply(&incoming).await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }
}
