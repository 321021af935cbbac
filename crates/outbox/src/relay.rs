//! The outbox relay: committed rows → confirmed publishes → rows marked sent.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{Outgoing, PublishError, Publisher};
use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

/// The NOTIFY channel the outbox trigger signals.
pub const CHANNEL: &str = "summit_outbox";

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{failed} of {claimed} messages not published: {first}")]
    Publish {
        claimed: usize,
        failed: usize,
        first: PublishError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Rows claimed and published per round trip (confirms pipelined).
    pub batch_size: i64,
    /// How often to look without a notification: the fallback when NOTIFY is lost.
    pub poll_interval: Duration,
    /// Pause after a failed batch, so a broker that refuses is not hammered.
    pub failure_pause: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            poll_interval: Duration::from_secs(1),
            failure_pause: Duration::from_millis(500),
        }
    }
}

/// One relay; run as many as there are replicas.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    publisher: Publisher,
    config: RelayConfig,
}

/// A claimed batch: rows locked by this relay's transaction and already published. Dropping it
/// without [`Claimed::mark_sent`] rolls back: the rows stay unsent and are published again.
pub struct Claimed {
    tx: Transaction<'static, Postgres>,
    published: Vec<i64>,
    claimed: usize,
    first_failure: Option<PublishError>,
}

impl Claimed {
    /// Rows claimed in this batch.
    pub fn len(&self) -> usize {
        self.claimed
    }

    pub fn is_empty(&self) -> bool {
        self.claimed == 0
    }

    /// Gives the rows back unsent, as the database does when a relay dies mid-batch: they will
    /// be published again (and consumers' inboxes absorb the duplicates).
    pub async fn abandon(self) -> Result<(), RelayError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Marks the confirmed rows sent and commits; reports the rows that were not confirmed.
    pub async fn mark_sent(mut self) -> Result<usize, RelayError> {
        if !self.published.is_empty() {
            sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
                .bind(&self.published)
                .execute(&mut *self.tx)
                .await?;
        }
        self.tx.commit().await?;
        metrics::counter!("summit_outbox_published_total").increment(self.published.len() as u64);
        metrics::counter!("summit_outbox_failed_total")
            .increment((self.claimed - self.published.len()) as u64);
        match self.first_failure {
            None => Ok(self.published.len()),
            Some(first) => Err(RelayError::Publish {
                claimed: self.claimed,
                failed: self.claimed - self.published.len(),
                first,
            }),
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    message_id: uuid::Uuid,
    exchange: String,
    routing_key: String,
    kind: String,
    correlation_id: Option<String>,
    body: Vec<u8>,
    headers: sqlx::types::Json<BTreeMap<String, String>>,
}

impl Relay {
    pub fn new(pool: PgPool, publisher: Publisher, config: RelayConfig) -> Self {
        Self {
            pool,
            publisher,
            config,
        }
    }

    /// Claims up to a batch of unsent rows (skipping rows other relays hold) and publishes them
    /// with their confirms in flight together.
    pub async fn claim_and_publish(&self) -> Result<Claimed, RelayError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, message_id, exchange, routing_key, kind, correlation_id, body, headers
             FROM outbox WHERE published_at IS NULL
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.config.batch_size)
        .fetch_all(&mut *tx)
        .await?;
        let messages: Vec<Outgoing> = rows
            .iter()
            .map(|row| Outgoing {
                exchange: row.exchange.clone(),
                routing_key: row.routing_key.clone(),
                message_id: row.message_id.to_string(),
                kind: row.kind.clone(),
                correlation_id: row.correlation_id.clone(),
                body: row.body.clone(),
                headers: row.headers.0.clone(),
            })
            .collect();
        let results = self.publisher.publish_all(&messages).await;
        let mut published = Vec::with_capacity(rows.len());
        let mut first_failure = None;
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => published.push(row.id),
                Err(error) => {
                    first_failure.get_or_insert(error);
                }
            }
        }
        Ok(Claimed {
            tx,
            published,
            claimed: rows.len(),
            first_failure,
        })
    }

    /// Publishes one batch and marks it; returns how many rows were sent.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        self.claim_and_publish().await?.mark_sent().await
    }

    /// Runs until `shutdown`: drains the outbox, then sleeps until a NOTIFY or the poll interval.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = self.listen().await;
        loop {
            // Drain: keep going while batches come back full.
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                match self.publish_batch().await {
                    Ok(sent) if (sent as i64) < self.config.batch_size => break,
                    Ok(_) => continue,
                    Err(error) => {
                        tracing::warn!(%error, "outbox relay batch failed");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(self.config.failure_pause) => {}
                        }
                        break;
                    }
                }
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                woke = notified => {
                    if let Err(error) = woke {
                        tracing::warn!(%error, "outbox LISTEN lost; polling until it returns");
                        listener = self.listen().await;
                    }
                }
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(error) => {
                tracing::warn!(%error, "outbox LISTEN unavailable; polling");
                return None;
            }
        };
        match listener.listen(CHANNEL).await {
            Ok(()) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "outbox LISTEN unavailable; polling");
                None
            }
        }
    }
}
