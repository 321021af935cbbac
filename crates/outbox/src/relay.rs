//! The outbox relay: due rows → confirmed publishes → rows marked sent.
//!
//! Invariants:
//! - No database transaction is open across a broker round trip. Rows are *leased* (a short
//!   autocommit `UPDATE … SKIP LOCKED` sets `leased_until`), published, then marked. A relay
//!   that dies in between leaves leases that expire, and another relay publishes those rows
//!   again: at-least-once, and consumers' inboxes absorb the duplicates.
//! - Only due rows go out (`due_at <= now`): retries wait in the table for their own delay, so
//!   a short one is never held behind a long one. After draining, the relay sleeps until the
//!   next row is due, a NOTIFY, or the poll interval — whichever comes first.
//! - A row the broker refuses because of the row itself (unroutable, nacked) is tried again
//!   with backoff and, after `park_after` refusals, set aside (`parked_at`): kept for operators,
//!   counted in `summit_outbox_parked`, never claimed first again, never blocking the rows
//!   behind it. A broker that is away, blocked or slow is not the row's fault: those rows are
//!   released untouched and the relay pauses.

use std::collections::BTreeMap;
use std::time::Duration;

use bus::{Outgoing, PublishError, Publisher};
use resilience::{Backoff, Jitter};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
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

