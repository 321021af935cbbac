use std::time::{Duration, Instant};

use bus::{ConsumerConfig, Outcome, Outgoing};
use contracts::Contract;
use contracts::catalog::StockReleased;
use resilience::{Backoff, Jitter};

use crate::harness::{Harness, QUEUE, Recorder, event};

const BASE: Duration = Duration::from_millis(400);
/// What the ladder's hops and a loaded machine (tests run in parallel) may add to a delay.
const SLACK: Duration = Duration::from_millis(500);

#[tokio::test]
async fn transient_failures_retry_with_growing_jittered_gaps_then_succeed_once()
-> anyhow::Result<()> {
    let h = Harness::start().await?;
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
    let consuming = h.consume(handler.clone(), config);
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
    consuming.stop().await?;

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

#[tokio::test]
async fn a_herd_failing_together_comes_back_spread_over_its_jitter_window() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = Recorder::new(|attempt| {
        if attempt == 1 {
            Outcome::Retry("busy".into())
        } else {
            Outcome::Done
        }
    });
    let window = Duration::from_millis(2000);
    let config = ConsumerConfig {
        prefetch: 250,
        max_attempts: 3,
        // Full jitter with base = cap: every retry delay is uniform over [0, window].
        backoff: Backoff {
            base: window,
            cap: window,
            jitter: Jitter::Full,
        },
    };
    let consuming = h.consume(handler.clone(), config);
    let messages: Vec<Outgoing> = (0..200)
        .map(|_| Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION))
        .collect();
    for result in h.bus.publisher().publish_all(&messages).await {
        result?;
    }
    handler
        .wait_until(Duration::from_secs(20), |c| {
            c.iter().filter(|c| c.attempt == 2).count() == 200
        })
        .await?;
    consuming.stop().await?;

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
    // Each message's own gap between failure and retry, in ten buckets of 200 ms: uniform
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
        match buckets.get_mut((gap.as_millis() / 200) as usize) {
            Some(bucket) => *bucket += 1,
            None => late += 1,
        }
    }
    eprintln!("retry gaps per 200 ms bucket: {buckets:?}, later: {late}");
    // The ladder's hops shift every gap a little later, so the first bucket may run thin and
    // some land past the window; the middle of the window must be evenly filled.
    for (i, count) in buckets.iter().enumerate().skip(1) {
        assert!(
            (5..=45).contains(count),
            "bucket {i} has {count}: {buckets:?}"
        );
    }
    assert!(
        late <= 60,
        "{late} retries came after the window: {buckets:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_short_delay_is_not_held_behind_a_long_one() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    let publisher = h.bus.publisher();
    let long = event();
    let short = event();
    let long_id = long.id;
    let short_id = short.id;
    let start = Instant::now();
    publisher
        .publish_delayed(
            &Outgoing::envelope(&long.into_raw(), StockReleased::DESTINATION),
            QUEUE,
            Duration::from_secs(10),
        )
        .await?;
    publisher
        .publish_delayed(
            &Outgoing::envelope(&short.into_raw(), StockReleased::DESTINATION),
            QUEUE,
            Duration::from_millis(100),
        )
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
    consuming.stop().await?;
    Ok(())
}
