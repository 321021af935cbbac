use std::time::Duration;

use anyhow::Context;

use platform_tests::{BrokerGate, SERVICES, Service};
use testkit::Vhost;

/// The queues docs/design.md gives each consumer, each with its dead-letter queue.
const QUEUES: [&str; 8] = [
    "catalog.commands",
    "checkout.catalog-events",
    "checkout.payments-events",
    "payments.commands",
    "payments.catalog-events",
    "notifications.checkout-events",
    "notifications.payments-events",
    "notifications.catalog-events",
];

#[tokio::test]
async fn all_four_services_come_up_ready_and_declare_their_topology() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let mut services = Vec::new();
    for name in SERVICES {
        services.push(Service::start(name, &vhost.url()).await?);
    }
    for service in &services {
        service.wait_ready(Duration::from_secs(90)).await?;
        let (status, body) = service.get("/health/live").await?;
        assert_eq!(status, 200, "{}", service.name);
        assert_eq!(body["status"], "live");
        let (_, ready) = service.get("/health/ready").await?;
        assert_eq!(ready["status"], "ready");
        assert_eq!(ready["checks"]["database"], true);
        assert_eq!(ready["checks"]["broker"], true);
        let roles = service.database_roles().await?;
        assert!(
            !roles.is_empty() && roles.iter().all(|(_, superuser)| !superuser),
            "{} connects as no superuser: {roles:?}",
            service.name
        );
    }

    let exchanges = vhost.exchange_names().await?;
    for exchange in [
        "catalog.events",
        "checkout.events",
        "payments.events",
        "notifications.events",
        "summit.commands",
        "summit.dlx",
    ] {
        assert!(
            exchanges.iter().any(|e| e == exchange),
            "exchange {exchange} missing"
        );
    }
    let queues = vhost.queue_names().await?;
    for queue in QUEUES {
        assert!(queues.iter().any(|q| q == queue), "queue {queue} missing");
        let dlq = format!("{queue}.dlq");
        assert!(queues.contains(&dlq), "queue {dlq} missing");
        let info = vhost.queue_info(queue).await?;
        assert_eq!(info["type"], "quorum", "{queue} is a quorum queue");
        assert_eq!(info["arguments"]["x-dead-letter-exchange"], "summit.dlx");
        assert_eq!(info["arguments"]["x-dead-letter-routing-key"], queue);
        assert_eq!(info["arguments"]["x-dead-letter-strategy"], "at-least-once");
    }

    for service in services {
        let name = service.name.clone();
        let status = service.stop().await?;
        assert!(
            status.success(),
            "{name} exits cleanly on SIGTERM: {status}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_service_without_its_broker_stays_up_and_reports_degraded() -> anyhow::Result<()> {
    // The broker is "away": its address hangs up on every connection.
    let gate = BrokerGate::closed().await?;
    let service = Service::start("checkout", &gate.url("%2f")).await?;
    let start = std::time::Instant::now();
    let (live, ready) = loop {
        if let (Ok(live), Ok(ready)) = (
            service.get("/health/live").await,
            service.get("/health/ready").await,
        ) && ready.1["checks"]["database"] == true
        {
            break (live, ready);
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "service never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(live.0, 200);
    assert_eq!(ready.0, 200, "ready: it can serve requests: {}", ready.1);
    assert_eq!(ready.1["status"], "degraded");
    assert_eq!(ready.1["checks"]["broker"], false);
    assert!(ready.1["reasons"]["broker"].is_string(), "{}", ready.1);
    // Its database connections are its own role's, and that role is no superuser (which
    // would bypass forced row-level security).
    let roles = service.database_roles().await?;
    assert!(
        !roles.is_empty()
            && roles
                .iter()
                .all(|(role, superuser)| !superuser && role.starts_with("platform_checkout_")),
        "{roles:?}"
    );
    let status = service.stop().await?;
    assert!(
        status.success(),
        "exits cleanly while still waiting for the broker: {status}"
    );
    Ok(())
}

/// The role check of `wait_ready` can fail: a service connected as the superuser (which
/// bypasses forced row-level security) is refused, and its connections show why.
#[tokio::test]
async fn a_service_connected_as_a_superuser_is_refused() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let service = Service::start_as_admin("payments", &vhost.url()).await?;
    let refused = service.wait_ready(Duration::from_secs(90)).await;
    let error = refused.err().context("wait_ready accepted a superuser")?;
    assert!(
        error.to_string().contains("non-superuser role"),
        "{error:#}"
    );
    let roles = service.database_roles().await?;
    assert!(roles.iter().any(|(_, superuser)| *superuser), "{roles:?}");
    assert!(service.stop().await?.success());
    Ok(())
}
