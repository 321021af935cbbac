//! The gateway misbehaving, through the simulator's fault controls.

use std::time::{Duration, Instant};

use platform_tests::faults::Svc;
use platform_tests::invariants;
use platform_tests::platform::Options;
use platform_tests::shop::Shop;
use serde_json::json;

use super::{DECLINED_EVERY, EVERY, RECOVERY, setup};

/// A 10-second outage (every gateway call answers 503) mid-stream: payments records each
/// charge as waiting (`pending_offline`/`gateway_error`), checkout waits (`awaiting_payment`),
/// and the settle job charges each once when the gateway returns.
#[tokio::test]
async fn gateway_outage_of_ten_seconds_then_recovery() -> anyhow::Result<()> {
    let (platform, shop) = setup(Options::default()).await?;
    let cards = Shop::cards(&platform, 30, DECLINED_EVERY).await?;
    let (placed, fault) = tokio::join!(shop.stream_cards(&platform, cards, EVERY), async {
        tokio::time::sleep(Duration::from_secs(1)).await; // mid-stream
        platform.sim_faults(json!({"outage": true})).await?;
        tokio::time::sleep(Duration::from_secs(10)).await; // the outage's duration
        platform.clear_sim_faults().await?;
        anyhow::Ok(Instant::now())
    });
    invariants::check(
        "gateway_outage",
        &platform,
        &shop,
        &placed?,
        fault?,
        RECOVERY,
    )
    .await?;
    let waited = platform
        .count(
            Svc::Payments,
            "SELECT count(DISTINCT payment_id) FROM payment_attempts
             WHERE to_status IN ('pending_offline', 'gateway_error')",
        )
        .await?;
    assert!(
        waited > 0,
        "the outage bit: payments waited for the gateway"
    );
    platform.finish().await
}

/// The gateway admits 2 calls a second and answers the rest 429 with `Retry-After: 1`:
/// payments waits as told (and settles what ran out of retries), nothing is charged twice.
#[tokio::test]
async fn gateway_answering_429_with_retry_after() -> anyhow::Result<()> {
    let (platform, shop) = setup(Options::default()).await?;
    let cards = Shop::cards(&platform, 24, DECLINED_EVERY).await?;
    platform.sim_faults(json!({"rate_limit_per_s": 2})).await?;
    let placed = shop.stream_cards(&platform, cards, EVERY / 2).await;
    platform.clear_sim_faults().await?;
    let fault_ended = Instant::now();
    let placed = placed?;
    invariants::check(
        "gateway_429",
        &platform,
        &shop,
        &placed,
        fault_ended,
        RECOVERY,
    )
    .await?;
    let charge_calls = platform
        .sim_calls()
        .await?
        .iter()
        .filter(|(method, path)| method == "POST" && path == "/core/v5/orders")
        .count();
    assert!(
        charge_calls > placed.len(),
        "the limit bit: {charge_calls} charge calls for {} orders",
        placed.len()
    );
    platform.finish().await
}
