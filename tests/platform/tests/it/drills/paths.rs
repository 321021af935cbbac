//! A path from the services to a server slowed, black-holed, reset (the fault proxies), and
//! Redis gone.

use std::time::{Duration, Instant};

use platform_tests::faults::{Link, Mode, Svc};
use platform_tests::invariants;
use platform_tests::platform::{Options, Platform};

use super::{DECLINED_EVERY, EVERY, RECOVERY, setup};

/// Latency 200 ms for 3 s, a black hole for 4 s, a reset, on `link` of every service that has
/// one, mid-stream; then the path is clean again.
async fn degraded_path(name: &str, link: Link) -> anyhow::Result<()> {
    let (platform, shop) = setup(Options::default()).await?;
    let on_every = |platform: &Platform, mode: Mode| {
        for svc in Svc::ALL {
            if svc.links().contains(&link) {
                platform.fault(svc, link, mode);
            }
        }
    };
    let (placed, fault) = tokio::join!(shop.stream(&platform, 24, EVERY, DECLINED_EVERY), async {
        tokio::time::sleep(Duration::from_secs(1)).await; // mid-stream
        on_every(&platform, Mode::Latency(200));
        tokio::time::sleep(Duration::from_secs(3)).await; // the fault's duration
        on_every(&platform, Mode::Blackhole);
        tokio::time::sleep(Duration::from_secs(4)).await; // the fault's duration
        on_every(&platform, Mode::Reset);
        tokio::time::sleep(Duration::from_millis(500)).await; // the fault's duration
        on_every(&platform, Mode::Pass);
        anyhow::Ok(Instant::now())
    });
    invariants::check(name, &platform, &shop, &placed?, fault?, RECOVERY).await?;
    platform.finish().await
}

#[tokio::test]
async fn postgres_path_slowed_blackholed_and_reset() -> anyhow::Result<()> {
    degraded_path("postgres_path", Link::Postgres).await
}

#[tokio::test]
async fn broker_path_slowed_blackholed_and_reset() -> anyhow::Result<()> {
    degraded_path("broker_path", Link::Broker).await
}

/// The Redis of payments' shared rate limit killed mid-stream for 6 s, then started again
/// (empty): payments falls back to its local share and keeps charging.
#[tokio::test]
async fn redis_unavailable_for_a_while() -> anyhow::Result<()> {
    let (mut platform, shop) = setup(Options {
        own_redis: true,
        ..Options::default()
    })
    .await?;
    platform.redis_mut()?.kill().await?;
    // Killed before the stream: `redis_mut` needs the platform to itself, the stream shares it.
    let placed = shop.stream(&platform, 24, EVERY, DECLINED_EVERY).await;
    let ready = platform.readiness(Svc::Payments).await?;
    assert!(
        ready["reasons"]["gateway.ratelimit"]
            .as_str()
            .is_some_and(|r| r.contains("redis unavailable")),
        "payments ran on its local share and says so: {ready}"
    );
    platform.redis_mut()?.restart().await?;
    let fault_ended = Instant::now();
    invariants::check(
        "redis_unavailable",
        &platform,
        &shop,
        &placed?,
        fault_ended,
        RECOVERY,
    )
    .await?;
    platform.wait_ready(Svc::Payments, RECOVERY).await?;
    platform.finish().await
}
