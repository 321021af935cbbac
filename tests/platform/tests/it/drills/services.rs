//! A service away: stopped (SIGTERM, it drains) or killed (SIGKILL) mid-stream, then back.

use std::time::{Duration, Instant};

use platform_tests::faults::Svc;
use platform_tests::invariants;
use platform_tests::platform::Options;
use serde_json::json;

use super::{DECLINED_EVERY, EVERY, RECOVERY, setup};

/// Stops `svc` 1.5 s into a stream of `orders` for `away`, then starts it again; checks.
async fn stopped_for_a_while(
    name: &str,
    svc: Svc,
    orders: usize,
    away: Duration,
) -> anyhow::Result<()> {
    let (platform, shop) = setup(Options::default()).await?;
    let (placed, fault) = tokio::join!(
        shop.stream(&platform, orders, EVERY, DECLINED_EVERY),
        async {
            tokio::time::sleep(Duration::from_millis(1500)).await; // mid-stream
            platform.stop(svc).await?;
            tokio::time::sleep(away).await; // the fault's duration
            platform.restart(svc).await?;
            anyhow::Ok(Instant::now())
        }
    );
    invariants::check(name, &platform, &shop, &placed?, fault?, RECOVERY).await?;
    platform.finish().await
}

#[tokio::test]
async fn catalog_stopped_then_restarted() -> anyhow::Result<()> {
    stopped_for_a_while("catalog_stopped", Svc::Catalog, 24, Duration::from_secs(6)).await
}

#[tokio::test]
async fn payments_stopped_then_restarted() -> anyhow::Result<()> {
    stopped_for_a_while(
        "payments_stopped",
        Svc::Payments,
        24,
        Duration::from_secs(6),
    )
    .await
}

#[tokio::test]
async fn notifications_stopped_for_a_while() -> anyhow::Result<()> {
    stopped_for_a_while(
        "notifications_stopped",
        Svc::Notifications,
        24,
        Duration::from_secs(8),
    )
    .await
}

/// Payments SIGKILLed while the gateway is still making charges (each takes 1.5 s at the
/// simulator): the unacknowledged commands come back to the restarted process, which calls
/// again with the same idempotency key — one charge per order.
#[tokio::test]
async fn payments_killed_while_charges_are_in_flight() -> anyhow::Result<()> {
    let (platform, shop) = setup(Options::default()).await?;
    platform
        .sim_faults(json!({"charge_latency_ms": 1500}))
        .await?;
    let (placed, fault) = tokio::join!(shop.stream(&platform, 20, EVERY, DECLINED_EVERY), async {
        // Mid-stream, with charges held at the gateway.
        tokio::time::sleep(Duration::from_secs(3)).await;
        platform.kill(Svc::Payments).await?;
        tokio::time::sleep(Duration::from_secs(2)).await; // the fault's duration
        platform.restart(Svc::Payments).await?;
        anyhow::Ok(Instant::now())
    });
    let placed = placed?;
    let fault_ended = fault?;
    platform.clear_sim_faults().await?;
    invariants::check(
        "payments_killed",
        &platform,
        &shop,
        &placed,
        fault_ended,
        RECOVERY,
    )
    .await?;
    platform.finish().await
}
