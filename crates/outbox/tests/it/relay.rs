use std::collections::HashSet;

use sqlx::PgPool;

use crate::harness::{Harness, event};

#[sqlx::test(migrations = false)]
async fn committed_events_are_published_and_rolled_back_ones_never(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let committed = h.commit_events(3).await?;

    let mut tx = h.pool.begin().await?;
    let doomed = event();
    let doomed_id = doomed.id;
    outbox::enqueue(&mut tx, doomed).await?;
    tx.rollback().await?;

    let sent = h.relay().publish_batch().await?;
    assert_eq!(sent, 3);
    let published = h.drain().await?;
    assert_eq!(
        published, committed,
        "the committed events, in commit order"
    );
    assert!(!published.contains(&doomed_id));
    assert_eq!(h.unpublished().await?, 0, "published rows are marked");
    assert_eq!(
        h.relay().publish_batch().await?,
        0,
        "nothing is published twice"
    );
    assert!(h.drain().await?.is_empty());
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn two_relays_on_one_table_publish_each_row_once(pool: PgPool) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let mut expected = Vec::new();
    for _ in 0..5 {
        expected.extend(h.commit_events(200).await?);
    }
    let a = h.relay();
    let b = h.relay();
    let drain = |relay: outbox::Relay| async move {
        let mut sent = 0;
        loop {
            let n = relay.publish_batch().await?;
            if n == 0 {
                return anyhow::Ok(sent);
            }
            sent += n;
        }
    };
    let (sent_a, sent_b) = tokio::try_join!(drain(a), drain(b))?;
    assert_eq!(sent_a + sent_b, 1000);
    assert!(
        sent_a > 0 && sent_b > 0,
        "both relays shared the work: {sent_a} + {sent_b}"
    );
    let published = h.drain().await?;
    assert_eq!(published.len(), 1000, "no row published twice");
    let distinct: HashSet<_> = published.iter().collect();
    assert_eq!(distinct.len(), 1000);
    assert_eq!(distinct, expected.iter().collect());
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_running_relay_is_woken_by_a_commit(pool: PgPool) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let relay = outbox::Relay::new(
        h.pool.clone(),
        h.bus.publisher().clone(),
        outbox::RelayConfig {
            // Polling alone would take a minute: only NOTIFY can make this test pass in time.
            poll_interval: std::time::Duration::from_secs(60),
            ..outbox::RelayConfig::default()
        },
    );
    let running = tokio::spawn(relay.run(shutdown.clone()));
    // Commit only once the relay listens, so the commit's NOTIFY is what wakes it.
    crate::harness::wait_for(std::time::Duration::from_secs(10), || async {
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .fetch_one(&h.pool)
        .await?;
        Ok(listening > 0)
    })
    .await?;
    let ids = h.commit_events(2).await?;
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 2 && start.elapsed() < std::time::Duration::from_secs(5) {
        seen.extend(h.drain().await?);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    running.await?;
    assert_eq!(seen, ids);
    Ok(())
}

/// 200 commands nobody can receive sit in front of five good events: the relay backs the
/// refused rows off, publishes the events behind them, and after `park_after` refusals sets the
/// bad rows aside (kept, listed for operators) instead of claiming them first forever.
#[sqlx::test(migrations = false)]
async fn unroutable_rows_are_set_aside_and_never_stall_the_rows_behind_them(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let nowhere = contracts::Destination::Command {
        routing_key: "nobody.listens-here",
    };
    let mut tx = h.pool.begin().await?;
    for _ in 0..200 {
        outbox::enqueue_raw(&mut tx, &event().into_raw(), nowhere).await?;
    }
    tx.commit().await?;
    let good = h.commit_events(5).await?;

    let shutdown = tokio_util::sync::CancellationToken::new();
    h.run_relay(
        outbox::RelayConfig {
            batch_size: 50,
            park_after: 3,
            refusal_backoff: resilience::Backoff {
                base: std::time::Duration::from_millis(50),
                cap: std::time::Duration::from_millis(100),
                jitter: resilience::Jitter::None,
            },
            ..crate::harness::fast_relay()
        },
        shutdown.clone(),
    );
    crate::harness::wait_for(std::time::Duration::from_secs(10), || async {
        Ok(h.unpublished().await? == 200)
    })
    .await?;
    assert_eq!(
        h.drain().await?,
        good,
        "the events behind the bad rows went out"
    );

    crate::harness::wait_for(std::time::Duration::from_secs(20), || async {
        Ok(outbox::parking::list(&h.pool).await?.len() == 200)
    })
    .await?;
    shutdown.cancel();
    let parked = outbox::parking::list(&h.pool).await?;
    assert!(
        parked.iter().all(|p| p.tries == 3),
        "parked after 3 refusals"
    );
    assert!(
        parked[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("nobody.listens-here")),
        "{:?}",
        parked[0].last_error
    );
    assert!(outbox::parking::release(&h.pool, parked[0].id).await?);
    assert_eq!(outbox::parking::list(&h.pool).await?.len(), 199);
    Ok(())
}
