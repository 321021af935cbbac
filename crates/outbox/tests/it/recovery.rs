use std::collections::HashSet;
use std::time::Duration;

use outbox::RelayConfig;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::harness::Harness;

/// The broker connection is forcibly closed (only this test's, by its vhost) while messages
/// flow: the relay's publisher and the consumer recover, and every message has exactly one
/// effect.
#[sqlx::test(migrations = false)]
async fn a_forced_connection_close_loses_and_duplicates_nothing(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = CancellationToken::new();
    let relay = outbox::Relay::new(
        h.pool.clone(),
        h.bus.publisher().clone(),
        RelayConfig {
            batch_size: 50,
            ..crate::harness::fast_relay()
        },
    );
    let relaying = tokio::spawn(relay.run(shutdown.clone()));
    let consuming = h.consume_with_inbox(shutdown.clone());

    let mut expected = Vec::new();
    let mut closed = Vec::new();
    for round in 0..20 {
        expected.extend(h.commit_events(50).await?);
        if round == 6 || round == 13 {
            // Waits for the connection (the second time: the reconnected one) to be listed.
            closed = h
                .vhost
                .as_ref()
                .expect("a vhost")
                .close_connections(1, &closed)
                .await?;
            assert!(
                !closed.is_empty(),
                "the test's connection was found and closed"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.wait_for_effects(1000, Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    relaying.await?;
    consuming.await??;

    let effects = h.effects().await?;
    assert_eq!(effects.len(), 1000, "exactly one effect per message");
    let distinct: HashSet<_> = effects.iter().collect();
    assert_eq!(distinct, expected.iter().collect());
    assert_eq!(h.unpublished().await?, 0);
    Ok(())
}
