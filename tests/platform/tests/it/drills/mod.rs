//! Drills: a stream of orders through one fault at a time, ended by the invariant checker
//! (`platform_tests::invariants`), each printing its `drill name=… ` line. docs/reliability.md
//! says what each proves and what it cannot.
//!
//! Sleeps in the drills are the fault's duration or the moment mid-stream it begins (any moment
//! will do), never a wait for something to have happened: those poll with a deadline.

mod broker;
mod cluster;
mod gateway;
mod paths;
mod services;

use std::time::Duration;

use platform_tests::platform::{Options, Platform};
use platform_tests::shop::Shop;

/// Between two orders of a stream.
const EVERY: Duration = Duration::from_millis(250);
/// How long after a fault ends every order must be final: a message's retries back off up to
/// 30 s (bus `ConsumerConfig`), a consumer paused by its kill switch waits up to 10 s, and four
/// drills share two cores under `make test` (the slowest seen, `postgres_path`: 50 s).
const RECOVERY: Duration = Duration::from_secs(90);
/// Every sixth order is paid with the declined card (its stock must come back).
const DECLINED_EVERY: Option<usize> = Some(6);

/// The platform and a store with three products (stock enough for every stream).
async fn setup(options: Options) -> anyhow::Result<(Platform, Shop)> {
    let platform = Platform::start(options).await?;
    let shop = Shop::open(
        &platform,
        "Drill",
        &[
            ("Café", 2500, 100),
            ("Chá", 1500, 100),
            ("Caneca", 4000, 100),
        ],
    )
    .await?;
    Ok((platform, shop))
}
