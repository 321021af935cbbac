use std::time::{Duration, Instant};

use bus::{ConsumerConfig, Outcome, Outgoing, Retry};
use contracts::Contract;
use contracts::catalog::StockReleased;
use outbox::Retries;
use resilience::{Backoff, Jitter};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::harness::{Harness, QUEUE, Recorder, event, fast_relay};

const BASE: Duration = Duration::from_millis(400);
/// What the relay's wake-up and a loaded machine (tests run in parallel) may add to a delay.
const SLACK: Duration = Duration::from_millis(500);

#[sqlx::test(migrations = false)]
async fn transient_failures_retry_with_growing_jittered_gaps_then_succeed_once(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let handler = Recorder::new(|attempt| {
        if attempt < 3 {
            Outcome::Retry("peer unavailable".into())
        } else {
            Outcome::Done
        }
    });
    let config = ConsumerConfig {
        max_attempts: 5,
        // Equal jitter: delay n lies in [v/2, v] for v = base·2^(n-1), so gaps must grow.
        backoff: Backoff {
            base: BASE,
            cap: Duration::from_secs(5),
            jitter: Jitter::Equal,
        },
        ..ConsumerConfig::default()
    };
    let consuming = h.consume(handler.clone(), config, shutdown.clone());
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(h.publish_event().await?);
    }
    handler
        .wait_until(Duration::from_secs(15), |c| {
            c.iter().filter(|c| c.attempt == 3).count() == 6
        })
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    consuming.await??;

    let mut second_gaps = Vec::new();
    for id in ids {
        let calls = handler.calls_for(id);
        let attempts: Vec<u32> = calls.iter().map(|c| c.attempt).collect();
        assert_eq!(attempts, [1, 2, 3], "effect once, on the third attempt");
        let gap1 = calls[1].at - calls[0].at;
        let gap2 = calls[2].at - calls[1].at;
        assert!(
            gap1 >= BASE / 2 && gap1 <= BASE + SLACK,
            "first gap {gap1:?}"
        );
        assert!(
            gap2 >= BASE && gap2 <= BASE * 2 + SLACK,
            "second gap {gap2:?}"
        );
        second_gaps.push(gap2);
    }
    second_gaps.sort();
    assert!(
        second_gaps[5] - second_gaps[0] > Duration::from_millis(10),
        "jitter: gaps of different messages differ: {second_gaps:?}"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_herd_failing_together_comes_back_spread_over_its_jitter_window(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let handler = Recorder::new(|attempt| {
        if attempt == 1 {
            Outcome::Retry("busy".into())
        } else {
            Outcome::Done
        }
    });
    let window = Duration::from_millis(4000);
    let config = ConsumerConfig {
        prefetch: 250,
        max_attempts: 3,
        // Full jitter with base = cap: every retry delay is uniform over [0, window].
        backoff: Backoff {
            base: window,
            cap: window,
            jitter: Jitter::Full,
        },
        ..ConsumerConfig::default()
    };
    let consuming = h.consume(handler.clone(), config, shutdown.clone());
    let messages: Vec<Outgoing> = (0..200)
        .map(|_| Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION))
        .collect();
    for result in h.bus.publisher().publish_all(&messages).await {
        result?;
    }
    // When every retry is stored: a retry cannot go out before its row commits, so gaps
    // shorter than this say how busy the database was, not how the jitter is spread.
    crate::harness::wait_for(Duration::from_secs(20), || async {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE attempt = 2")
            .fetch_one(&h.pool)
            .await?;
        Ok(stored == 200)
    })
    .await?;
    let all_stored = Instant::now();
    handler
        .wait_until(Duration::from_secs(30), |c| {
            c.iter().filter(|c| c.attempt == 2).count() == 200
        })
        .await?;
    shutdown.cancel();
    consuming.await??;

    let calls = handler.calls();
    let first = calls
        .iter()
        .filter(|c| c.attempt == 1)
        .map(|c| c.at)
        .min()
        .unwrap();
    let last = calls
        .iter()
        .filter(|c| c.attempt == 1)
        .map(|c| c.at)
        .max()
        .unwrap();
    assert!(
        last - first < Duration::from_secs(5),
        "the herd failed together"
    );
    // Each message's own gap between failure and retry, in ten buckets of 400 ms: uniform
    // jitter puts ~20 in each; a delay queue releasing in clumps would empty some and pile up
    // others.
    let mut buckets = [0usize; 10];
    let mut late = 0;
    for retry in calls.iter().filter(|c| c.attempt == 2) {
        let failure = calls
            .iter()
            .find(|c| c.attempt == 1 && c.message_id == retry.message_id)
            .unwrap();
        let gap = retry.at - failure.at;
        match buckets.get_mut((gap.as_millis() / 400) as usize) {
            Some(bucket) => *bucket += 1,
            None => late += 1,
        }
    }
    // Buckets that begin after every retry was stored measure the jitter alone; the earlier
    // ones also hold the retries whose delay was shorter than the wait for their commit (200
    // commits into a pool of 10 on a busy machine).
    let lag = all_stored - first;
    let first_clean = (lag.as_millis() / 400 + 1) as usize;
    eprintln!("retry gaps per 400 ms bucket: {buckets:?}, later: {late}, all stored after {lag:?}");
    assert!(
        first_clean <= 5,
        "the database took {lag:?} to store 200 retries: too slow to judge the spread"
    );
    for (i, count) in buckets.iter().enumerate().skip(first_clean) {
        assert!(
            (5..=45).contains(count),
            "bucket {i} has {count}: {buckets:?}"
        );
    }
    assert!(
        late <= 40,
        "{late} retries came after the window: {buckets:?}"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_short_delay_is_not_held_behind_a_long_one(pool: PgPool) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default(), shutdown.clone());
    let retries = Retries::new(h.pool.clone());
    let long = event();
    let short = event();
    let long_id = long.id;
    let short_id = short.id;
    let retry = |envelope: contracts::Envelope<StockReleased>, delay| Retry {
        queue: QUEUE.to_owned(),
        message: Outgoing::envelope(&envelope.into_raw(), StockReleased::DESTINATION)
            .to_queue(QUEUE),
        attempt: 2,
        delay,
        failed_at: Instant::now(),
    };
    let start = Instant::now();
    retries
        .schedule_retry(&retry(long, Duration::from_secs(10)))
        .await?;
    retries
        .schedule_retry(&retry(short, Duration::from_millis(100)))
        .await?;
    handler
        .wait_until(Duration::from_secs(5), |c| {
            c.iter().any(|c| c.message_id == short_id)
        })
        .await?;
    let short_arrival = handler.calls_for(short_id)[0].at - start;
    assert!(
        short_arrival >= Duration::from_millis(100),
        "arrived early: {short_arrival:?}"
    );
    assert!(
        short_arrival < Duration::from_millis(1000),
        "held back: {short_arrival:?}"
    );
    assert!(
        handler.calls_for(long_id).is_empty(),
        "the 10 s message is still waiting"
    );
    shutdown.cancel();
    consuming.await??;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_message_that_always_fails_is_dead_lettered_after_the_cap(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let doomed = event();
    let doomed_id = doomed.id;
    let handler = Recorder::new(|_| Outcome::Retry("peer down".into()));
    let config = ConsumerConfig {
        max_attempts: 3,
        backoff: Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
            jitter: Jitter::Full,
        },
        ..ConsumerConfig::default()
    };
    let consuming = h.consume(handler.clone(), config, shutdown.clone());
    h.bus
        .publisher()
        .publish(&Outgoing::envelope(
            &doomed.into_raw(),
            StockReleased::DESTINATION,
        ))
        .await?;
    let dlq = format!("{QUEUE}.dlq");
    crate::harness::wait_for(Duration::from_secs(15), || async {
        Ok(h.depth(&dlq).await? == 1)
    })
    .await?;
    shutdown.cancel();
    consuming.await??;

    let attempts: Vec<u32> = handler
        .calls_for(doomed_id)
        .iter()
        .map(|c| c.attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3], "three attempts, then given up");
    let dead = h.bus.take(&dlq, 10).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message_id, Some(doomed_id.to_string()));
    assert_eq!(dead[0].header("x-error"), Some("peer down"));
    assert_eq!(dead[0].header("x-error-kind"), Some("retries-exhausted"));
    assert_eq!(dead[0].header("x-attempts"), Some("3"));
    assert!(dead[0].header("x-death").is_some(), "RabbitMQ's x-death");
    assert_eq!(h.depth(QUEUE).await?, 0);
    let retry_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_id = $1 AND attempt > 1")
            .bind(doomed_id)
            .fetch_one(&h.pool)
            .await?;
    assert_eq!(retry_rows, 2, "each retry waited in the database");
    Ok(())
}

