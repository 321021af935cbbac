//! Fault drills on servers of the test's own: Postgres taken away for a minute while commands
//! flow, a memory alarm that blocks publishing, a broker node restarted mid-flow, and a broker
//! node killed with `kill -9` while messages wait in their retry delays. Each ends with every
//! message applied exactly once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bus::{ConsumerConfig, Outgoing};
use contracts::Contract;
use contracts::catalog::StockReleased;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use testkit::{BrokerNode, TcpProxy};
use tokio_util::sync::CancellationToken;

use crate::harness::{Harness, QUEUE, RecordEffect, event, fast_relay, wait_for};

fn assert_each_once(effects: &[uuid::Uuid], expected: &[uuid::Uuid]) {
    let distinct: HashSet<_> = effects.iter().collect();
    assert_eq!(distinct.len(), effects.len(), "no message applied twice");
    assert_eq!(
        distinct,
        expected.iter().collect::<HashSet<_>>(),
        "every message applied"
    );
}

/// Postgres goes away for 60 s (a proxy of the test's own cuts every connection and refuses
/// new ones) while commands keep arriving. Nothing is dead-lettered — the consumer pauses
/// instead of spending attempts — and once Postgres is back every command is applied once.
#[sqlx::test(migrations = false)]
async fn postgres_away_for_a_minute_dead_letters_nothing_and_loses_nothing(
    pool: PgPool,
) -> anyhow::Result<()> {
    let options = (*pool.connect_options()).clone();
    let target: SocketAddr = format!("127.0.0.1:{}", options.get_port()).parse()?;
    let proxy = TcpProxy::start(target).await?;
    let proxied = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options.host("127.0.0.1").port(proxy.port()));
    let h = Harness::start(proxied).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let consuming = h.consume(
        RecordEffect::new(h.pool.clone()),
        ConsumerConfig::default(),
        shutdown.clone(),
    );

    // Commands flow all along: one every 100 ms, straight to the broker.
    let flowing = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicUsize::new(0));
    let producer = {
        let bus = h.bus.clone();
        let flowing = flowing.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            while flowing.load(Ordering::SeqCst) {
                let envelope = event();
                let id = envelope.id;
                bus.publisher()
                    .publish(&Outgoing::envelope(
                        &envelope.into_raw(),
                        StockReleased::DESTINATION,
                    ))
                    .await?;
                ids.push(id);
                sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::Ok(ids)
        })
    };
    h.wait_for_effects(10, Duration::from_secs(30)).await?;

    proxy.down();
    let before = sent.load(Ordering::SeqCst);
    // The outage lasts a minute: the drill's scenario, not a wait for something to happen.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let dead_during_outage = h.depth(&format!("{QUEUE}.dlq")).await?;
    let during = sent.load(Ordering::SeqCst) - before;
    proxy.up();

    flowing.store(false, Ordering::SeqCst);
    let ids = producer.await??;
    // ~600 at one per 100 ms; far fewer on a loaded machine. What matters is that commands
    // arrived while the database was away, so the consumer met them with it down.
    assert!(
        during >= 20,
        "commands kept flowing during the outage: {during}"
    );
    h.wait_for_effects(ids.len(), Duration::from_secs(90))
        .await?;
    shutdown.cancel();
    consuming.await??;
    assert_eq!(
        dead_during_outage, 0,
        "nothing dead-lettered during the outage"
    );
    assert_eq!(h.depth(&format!("{QUEUE}.dlq")).await?, 0);
    assert_each_once(&h.effects().await?, &ids);
    Ok(())
}

