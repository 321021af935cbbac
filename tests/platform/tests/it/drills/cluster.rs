//! A real cluster: three RabbitMQ nodes of the test's own, every work queue a quorum queue
//! replicated on all three. The node leading the most work queues is `kill -9`ed mid-stream
//! and returns 5 s later. The services reach the cluster through their broker link's proxy as
//! through a load balancer: when the node they were connected to dies, the proxy is pointed at
//! a survivor and the bus's recovery reconnects there.

use std::time::{Duration, Instant};

use platform_tests::faults::Svc;
use platform_tests::invariants;
use platform_tests::platform::{Broker, Options};
use platform_tests::shop::Shop;

use super::{DECLINED_EVERY, EVERY, RECOVERY, setup};

#[tokio::test]
async fn cluster_node_leading_the_busiest_queues_killed_and_returning() -> anyhow::Result<()> {
    let (platform, shop) = setup(Options {
        broker: Broker::Cluster,
        ..Options::default()
    })
    .await?;
    let cluster = platform.broker_cluster()?;
    // testkit's BrokerNode docs: a quorum queue declared moments ago is lost on kill -9 on
    // 3.10.8 unless the registry is written out first (a production queue is older).
    for node in cluster.nodes() {
        node.persist_queue_registry().await?;
    }
    let queues: Vec<&str> = Svc::ALL
        .iter()
        .flat_map(|svc| svc.queues())
        .copied()
        .collect();
    let cards = Shop::cards(&platform, 30, DECLINED_EVERY).await?;
    let (placed, fault) = tokio::join!(shop.stream_cards(&platform, cards, EVERY), async {
        tokio::time::sleep(Duration::from_secs(2)).await; // mid-stream
        let victim = cluster.leading_most(&queues).await?;
        let survivor = cluster
            .nodes()
            .iter()
            .find(|n| n.name() != victim.name())
            .expect("three nodes");
        let was_connected = platform.amqp_url() == victim.url();
        victim.kill().await?;
        let killed = Instant::now();
        // The load balancer notices: new connections go to a survivor.
        platform.point_broker_at(survivor);
        // The survivors elect new leaders for what the victim led.
        let elected =
            platform_tests::eventually("new leaders on the survivors", RECOVERY, || async {
                let leaders = cluster.leaders(survivor).await?;
                let still = leaders
                    .iter()
                    .filter(|(queue, leader)| {
                        leader == victim.name() && queues.contains(&queue.as_str())
                    })
                    .count();
                Ok((still == 0 && !leaders.is_empty()).then_some(()))
            })
            .await;
        tokio::time::sleep(Duration::from_secs(5).saturating_sub(killed.elapsed())).await; // the node's absence
        elected?;
        victim.restart().await?;
        println!(
            "cluster victim={} was_connected={was_connected}",
            victim.name()
        );
        anyhow::Ok(Instant::now())
    });
    invariants::check(
        "cluster_node_killed",
        &platform,
        &shop,
        &placed?,
        fault?,
        RECOVERY,
    )
    .await?;
    platform.finish().await
}
