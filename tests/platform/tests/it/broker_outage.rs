use std::time::{Duration, Instant};

use contracts::Message;
use platform_tests::{BrokerGate, EventWatcher, Service};
use serde_json::json;
use testkit::Vhost;

/// docs/design.md's fallback for "RabbitMQ down": HTTP writes still commit (outbox), and the events
/// flow when the broker returns. The broker is "down" behind a gate the test holds, which hangs
/// up on every connection; it "returns" when the gate opens onto the real broker.
#[tokio::test]
async fn writes_commit_while_the_broker_is_away_and_their_events_flow_when_it_returns()
-> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let gate = BrokerGate::closed().await?;
    let catalog = Service::start("catalog", &gate.url(vhost.name())).await?;

    // Up, migrated, ready but degraded (no broker) — and taking writes.
    let start = Instant::now();
    loop {
        let (status, ready) = catalog.get("/health/ready").await.unwrap_or((0, json!({})));
        if status == 200 {
            assert_eq!(ready["status"], "degraded", "{ready}");
            assert_eq!(ready["checks"]["database"], true);
            assert_eq!(ready["checks"]["broker"], false);
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "catalog never came up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, store) = catalog
        .post(
            "/stores",
            None,
            json!({"name": "Sem Broker", "slug": "sem-broker", "contact_email": "s@example.com"}),
        )
        .await?;
    assert_eq!(status, 201, "the write commits without the broker: {store}");

    // Somebody listens for catalog's events (declared straight on the broker).
    let events = EventWatcher::start(&vhost, "catalog.events").await?;

    // The broker returns.
    gate.open();
    catalog.wait_ready(Duration::from_secs(60)).await?;

    let created = events
        .wait_for(Duration::from_secs(30), |_, message| match message {
            Message::StoreCreated(event) => Some(event),
            _ => None,
        })
        .await?;
    assert_eq!(created.slug, "sem-broker");
    assert_eq!(created.store_id.to_string(), store["id"].as_str().unwrap());

    events.close().await;
    assert!(catalog.stop().await?.success());
    Ok(())
}
