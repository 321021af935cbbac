use std::time::Duration;

use bus::Outgoing;
use contracts::catalog::{ReserveStock, StockLine};
use contracts::{Contract, Envelope, Message};
use platform_tests::{EventWatcher, Service};
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

    let events = EventWatcher::start(&vhost, "catalog.events").await?;

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
    events
        .bus()
        .publisher()
        .publish(&Outgoing::envelope(
            &command.into_raw(),
            ReserveStock::DESTINATION,
        ))
        .await?;
    let reserved = events
        .wait_for(Duration::from_secs(30), |envelope, message| match message {
            Message::StockReserved(event) => Some((envelope.clone(), event)),
            _ => None,
        })
        .await?;
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

    events.close().await;
    let status = catalog.stop().await?;
    assert!(status.success());
    Ok(())
}
