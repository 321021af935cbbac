//! Bad input at the broker's edge: malformed and hostile messages published straight into every
//! work queue the four services declare (their real binaries, one vhost of the test's own).
//! Each must be dead-lettered into `<queue>.dlq` with its reason (`x-error`, `x-error-kind`),
//! no service's database may change because of them, and every consumer keeps going: valid
//! messages published after them are processed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bus::Outgoing;
use contracts::catalog::{ReserveStock, StockLine};
use contracts::{Contract, Envelope, Message};
use platform_tests::edge::{StartedService, Store};
use platform_tests::{EventWatcher, admin_url_to};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use testkit::Vhost;
use uuid::Uuid;

/// Every work queue of the four services' topologies (each service's `topology()`), with a
/// message type it receives.
const QUEUES: [(&str, &str); 10] = [
    ("catalog.commands", "catalog.reserve-stock"),
    ("checkout.catalog-events", "catalog.StockReserved"),
    ("checkout.payments-events", "payments.PaymentCompleted"),
    ("payments.commands", "payments.charge"),
    ("payments.catalog-events", "catalog.StoreCreated"),
    ("notifications.checkout-events", "checkout.OrderConfirmed"),
    ("notifications.payments-events", "payments.PaymentDeclined"),
    ("notifications.catalog-events", "catalog.StoreCreated"),
    ("notifications.send-email", "notifications.send-email"),
    ("notifications.send-webhook", "notifications.send-webhook"),
];

/// A hostile message and the `x-error-kind` its dead letter must carry.
struct Hostile {
    name: &'static str,
    message_id: String,
    body: Vec<u8>,
    expected_kind: &'static str,
}

/// An envelope of `kind` for `tenant` with `payload`, as JSON.
fn envelope(kind: &str, version: u32, tenant: Uuid, payload: &Value) -> (String, Value) {
    let id = Uuid::now_v7().to_string();
    let value = json!({"id": id, "type": kind, "version": version,
        "occurred_at": "2026-12-01T00:00:00Z", "tenant_id": tenant,
        "correlation_id": Uuid::now_v7(), "causation_id": null, "payload": payload});
    (id, value)
}

/// The six kinds of bad message, for a queue receiving `kind`.
fn hostile_messages(kind: &str, tenant: Uuid) -> Vec<Hostile> {
    let plausible = json!({"order_id": Uuid::now_v7(), "store_id": tenant, "lines": []});
    let mut out = Vec::new();

    let (id, whole) = envelope(kind, 1, tenant, &plausible);
    let text = whole.to_string();
    out.push(Hostile {
        name: "truncated JSON",
        message_id: id,
        body: text.as_bytes()[..text.len() / 2].to_vec(),
        expected_kind: "malformed",
    });

    let (id, mut huge) = envelope(kind, 1, tenant, &plausible);
    huge["payload"]["padding"] = json!("x".repeat(bus::consumer::MAX_BODY_BYTES));
    out.push(Hostile {
        name: "huge body",
        message_id: id,
        body: huge.to_string().into_bytes(),
        expected_kind: "too-large",
    });

    let wrong = json!({"order_id": 42, "store_id": true, "lines": "many", "amount_minor": "ten",
                       "currency": 986, "customer": [], "payment_token": {}, "name": 7,
                       "admin_key_sha256": false, "language": 1, "event": 3, "to": null});
    let (id, value) = envelope(kind, 1, tenant, &wrong);
    out.push(Hostile {
        name: "wrong types",
        message_id: id,
        body: value.to_string().into_bytes(),
        expected_kind: "malformed",
    });

    let (id, value) = envelope("summit.NoSuchMessage", 1, tenant, &plausible);
    out.push(Hostile {
        name: "unknown type",
        message_id: id,
        body: value.to_string().into_bytes(),
        expected_kind: "unknown-type",
    });

    // A well-formed envelope of this tenant carrying another tenant's store: never applied.
    let foreign = json!({"order_id": Uuid::now_v7(), "store_id": Uuid::now_v7(), "lines": []});
    let (id, value) = envelope(kind, 1, tenant, &foreign);
    out.push(Hostile {
        name: "another tenant's ids",
        message_id: id,
        body: value.to_string().into_bytes(),
        expected_kind: "tenant-mismatch",
    });

    let (id, value) = envelope(kind, 99, tenant, &plausible);
    out.push(Hostile {
        name: "unknown major version",
        message_id: id,
        body: value.to_string().into_bytes(),
        expected_kind: "unsupported-version",
    });
    out
}

