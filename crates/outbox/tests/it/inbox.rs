use std::time::Duration;

use bus::{ConsumerConfig, Outgoing};
use contracts::Contract;
use contracts::catalog::StockReleased;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::harness::{Harness, RecordEffect, event, wait_for};

/// Two deliveries of one message reach the handler (counted as they arrive, nothing drained
/// behind the consumer's back), and the inbox lets exactly one have an effect.
#[sqlx::test(migrations = false)]
async fn the_same_message_delivered_twice_has_one_effect(pool: PgPool) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let envelope = event();
    let id = envelope.id;
    let message = Outgoing::envelope(&envelope.into_raw(), StockReleased::DESTINATION);
    h.bus.publisher().publish(&message).await?;
    h.bus.publisher().publish(&message).await?;

    let shutdown = CancellationToken::new();
    let handler = RecordEffect::new(h.pool.clone());
    let consuming = h.consume(handler.clone(), ConsumerConfig::default(), shutdown.clone());
    wait_for(Duration::from_secs(10), || async {
        Ok(handler.deliveries() == 2)
    })
    .await?;
    shutdown.cancel();
    consuming.await??;
    assert_eq!(handler.deliveries(), 2, "the handler saw both deliveries");
    assert_eq!(h.effects().await?, vec![id], "and applied one");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_relay_that_dies_before_marking_republishes_and_the_inbox_absorbs_it(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let ids = h.commit_events(5).await?;

    // Publish, then "die" before marking: the lease is given up without marking.
    let claimed = h.relay().claim_and_publish().await?;
    assert_eq!(claimed.len(), 5);
    claimed.abandon().await?;
    assert_eq!(h.unpublished().await?, 5, "the rows are still unsent");
    // A relay (the restarted one) publishes them again.
    assert_eq!(h.relay().publish_batch().await?, 5);
    assert_eq!(h.unpublished().await?, 0);

    let shutdown = CancellationToken::new();
    let handler = RecordEffect::new(h.pool.clone());
    let consuming = h.consume(handler.clone(), ConsumerConfig::default(), shutdown.clone());
    wait_for(Duration::from_secs(10), || async {
        Ok(handler.deliveries() == 10)
    })
    .await?;
    shutdown.cancel();
    consuming.await??;
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(h.effects().await?, expected, "ten deliveries, five effects");
    Ok(())
}
