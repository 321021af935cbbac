//! The broker: every connection closed by force, and the node itself killed with `kill -9`.

use std::time::{Duration, Instant};

use platform_tests::invariants;
use platform_tests::platform::{Broker, Options};

use super::{DECLINED_EVERY, EVERY, RECOVERY, setup};

/// Every client connection on the platform's vhost closed by the broker, twice, mid-stream:
/// the bus recovers its connections and consumers, the publish in flight is retried.
#[tokio::test]
async fn every_broker_connection_closed_mid_flow() -> anyhow::Result<()> {
    let (platform, shop) = setup(Options::default()).await?;
    let (placed, fault) = tokio::join!(shop.stream(&platform, 24, EVERY, DECLINED_EVERY), async {
        // Each of the four services holds a publishing and a consuming connection; the
        // second round waits for all eight to have come back (under new names) first.
        let mut closed = Vec::new();
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_secs(2)).await; // mid-stream
            closed = platform.close_broker_connections(8, &closed).await?;
        }
        anyhow::Ok(Instant::now())
    });
    invariants::check(
        "broker_connections_closed",
        &platform,
        &shop,
        &placed?,
        fault?,
        RECOVERY,
    )
    .await?;
    platform.finish().await
}

/// The platform's own RabbitMQ node killed with `kill -9` mid-stream and started again 3 s
/// later on its data: quorum queues keep what they confirmed, publishers retry from the
/// outbox, consumers subscribe again.
#[tokio::test]
async fn broker_killed_and_restarted() -> anyhow::Result<()> {
    let (platform, shop) = setup(Options {
        broker: Broker::OwnNode,
        ..Options::default()
    })
    .await?;
    // testkit's BrokerNode docs: a quorum queue declared moments ago is lost on kill -9 on
    // 3.10.8 unless the registry is written out first (a production queue is older).
    platform.broker_node()?.persist_queue_registry().await?;
    let (placed, fault) = tokio::join!(shop.stream(&platform, 24, EVERY, DECLINED_EVERY), async {
        tokio::time::sleep(Duration::from_secs(2)).await; // mid-stream
        let node = platform.broker_node()?;
        node.kill().await?;
        tokio::time::sleep(Duration::from_secs(3)).await; // the outage's duration
        node.restart().await?;
        anyhow::Ok(Instant::now())
    });
    invariants::check(
        "broker_killed",
        &platform,
        &shop,
        &placed?,
        fault?,
        RECOVERY,
    )
    .await?;
    platform.finish().await
}
