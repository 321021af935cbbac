//! A bus given several brokers (a cluster's nodes, comma-separated in its URL) opens its
//! connections on the first that answers, and replaces connections lost with one broker on
//! the next. The "lost broker" is a fault proxy of the test's own in front of the real one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, ConsumerConfig, Outcome, QueueSpec, Topology};
use testkit::{FaultMode, FaultProxy, Vhost};

use crate::harness::{Harness, QUEUE, Recorder};

/// `url` with its `host:port` replaced by `addr`.
fn via(url: &str, addr: std::net::SocketAddr) -> String {
    let (scheme_credentials, rest) = url.split_once('@').expect("credentials in the URL");
    let (_, vhost) = rest.split_once('/').expect("a vhost in the URL");
    format!("{scheme_credentials}@{addr}/{vhost}")
}

/// The broker's address, as the vhost's URL names it.
fn broker(url: &str) -> std::net::SocketAddr {
    let authority = url.split_once('@').expect("credentials").1;
    let host_port = authority.split('/').next().expect("host:port");
    host_port
        .replace("localhost", "127.0.0.1")
        .parse()
        .expect("host:port")
}

async fn harness_on(vhost: Vhost, url: String) -> anyhow::Result<Harness> {
    let config = BusConfig::new(url, format!("bus-failover-{}", vhost.name()));
    let topology = Topology::new().queue(QueueSpec::new(QUEUE).events_from("catalog.events"));
    let bus = Arc::new(Bus::connect(&config, topology).await?);
    Ok(Harness::from_parts(vhost, bus))
}

/// Publishes until the broker confirms (the bus fails publishes fast while it reconnects).
async fn publish_confirmed(h: &Harness, limit: Duration) -> anyhow::Result<uuid::Uuid> {
    let start = Instant::now();
    loop {
        match h.publish_event().await {
            Ok(id) => return Ok(id),
            Err(error) if start.elapsed() > limit => {
                anyhow::bail!("no confirmed publish within {limit:?}: {error}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn a_broker_that_refuses_is_passed_over_for_the_next() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?; // dropped: refuses
    let url = format!("{},{}", via(&vhost.url(), closed), vhost.url());
    let h = harness_on(vhost, url).await?;
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    let id = publish_confirmed(&h, Duration::from_secs(10)).await?;
    handler
        .wait_until(Duration::from_secs(10), |c| {
            c.iter().any(|c| c.message_id == id)
        })
        .await?;
    consuming.stop().await
}

#[tokio::test]
async fn connections_lost_with_one_broker_are_replaced_on_the_next() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let proxy = FaultProxy::start(broker(&vhost.url())).await?;
    let url = format!("{},{}", via(&vhost.url(), proxy.addr()), vhost.url());
    let h = harness_on(vhost, url).await?;
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    let before = publish_confirmed(&h, Duration::from_secs(10)).await?;
    handler
        .wait_until(Duration::from_secs(10), |c| {
            c.iter().any(|c| c.message_id == before)
        })
        .await?;

    // The first broker goes away for good: its connections close, new ones are refused.
    proxy.set(FaultMode::Down);
    let after = publish_confirmed(&h, Duration::from_secs(30)).await?;
    handler
        .wait_until(Duration::from_secs(30), |c| {
            c.iter().any(|c| c.message_id == after)
        })
        .await?;
    assert!(h.bus.is_connected(), "connected to the second broker");
    consuming.stop().await
}
