//! The shopper's three paths through the whole platform, each order checked by the invariant
//! checker as a drill's are (with no fault: `recovered_s` is how long the order took).

use std::time::{Duration, Instant};

use platform_tests::faults::Svc;
use platform_tests::invariants;
use platform_tests::platform::{Options, Platform};
use platform_tests::shop::{Card, Shop};

const ORDER_WAIT: Duration = Duration::from_secs(60);

/// A store signs up and adds products; a shopper searches, tokenizes the approved card at the
/// simulator and orders: confirmed, one charge, one mail, one webhook; the merchant sees the
/// order at checkout and the transaction at payments.
#[tokio::test]
async fn happy_path_store_to_confirmed_order() -> anyhow::Result<()> {
    let platform = Platform::start(Options::default()).await?;
    let shop = Shop::open(
        &platform,
        "Cafe",
        &[("Café Torrado", 2590, 10), ("Chá Verde", 1200, 10)],
    )
    .await?;
    let found = platform_tests::eventually("the search to find the coffee", ORDER_WAIT, || async {
        let found = shop.search(&platform, "cafe").await?;
        Ok((!found.is_empty()).then_some(found))
    })
    .await?;
    assert_eq!(
        found,
        vec![shop.products[0].id],
        "accent-insensitive, only the coffee"
    );

    let placed = shop
        .place(&platform, &[(found[0], 2)], Card::Approved, ORDER_WAIT)
        .await?;
    let started = Instant::now();
    assert_eq!(
        invariants::wait_final(&platform, placed.order_id, ORDER_WAIT).await?,
        "confirmed"
    );
    let seen = shop.order(&platform, &placed).await?;
    assert_eq!(seen["status"], "confirmed", "{seen}");
    assert_eq!(seen["total_minor"], 5180, "{seen}");

    let orders = shop
        .admin_get(&platform, Svc::Checkout, "/admin/orders")
        .await?;
    assert_eq!(
        orders["items"][0]["id"],
        placed.order_id.to_string(),
        "{orders}"
    );
    let transactions = shop
        .admin_get(&platform, Svc::Payments, "/admin/transactions")
        .await?;
    let transaction = &transactions["items"][0];
    assert_eq!(
        transaction["order_id"],
        placed.order_id.to_string(),
        "{transactions}"
    );
    assert_eq!(transaction["status"], "completed", "{transactions}");
    assert_eq!(transaction["amount_minor"], 5180, "{transactions}");

    let report = invariants::check(
        "happy_path",
        &platform,
        &shop,
        &[placed],
        started,
        ORDER_WAIT,
    )
    .await?;
    assert_eq!(report.confirmed, 1);
    platform.finish().await
}

/// The declined card: cancelled with `payment_declined` and a reason the shopper can read,
/// the stock back on the shelf, one mail saying so.
#[tokio::test]
async fn declined_card_cancels_and_releases_stock() -> anyhow::Result<()> {
    let platform = Platform::start(Options::default()).await?;
    let shop = Shop::open(&platform, "Loja", &[("Caneca", 3500, 5)]).await?;
    let placed = shop
        .place(
            &platform,
            &[(shop.products[0].id, 3)],
            Card::Declined,
            ORDER_WAIT,
        )
        .await?;
    let started = Instant::now();
    assert_eq!(
        invariants::wait_final(&platform, placed.order_id, ORDER_WAIT).await?,
        "cancelled"
    );
    let seen = shop.order(&platform, &placed).await?;
    assert_eq!(seen["reason"], "payment_declined", "{seen}");
    assert!(
        seen["reason_message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && !m.contains("payment_declined")),
        "a sentence, not the code: {seen}"
    );
    let report = invariants::check(
        "declined_card",
        &platform,
        &shop,
        &[placed],
        started,
        ORDER_WAIT,
    )
    .await?;
    assert_eq!(report.cancelled, 1);
    platform.finish().await
}

/// `4000000000000036`: the gateway answers `processing`; the order waits, and the settle job's
/// lookup (every 500 ms here, payments' `PAYMENTS_SETTLE_*`) finds it paid: confirmed.
#[tokio::test]
async fn processing_card_is_confirmed_after_reconciliation() -> anyhow::Result<()> {
    let platform = Platform::start(Options::default()).await?;
    let shop = Shop::open(&platform, "Lenta", &[("Livro", 4900, 3)]).await?;
    let placed = shop
        .place(
            &platform,
            &[(shop.products[0].id, 1)],
            Card::ProcessingThenPaid,
            ORDER_WAIT,
        )
        .await?;
    let started = Instant::now();
    assert_eq!(
        invariants::wait_final(&platform, placed.order_id, ORDER_WAIT).await?,
        "confirmed"
    );
    let seen = shop.order(&platform, &placed).await?;
    let statuses: Vec<&str> = seen["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["status"].as_str())
        .collect();
    assert!(
        statuses.contains(&"reserved") || statuses.contains(&"awaiting_payment"),
        "it waited for the acquirer: {seen}"
    );
    let transaction = shop
        .admin_get(&platform, Svc::Payments, "/admin/transactions")
        .await?;
    let history = shop
        .admin_get(
            &platform,
            Svc::Payments,
            &format!(
                "/admin/transactions/{}",
                transaction["items"][0]["id"].as_str().unwrap()
            ),
        )
        .await?;
    assert!(
        history["history"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|h| h["operation"] == "lookup" && h["to"] == "completed"),
        "settled by a lookup: {history}"
    );
    invariants::check(
        "processing_card",
        &platform,
        &shop,
        &[placed],
        started,
        ORDER_WAIT,
    )
    .await?;
    platform.finish().await
}