impl RelayError {
    /// True when the failure is the infrastructure's (database or broker away, blocked, slow):
    /// the relay should pause rather than carry on.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(_) => true,
            Self::Publish { first, .. } => !first.is_message_fault(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayConfig {
    /// Rows claimed and published per round trip (confirms pipelined).
    pub batch_size: i64,
    /// How often to look without a notification: the fallback when NOTIFY is lost.
    pub poll_interval: Duration,
    /// Pause after a batch the infrastructure failed, so a broker that refuses is not hammered.
    pub failure_pause: Duration,
    /// How long a claimed row belongs to this relay; longer than any confirm wait.
    pub lease: Duration,
    /// Refusals (unroutable, nacked) before a row is set aside.
    pub park_after: i32,
    /// Delay before a refused row is tried again.
    pub refusal_backoff: Backoff,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 200,
            poll_interval: Duration::from_secs(1),
            failure_pause: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            park_after: 10,
            refusal_backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(300),
                jitter: Jitter::Equal,
            },
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

/// A leased batch, already published. [`Claimed::mark_sent`] records what happened; dropping it
/// without marking is a relay dying: the leases expire and the rows are published again.
pub struct Claimed {
    pool: PgPool,
    config: RelayConfig,
    ids: Vec<i64>,
    published: Vec<i64>,
    failed: Vec<(i64, PublishError)>,
}

impl Claimed {
    /// Rows claimed in this batch.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Gives the rows back unsent at once, as an expired lease does when a relay dies
    /// mid-batch: they will be published again (and consumers' inboxes absorb the duplicates).
    pub async fn abandon(self) -> Result<(), RelayError> {
        sqlx::query("UPDATE outbox SET leased_until = NULL WHERE id = ANY($1)")
            .bind(&self.ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks the confirmed rows sent; backs off (or parks) the refused ones and releases the
    /// rest; reports the rows that were not confirmed.
    pub async fn mark_sent(self) -> Result<usize, RelayError> {
        if !self.published.is_empty() {
            sqlx::query(
                "UPDATE outbox SET published_at = now(), leased_until = NULL WHERE id = ANY($1)",
            )
            .bind(&self.published)
            .execute(&self.pool)
            .await?;
        }
        let (refused, unavailable): (Vec<_>, Vec<_>) = self
            .failed
            .iter()
            .partition(|(_, error)| error.is_message_fault());
        if !refused.is_empty() {
            let ids: Vec<i64> = refused.iter().map(|(id, _)| *id).collect();
            let errors: Vec<String> = refused.iter().map(|(_, e)| e.to_string()).collect();
            // One jittered delay per row, drawn from its own try count.
            let tries: Vec<i32> = sqlx::query_scalar(
                "SELECT tries FROM outbox WHERE id = ANY($1) ORDER BY array_position($1, id)",
            )
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
            let delays: Vec<f64> = tries
                .iter()
                .map(|t| {
                    let attempt = u32::try_from(*t).unwrap_or(0).saturating_add(1);
                    self.config
                        .refusal_backoff
                        .delay(attempt, None)
                        .as_secs_f64()
                })
                .collect();
            let parked: i64 = sqlx::query_scalar(
                "WITH refused AS (
                     SELECT * FROM unnest($1::bigint[], $2::text[], $3::float8[])
                         AS r(id, error, delay_s)
                 ), updated AS (
                     UPDATE outbox o SET
                         tries = o.tries + 1,
                         last_error = r.error,
                         leased_until = NULL,
                         due_at = clock_timestamp() + make_interval(secs => r.delay_s),
                         parked_at = CASE WHEN o.tries + 1 >= $4 THEN clock_timestamp() END
                     FROM refused r WHERE o.id = r.id
                     RETURNING o.parked_at
                 )
                 SELECT count(*) FROM updated WHERE parked_at IS NOT NULL",
            )
            .bind(&ids)
            .bind(&errors)
            .bind(&delays)
            .bind(self.config.park_after)
            .fetch_one(&self.pool)
            .await?;
            if parked > 0 {
                tracing::error!(parked, first = %errors[0], "outbox rows set aside after repeated refusals");
                crate::parking::refresh_gauge(&self.pool).await;
            }
        }
        if !unavailable.is_empty() {
            let ids: Vec<i64> = unavailable.iter().map(|(id, _)| *id).collect();
            sqlx::query(
                "UPDATE outbox SET leased_until = NULL, last_error = $2 WHERE id = ANY($1)",
            )
            .bind(&ids)
            .bind(unavailable[0].1.to_string())
            .execute(&self.pool)
            .await?;
        }
        metrics::counter!("summit_outbox_published_total").increment(self.published.len() as u64);
        metrics::counter!("summit_outbox_failed_total").increment(self.failed.len() as u64);
        let claimed = self.ids.len();
        let failed = self.failed.len();
        // Report the infrastructure's failure first: it decides whether the relay pauses.
        let first = self
            .failed
            .into_iter()
            .min_by_key(|(_, error)| error.is_message_fault())
            .map(|(_, error)| error);
        match first {
            None => Ok(self.published.len()),
            Some(first) => Err(RelayError::Publish {
                claimed,
                failed,
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
    mandatory: bool,
}

impl Relay {
    pub fn new(pool: PgPool, publisher: Publisher, config: RelayConfig) -> Self {
        Self {
            pool,
            publisher,
            config,
        }
    }

    /// Leases up to a batch of due rows (skipping rows other relays hold), then publishes them
    /// with their confirms in flight together. The lease commits before the first publish.
    pub async fn claim_and_publish(&self) -> Result<Claimed, RelayError> {
        let mut rows: Vec<(chrono::DateTime<chrono::Utc>, Row)> = Vec::new();
        let leased: Vec<(chrono::DateTime<chrono::Utc>, i64)> = sqlx::query_as(
            "UPDATE outbox o SET leased_until = clock_timestamp() + make_interval(secs => $2)
             FROM (SELECT id FROM outbox
                   WHERE published_at IS NULL AND parked_at IS NULL
                     AND due_at <= clock_timestamp()
                     AND (leased_until IS NULL OR leased_until <= clock_timestamp())
                   ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due
             WHERE o.id = due.id
             RETURNING o.due_at, o.id",
        )
        .bind(self.config.batch_size)
        .bind(self.config.lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        if !leased.is_empty() {
            let ids: Vec<i64> = leased.iter().map(|(_, id)| *id).collect();
            let fetched: Vec<Row> = sqlx::query_as(
                "SELECT id, message_id, exchange, routing_key, kind, correlation_id, body, headers,
                        mandatory
                 FROM outbox WHERE id = ANY($1)",
            )
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
            let due: BTreeMap<i64, _> = leased.iter().map(|(at, id)| (*id, *at)).collect();
            rows = fetched
                .into_iter()
                .filter_map(|row| due.get(&row.id).map(|at| (*at, row)))
                .collect();
            rows.sort_by_key(|(at, row)| (*at, row.id));
        }
        let messages: Vec<Outgoing> = rows
            .iter()
            .map(|(_, row)| Outgoing {
                exchange: row.exchange.clone(),
                routing_key: row.routing_key.clone(),
                message_id: row.message_id.to_string(),
                kind: row.kind.clone(),
                correlation_id: row.correlation_id.clone(),
                body: row.body.clone(),
                headers: row.headers.0.clone(),
                mandatory: row.mandatory,
            })
            .collect();
        let results = if messages.is_empty() {
            Vec::new()
        } else {
            self.publisher.publish_all(&messages).await
        };
        let mut published = Vec::with_capacity(rows.len());
        let mut failed = Vec::new();
        for ((_, row), result) in rows.iter().zip(results) {
            match result {
                Ok(()) => published.push(row.id),
                Err(error) => failed.push((row.id, error)),
            }
        }
        Ok(Claimed {
            pool: self.pool.clone(),
            config: self.config,
            ids: rows.iter().map(|(_, row)| row.id).collect(),
            published,
            failed,
        })
    }

    /// Publishes one batch and marks it; returns how many rows were sent.
    pub async fn publish_batch(&self) -> Result<usize, RelayError> {
        self.claim_and_publish().await?.mark_sent().await
    }

    /// How long until the next unsent row is due (zero if one is due now), if any is waiting.
    async fn next_due(&self) -> Result<Option<Duration>, sqlx::Error> {
        let seconds: Option<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM min(greatest(due_at, coalesce(leased_until, due_at)))
                                   - clock_timestamp())::float8
             FROM outbox WHERE published_at IS NULL AND parked_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
    }

    /// Runs until `shutdown`: drains the due rows, then sleeps until the next row is due, a
    /// NOTIFY, or the poll interval.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = self.listen().await;
        crate::parking::refresh_gauge(&self.pool).await;
        loop {
            // Drain: keep going while batches come back full.
            loop {
                if shutdown.is_cancelled() {
                    return;
                }
                match self.publish_batch().await {
                    Ok(sent) if (sent as i64) < self.config.batch_size => break,
                    Ok(_) => continue,
                    // The rows' own fault: they were pushed back or parked; carry on.
                    Err(error) if !error.is_unavailable() => {
                        tracing::warn!(%error, "outbox rows refused by the broker");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "outbox relay batch failed; pausing");
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(self.config.failure_pause) => {}
                        }
                        break;
                    }
                }
            }
            let wait = match self.next_due().await {
                Ok(Some(due)) => due.min(self.config.poll_interval),
                Ok(None) => self.config.poll_interval,
                Err(_) => self.config.failure_pause,
            };
            if wait.is_zero() {
                continue;
            }
            let notified = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
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
