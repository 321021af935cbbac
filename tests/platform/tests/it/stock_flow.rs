use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, Outgoing, QueueSpec, Topology};
use contracts::catalog::{ReserveStock, StockLine};
use contracts::{Contract, Envelope, Message};
use lapin::options::BasicGetOptions;
use platform_tests::Service;
use serde_json::json;
use testkit::Vhost;
use uuid::Uuid;

/// The catalog binary as other services meet it: a store and a product made over HTTP, a
/// `catalog.reserve-stock` command sent over the broker, a StockReserved event back on
/// `catalog.events`.
#[tokio::test]
async fn the_catalog_binary_answers_a_reserve_stock_command() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let catalog = Service::start("catalog", &vhost.url()).await?;
    catalog.wait_ready(Duration::from_secs(90)).await?;

    // A queue of the test's own on catalog.events, to watch what catalog says.
    let watch = "platform-test.catalog-events";
    let bus = Bus::connect(
        &BusConfig {
            url: vhost.url(),
            connection_name: "platform-test".into(),
        },
        Topology::new().queue(QueueSpec::new(watch).events_from("catalog.events")),
    )
    .await?;

    let (status, store) = catalog
        .post(
            "/stores",
            None,
            json!({"name": "Loja Teste", "slug": "loja-teste", "contact_email": "a@example.com"}),
        )
        .await?;
    assert_eq!(status, 201, "{store}");
    let key = store["admin_key"].as_str().unwrap().to_owned();
    let store_id: Uuid = store["id"].as_str().unwrap().parse()?;
    let (status, product) = catalog
        .post(
            "/admin/products",
            Some(&key),
            json!({"name": "Café", "description": "", "sku": "CAFE-1", "price_minor": 1000,
                   "currency": "BRL", "stock": 3, "active": true}),
        )
        .await?;
    assert_eq!(status, 201, "{product}");
    let product_id: Uuid = product["id"].as_str().unwrap().parse()?;

    let order_id = Uuid::now_v7();
    let command = Envelope::new(
        Some(store_id),
        ReserveStock {
            order_id,
            store_id,
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

    let channel = bus.channel().await?;
    let start = Instant::now();
    let reserved = loop {
        if let Some(message) = channel
            .basic_get(watch.into(), BasicGetOptions { no_ack: true })
            .await?
        {
            let (envelope, decoded) = contracts::message::decode_body(&message.delivery.data)?;
            if let Message::StockReserved(event) = decoded {
                break (envelope, event);
            }
            continue;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "no StockReserved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (envelope, event) = reserved;
    assert_eq!(event.order_id, order_id);
    assert_eq!(
        event.lines,
        vec![StockLine {
            product_id,
            quantity: 2
        }]
    );
    assert_eq!(
        envelope.correlation_id,
        Some(order_id),
        "the order id ties the flow together"
    );

    let metrics = reqwest::get(catalog.url("/metrics")).await?.text().await?;
    let handled = metrics.lines().find(|l| {
        l.starts_with("summit_messages_total") && l.contains(r#"queue="catalog.commands""#)
    });
    assert!(
        handled.is_some_and(|l| l.contains(r#"outcome="done""#) && l.ends_with(" 1")),
        "the command is counted: {handled:?}"
    );
    assert!(
        metrics.contains("summit_outbox_published_total"),
        "{metrics}"
    );

    bus.close().await;
    let status = catalog.stop().await?;
    assert!(status.success());
    Ok(())
}
