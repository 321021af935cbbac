//! The shared gateway rate limit against the local Redis (a key per test): three "processes"
//! (three limits, each with its own connection) pushing as hard as they can stay together
//! under the limit; with Redis away (a proxy of the test's own, down) each falls back to its
//! local share, says it is degraded, and resumes the shared limit when Redis returns.

use std::sync::Arc;
use std::time::Duration;

use payments::ratelimit::{GatewayLimit, LimitConfig};
use tokio::time::Instant;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn config(key: &str, rate_per_s: u32, replicas: u32) -> LimitConfig {
    LimitConfig {
        key: key.to_owned(),
        rate_per_s,
        burst: 1,
        replicas,
    }
}

#[tokio::test]
async fn three_processes_stay_together_under_the_limit() -> anyhow::Result<()> {
    let key = format!("it:ratelimit:{}", uuid::Uuid::now_v7());
    let rate = 40;
    let run_for = Duration::from_millis(1500);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let limit = Arc::new(GatewayLimit::new(&redis_url(), config(&key, rate, 3))?);
        for _ in 0..4 {
            let limit = limit.clone();
            workers.push(tokio::spawn(async move {
                let mut admitted = Vec::new();
                while start.elapsed() < run_for {
                    limit.acquire().await;
                    admitted.push(start.elapsed());
                    assert_eq!(limit.degraded(), None);
                }
                admitted
            }));
        }
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await?);
    }
    all.retain(|at| *at < run_for);
    all.sort();
    // GCRA with a burst of one spaces admissions 25 ms apart across all twelve workers: at
    // most rate × window + 1 in any window. Tolerance: one extra admission per window
    // (Redis's clock and ours are read at different moments).
    let window = Duration::from_secs(1);
    let worst = all
        .iter()
        .map(|from| {
            all.iter()
                .filter(|at| **at >= *from && **at < *from + window)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(worst <= rate as usize + 2, "worst 1 s window: {worst}");
    let expected = rate as f64 * run_for.as_secs_f64();
    assert!(
        all.len() as f64 >= expected * 0.7,
        "throughput too low: {} of ~{expected}",
        all.len()
    );
    Ok(())
}

#[tokio::test]
async fn without_redis_each_process_takes_its_share_and_says_so() -> anyhow::Result<()> {
    let redis = redis_url();
    let target = redis
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()?;
    let proxy = testkit::TcpProxy::start(target).await?;
    let key = format!("it:ratelimit:{}", uuid::Uuid::now_v7());
    // 30/s shared by 3 replicas: 10/s, one every 100 ms, each on its own.
    let limit = GatewayLimit::new(
        &format!("redis://127.0.0.1:{}", proxy.port()),
        config(&key, 30, 3),
    )?;
    limit.acquire().await;
    assert_eq!(limit.degraded(), None, "shared limit in force");

    proxy.down();
    let start = Instant::now();
    for _ in 0..4 {
        limit.acquire().await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "the local share spaces calls 100 ms apart: {:?}",
        start.elapsed()
    );
    let reason = limit.degraded().unwrap_or_default();
    assert!(reason.starts_with("redis unavailable"), "{reason}");

    proxy.up();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        limit.acquire().await;
        if limit.degraded().is_none() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "still degraded");
    }
    Ok(())
}
