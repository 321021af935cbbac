use std::time::Duration;

use bus::Outgoing;
use contracts::Contract;
use contracts::catalog::StockReleased;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::harness::{Harness, QUEUE, event};

#[sqlx::test(migrations = false)]
async fn the_same_message_delivered_twice_has_one_effect(pool: PgPool) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let envelope = event();
    let id = envelope.id;
    let message = Outgoing::envelope(&envelope.into_raw(), StockReleased::DESTINATION);
    h.bus.publisher().publish(&message).await?;
    h.bus.publisher().publish(&message).await?;
    let other = h.commit_events(0).await?;
    assert!(other.is_empty());

    let shutdown = CancellationToken::new();
    let consuming = h.consume_with_inbox(shutdown.clone());
    // Both deliveries are consumed (the queue empties) ...
    let start = std::time::Instant::now();
    loop {
        let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
            .fetch_one(&h.pool)
            .await?;
        if inbox == 1 && h.drain().await?.is_empty() {
            break;
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "not consumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    consuming.await??;
    // ... and the effect happened once.
    assert_eq!(h.effects().await?, vec![id]);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_relay_that_dies_before_marking_republishes_and_the_inbox_absorbs_it(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let ids = h.commit_events(5).await?;

    // Publish, then "die" before marking: the claim's transaction ends without marking.
    let claimed = h.relay().claim_and_publish().await?;
    assert_eq!(claimed.len(), 5);
    claimed.abandon().await?;
    assert_eq!(h.unpublished().await?, 5, "the rows are still unsent");
    // A relay (the restarted one) publishes them again.
    assert_eq!(h.relay().publish_batch().await?, 5);
    assert_eq!(h.unpublished().await?, 0);

    let shutdown = CancellationToken::new();
    let consuming = h.consume_with_inbox(shutdown.clone());
    h.wait_for_effects(5, Duration::from_secs(10)).await?;
    // Give the five duplicates time to arrive and be absorbed.
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let inbox_hits: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
            .fetch_one(&h.pool)
            .await?;
        let channel = h.bus.channel().await?;
        let q = channel
            .queue_declare(
                QUEUE.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        if inbox_hits == 5 && q.message_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    consuming.await??;
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(h.effects().await?, expected, "ten deliveries, five effects");
    Ok(())
}
