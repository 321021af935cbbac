//! `summit_parked_failures{queue, type, kind}` on `/metrics`: parked failures by group,
//! refreshed by every replica on its own (each serves the whole store's counts). A group that
//! empties reads 0 rather than vanishing, so an alert sees it clear.

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

type Labels = (String, String, String);

/// Sets the gauges from the store; `previous` holds the label sets set last time.
pub async fn refresh(pool: &PgPool, previous: &mut BTreeSet<Labels>) -> Result<(), sqlx::Error> {
    let rows: Vec<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT queue, message_type, error_kind, count(*) FROM failures \
         WHERE status = 'parked' GROUP BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await?;
    let mut current = BTreeSet::new();
    for (queue, message_type, kind, count) in rows {
        let labels = (
            queue,
            message_type.unwrap_or_default(),
            kind.unwrap_or_default(),
        );
        set(&labels, count as f64);
        current.insert(labels);
    }
    for gone in previous.difference(&current) {
        set(gone, 0.0);
    }
    *previous = current;
    Ok(())
}

fn set((queue, message_type, kind): &Labels, value: f64) {
    metrics::gauge!(
        "summit_parked_failures",
        "queue" => queue.clone(),
        "type" => message_type.clone(),
        "kind" => kind.clone()
    )
    .set(value);
}

/// Refreshes the gauges every `every` until `shutdown`.
pub async fn export(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    let mut previous = BTreeSet::new();
    loop {
        if let Err(error) = refresh(&pool, &mut previous).await {
            // Before migrations, or the database away: try again next time.
            tracing::debug!(%error, "parked failures gauge not refreshed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