/// Rows per table of every database, read as the admin (row-level security does not hide
/// another tenant's rows from it).
async fn row_counts(databases: &[&str]) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut counts = BTreeMap::new();
    for database in databases {
        let mut admin = PgConnection::connect(&admin_url_to(database)).await?;
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
        )
        .fetch_all(&mut admin)
        .await?;
        for (table,) in tables {
            let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM public.\"{table}\""
            )))
            .fetch_one(&mut admin)
            .await?;
            counts.insert(format!("{database}.{table}"), count);
        }
        admin.close().await?;
    }
    Ok(counts)
}

/// Waits until `queue` holds `count` messages (none unacked).
async fn wait_depth(
    bus: &bus::Bus,
    queue: &str,
    count: u32,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let depth = bus.depth(queue).await?;
        if depth == count {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("{queue} holds {depth} messages, not {count}, after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until none of the store's deliveries at notifications is pending.
async fn wait_deliveries_settled(
    notifications: &StartedService,
    store: &Store,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let client = reqwest::Client::new();
    loop {
        let page: Value = client
            .get(notifications.url("/admin/deliveries"))
            .bearer_auth(&store.admin_key)
            .send()
            .await?
            .json()
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if !items.is_empty() && items.iter().all(|d| d["status"] != "pending") {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("deliveries still pending after {limit:?}: {page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the service's outbox has nothing left to send (`GET /outbox`).
async fn wait_outbox_relayed(service: &StartedService, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let status: Value = reqwest::get(service.url("/outbox")).await?.json().await?;
        if status["backlog"] == 0 && status["scheduled"] == 0 {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!(
                "{}'s outbox not relayed after {limit:?}: {status}",
                service.name
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn hostile_messages_to_every_work_queue_are_dead_lettered_with_their_reason_and_change_nothing()
-> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let catalog = StartedService::start("catalog", &vhost, &[]).await?;
    let checkout = StartedService::start(
        "checkout",
        &vhost,
        &[("CATALOG_URL", catalog.process.url())],
    )
    .await?;
    let payments = StartedService::start("payments", &vhost, &[]).await?;
    let notifications = StartedService::start("notifications", &vhost, &[]).await?;
    let events = EventWatcher::start(&vhost, "catalog.events").await?;
    let bus = events.bus();

    // A tenant with a product on the shelf, known to every service.
    let store = Store::sign_up(&catalog, "hostile-a").await?;
    let client = reqwest::Client::new();
    let product: Value = client
        .post(catalog.url("/admin/products"))
        .bearer_auth(&store.admin_key)
        .json(
            &json!({"name": "Café", "description": "", "sku": "CAFE-1", "price_minor": 1000,
                      "currency": "BRL", "stock": 5, "active": true}),
        )
        .send()
        .await?
        .json()
        .await?;
    let product_id: Uuid = product["id"].as_str().context("product id")?.parse()?;
    for (service, probe) in [
        (&checkout, "/admin/orders"),
        (&payments, "/admin/transactions"),
        (&notifications, "/admin/settings"),
    ] {
        store
            .wait_known_to(service, probe, Duration::from_secs(30))
            .await?;
    }
    // Settled before the hostile messages: the welcome mail sent, every outbox relayed, every
    // work queue empty.
    wait_deliveries_settled(&notifications, &store, Duration::from_secs(60)).await?;
    for service in [&catalog, &checkout, &payments, &notifications] {
        wait_outbox_relayed(service, Duration::from_secs(30)).await?;
    }
    for (queue, _) in QUEUES {
        wait_depth(bus, queue, 0, Duration::from_secs(30)).await?;
    }
    let databases = [
        catalog.database_name(),
        checkout.database_name(),
        payments.database_name(),
        notifications.database_name(),
    ];
    let before = row_counts(&databases).await?;

    let mut sent: BTreeMap<&str, Vec<Hostile>> = BTreeMap::new();
    for (queue, kind) in QUEUES {
        let messages = hostile_messages(kind, store.id);
        for hostile in &messages {
            let outgoing = Outgoing {
                exchange: String::new(),
                routing_key: String::new(),
                message_id: hostile.message_id.clone(),
                kind: kind.to_owned(),
                correlation_id: None,
                body: hostile.body.clone(),
                headers: BTreeMap::new(),
                mandatory: true,
            }
            .to_queue(queue);
            bus.publisher()
                .publish(&outgoing)
                .await
                .with_context(|| format!("publishing {} to {queue}", hostile.name))?;
        }
        sent.insert(queue, messages);
    }

    for (queue, messages) in &sent {
        let dlq = format!("{queue}.dlq");
        wait_depth(bus, &dlq, messages.len() as u32, Duration::from_secs(60)).await?;
        wait_depth(bus, queue, 0, Duration::from_secs(30)).await?;
        let letters = bus.take(&dlq, 100).await?;
        assert_eq!(letters.len(), messages.len(), "{dlq}");
        for hostile in messages {
            let letter = letters
                .iter()
                .find(|l| l.message_id.as_deref() == Some(hostile.message_id.as_str()))
                .with_context(|| format!("{queue}: the {} was not dead-lettered", hostile.name))?;
            assert_eq!(
                letter.header("x-error-kind"),
                Some(hostile.expected_kind),
                "{queue}: {}: {:?}",
                hostile.name,
                letter.headers
            );
            let reason = letter.header("x-error").unwrap_or_default();
            assert!(!reason.is_empty(), "{queue}: {} has a reason", hostile.name);
            assert_eq!(
                letter.body, hostile.body,
                "{queue}: {} kept whole",
                hostile.name
            );
        }
        let stats = bus.queue_stats(queue).await?.context("queue exists")?;
        assert!(stats.consumers >= 1, "{queue} still has its consumer");
    }

    let after = row_counts(&databases).await?;
    assert_eq!(before, after, "no row anywhere changed because of them");

    // The consumers keep going. catalog.commands: a valid reservation is answered.
    let order_id = Uuid::now_v7();
    let command = Envelope::new(
        Some(store.id),
        ReserveStock {
            order_id,
            store_id: store.id,
            lines: vec![StockLine {
                product_id,
                quantity: 2,
            }],
        },
    )
    .correlated(order_id);
    bus.publisher()
        .publish(&Outgoing::envelope(
            &command.into_raw(),
            ReserveStock::DESTINATION,
        ))
        .await?;
    events
        .wait_for(Duration::from_secs(30), |_, message| match message {
            Message::StockReserved(event) if event.order_id == order_id => Some(()),
            _ => None,
        })
        .await?;
    // The three catalog-events queues: a second store's key reaches every service.
    let second = Store::sign_up(&catalog, "hostile-b").await?;
    for (service, probe) in [
        (&checkout, "/admin/orders"),
        (&payments, "/admin/transactions"),
        (&notifications, "/admin/settings"),
    ] {
        second
            .wait_known_to(service, probe, Duration::from_secs(30))
            .await?;
    }

    events.close().await;
    for service in [notifications, payments, checkout, catalog] {
        service.stop().await?;
    }
    Ok(())
}