/// A memory alarm on a broker node of the test's own blocks publishing. The consumer — on its
/// own connection — keeps taking and acking what is queued; the relay's publishes fail fast or
/// time out, and no database transaction waits on the broker meanwhile. When the alarm clears,
/// the outbox drains and every event is applied once.
#[sqlx::test(migrations = false)]
async fn a_memory_alarm_blocks_publishing_while_consumers_keep_acking_and_no_transaction_waits(
    pool: PgPool,
) -> anyhow::Result<()> {
    let node = BrokerNode::start().await?;
    let h = Harness::start_at(pool, &node.url(), "outbox-alarm-test", None).await?;
    let queued: Vec<Outgoing> = (0..50)
        .map(|_| Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION))
        .collect();
    for result in h.bus.publisher().publish_all(&queued).await {
        result?;
    }
    node.set_memory_watermark(0.000_1).await?;

    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let pending = h.commit_events(20).await?;
    wait_for(Duration::from_secs(30), || async { Ok(h.bus.is_blocked()) }).await?;

    let consuming = h.consume(
        RecordEffect::new(h.pool.clone()),
        ConsumerConfig::default(),
        shutdown.clone(),
    );
    h.wait_for_effects(50, Duration::from_secs(30)).await?;
    assert_eq!(h.unpublished().await?, 20, "publishing is blocked");
    for _ in 0..20 {
        let waiting_in_transaction: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&h.pool)
        .await?;
        assert_eq!(
            waiting_in_transaction, 0,
            "no transaction waits on the broker"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    node.set_memory_watermark(0.4).await?;
    h.wait_for_effects(70, Duration::from_secs(60)).await?;
    shutdown.cancel();
    consuming.await??;
    let mut expected: Vec<uuid::Uuid> = queued
        .iter()
        .map(|m| m.message_id.parse())
        .collect::<Result<_, _>>()?;
    expected.extend(pending);
    assert_each_once(&h.effects().await?, &expected);
    Ok(())
}

/// The broker node of the test's own restarts (its application stopped for 5 s, refusing
/// connections, then started: every connection closed, the queues recovered from disk) while
/// events flow: the bus replaces its
/// connections, consumers subscribe again, the relay publishes what waited, and every event is
/// applied exactly once.
#[sqlx::test(migrations = false)]
async fn a_broker_restarted_mid_flow_loses_nothing_and_applies_nothing_twice(
    pool: PgPool,
) -> anyhow::Result<()> {
    let node = BrokerNode::start().await?;
    let h = Harness::start_at(pool, &node.url(), "outbox-restart-test", None).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let consuming = h.consume_with_inbox(shutdown.clone());
    let mut ids = h.commit_events(200).await?;
    h.wait_for_effects(20, Duration::from_secs(30)).await?;

    node.ctl(&["stop_app"]).await?;
    wait_for(Duration::from_secs(30), || async {
        Ok(!h.bus.is_connected())
    })
    .await?;
    ids.extend(h.commit_events(100).await?);
    // The outage itself (not a wait for anything): long enough for several reconnect attempts
    // to be refused.
    tokio::time::sleep(Duration::from_secs(5)).await;
    node.ctl(&["start_app"]).await?;
    ids.extend(h.commit_events(100).await?);

    h.wait_for_effects(400, Duration::from_secs(120)).await?;
    assert!(h.bus.is_connected(), "the bus replaced its connections");
    shutdown.cancel();
    consuming.await??;
    assert_each_once(&h.effects().await?, &ids);
    Ok(())
}

/// 500 messages, each failing its first attempt, so each waits in the retry store; the broker
/// node of the test's own is killed with `kill -9` while those retries are due, and started
/// again on the same data directory. Every message is applied exactly once: none lost (the
/// work queue is a quorum queue, the retries are rows in the test's database), none applied
/// twice (the inbox absorbs redeliveries of deliveries whose acks died with the node).
#[sqlx::test(migrations = false)]
async fn a_broker_killed_mid_retry_loses_nothing_and_applies_nothing_twice(
    pool: PgPool,
) -> anyhow::Result<()> {
    let node = BrokerNode::start().await?;
    let h = Harness::start_at(pool.clone(), &node.url(), "outbox-kill-test", None).await?;
    // The queues were declared a moment ago; a broker that has run for a while has their
    // registrations on disk (see BrokerNode::persist_queue_registry).
    node.persist_queue_registry().await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let handler = RecordEffect::retrying_each_once(pool.clone());
    let config = ConsumerConfig {
        backoff: resilience::Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(4),
            jitter: resilience::Jitter::Equal,
        },
        ..ConsumerConfig::default()
    };
    let consuming = h.consume(handler.clone(), config, shutdown.clone());
    let ids = h.commit_events(500).await?;
    // Mid-retry: some first attempts have failed and wait in the retry store.
    wait_for(Duration::from_secs(60), || async {
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&pool)
                .await?;
        Ok(handler.deliveries() >= 100 && waiting > 0)
    })
    .await?;

    node.kill().await?;
    node.restart().await?;

    h.wait_for_effects(500, Duration::from_secs(180)).await?;
    shutdown.cancel();
    consuming.await??;
    assert_each_once(&h.effects().await?, &ids);
    Ok(())
}