/// A failure seen twice (the delivery came back after a lost ack) schedules its retry once.
#[sqlx::test(migrations = false)]
async fn a_retry_is_scheduled_once_per_message_and_attempt(pool: PgPool) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let retries = Retries::new(h.pool.clone());
    let retry = Retry {
        queue: QUEUE.to_owned(),
        message: Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION)
            .to_queue(QUEUE),
        attempt: 2,
        delay: Duration::from_millis(10),
        failed_at: Instant::now(),
    };
    assert!(retries.schedule_retry(&retry).await?);
    assert!(!retries.schedule_retry(&retry).await?, "not twice");
    let next = Retry {
        attempt: 3,
        ..retry.clone()
    };
    assert!(
        retries.schedule_retry(&next).await?,
        "the next attempt is its own"
    );
    Ok(())
}

/// The retry store refuses (its table is gone for three seconds): the delivery goes back to the
/// queue without spending an attempt, and the consumer backs off instead of re-running the
/// handler ten times a second. When the store returns, the retry is scheduled and runs once.
#[sqlx::test(migrations = false)]
async fn a_failing_retry_store_is_backed_off_not_spun_on_and_loses_nothing(
    pool: PgPool,
) -> anyhow::Result<()> {
    let h = Harness::start(pool).await?;
    let shutdown = CancellationToken::new();
    h.run_relay(fast_relay(), shutdown.clone());
    let handler = Recorder::new(|attempt| {
        if attempt == 1 {
            Outcome::Retry("peer busy".into())
        } else {
            Outcome::Done
        }
    });
    let config = ConsumerConfig {
        backoff: Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(50),
            jitter: Jitter::None,
        },
        ..ConsumerConfig::default()
    };
    sqlx::query("ALTER TABLE outbox RENAME TO outbox_away")
        .execute(&h.pool)
        .await?;
    let consuming = h.consume(handler.clone(), config, shutdown.clone());
    let id = h.publish_event().await?;
    handler
        .wait_until(Duration::from_secs(10), |c| !c.is_empty())
        .await?;
    // The fault lasts three seconds: the test's scenario, not a wait for something to happen.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = handler.calls_for(id);
    sqlx::query("ALTER TABLE outbox_away RENAME TO outbox")
        .execute(&h.pool)
        .await?;
    handler
        .wait_until(Duration::from_secs(20), |c| {
            c.iter().any(|c| c.attempt == 2)
        })
        .await?;
    shutdown.cancel();
    consuming.await??;

    assert!(
        during.len() <= 8,
        "backed off: {} handler runs in 3 s",
        during.len()
    );
    assert!(
        during.iter().all(|c| c.attempt == 1),
        "a put-back spends no attempt: {:?}",
        during.iter().map(|c| c.attempt).collect::<Vec<_>>()
    );
    let calls = handler.calls_for(id);
    assert_eq!(
        calls.iter().filter(|c| c.attempt == 2).count(),
        1,
        "the retry ran once"
    );
    Ok(())
}
