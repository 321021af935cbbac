//! The saga, replies applied as the consumers apply them: transitions, timeline, commands,
//! duplicates, late replies, the deadline.

use std::time::Duration;

use checkout::CheckoutConfig;
use checkout::order::Status;
use checkout::saga::{self, Handled};
use contracts::catalog::{ProductDeleted, StockReservationRejected, StockReserved};
use contracts::payments::{PaymentCompleted, PaymentDeclined, PaymentFacts, PaymentPendingOffline};
use contracts::{Contract, Envelope, Message};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{App, Shop, feed, spawn, spawn_with};

/// Delivers a reply as a consumer would (inbox included); returns what it did.
async fn reply<P: Contract>(
    app: &App,
    shop: &Shop,
    payload: P,
) -> anyhow::Result<(Handled, contracts::RawEnvelope)> {
    let raw = Envelope::new(Some(shop.id), payload).into_raw();
    let message = Message::decode(&raw)?;
    let (order, store, input) =
        saga::reply_of(&message).ok_or_else(|| anyhow::anyhow!("not a reply"))?;
    Ok((
        saga::apply(&app.app_pool, Some(&raw), order, store, input).await?,
        raw,
    ))
}

fn reserved(shop: &Shop, order: Uuid) -> StockReserved {
    StockReserved {
        order_id: order,
        store_id: shop.id,
        lines: vec![],
    }
}

fn facts(shop: &Shop, order: Uuid) -> PaymentFacts {
    PaymentFacts {
        payment_id: Uuid::now_v7(),
        order_id: order,
        store_id: shop.id,
        amount_minor: 100,
        currency: "BRL".into(),
    }
}

async fn placed(app: &App, shop: &Shop) -> anyhow::Result<(Uuid, Value)> {
    let mug = app.product(shop, "Caneca", 100, "BRL").await?;
    let placed = app.place(shop, &[(mug, 1)]).await?;
    Ok((
        placed["order_id"].as_str().unwrap_or_default().parse()?,
        placed,
    ))
}

fn statuses(view: &Value) -> Vec<String> {
    view["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{}{}",
                e["status"].as_str().unwrap_or_default(),
                e["note"]
                    .as_str()
                    .map(|n| format!("/{n}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn reserved_then_paid_confirms_and_the_card_token_leaves_with_the_charge(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("feliz").await?;
    let (order, placed) = placed(&app, &shop).await?;

    let (handled, first) = reply(&app, &shop, reserved(&shop, order)).await?;
    assert_eq!(handled, Handled::Moved(Status::Reserved));
    let card: Option<String> = sqlx::query_scalar("SELECT card_token FROM orders")
        .fetch_one(&app.pool)
        .await?;
    assert_eq!(card, None, "the card token left with the charge");
    let outbox = app.outbox().await?;
    let (kind, charge) = outbox.last().cloned().unwrap_or_default();
    assert_eq!(kind, "payments.charge");
    assert_eq!(charge["payment_token"], "tok_test_4000000000000010");
    assert_eq!(charge["amount_minor"], 100);

    // The same message again, and a second StockReserved: nothing more.
    let raw_again = saga::apply(
        &app.app_pool,
        Some(&first),
        order,
        shop.id,
        checkout::order::Input::StockReserved,
    )
    .await?;
    assert_eq!(raw_again, Handled::Duplicate);
    let (second, _) = reply(&app, &shop, reserved(&shop, order)).await?;
    assert_eq!(second, Handled::Stayed("duplicate_stock_reserved"));
    assert_eq!(
        app.kinds()
            .await?
            .iter()
            .filter(|k| *k == "payments.charge")
            .count(),
        1
    );

    let (paid, _) = reply(
        &app,
        &shop,
        PaymentCompleted {
            payment: facts(&shop, order),
        },
    )
    .await?;
    assert_eq!(paid, Handled::Moved(Status::Confirmed));
    let kinds = app.kinds().await?;
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["catalog.commit-stock", "checkout.OrderConfirmed"]
    );
    let view = app.status(&placed).await?;
    assert_eq!(view["status"], "confirmed");
    assert_eq!(statuses(&view), ["pending", "reserved", "confirmed"]);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn failures_cancel_with_a_reason_the_shopper_can_read(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("falhas").await?;

    let (sold_out, sold_out_placed) = placed(&app, &shop).await?;
    let rejected = StockReservationRejected {
        order_id: sold_out,
        store_id: shop.id,
        reason: "stock".into(),
        unavailable: vec![],
    };
    assert_eq!(
        reply(&app, &shop, rejected).await?.0,
        Handled::Moved(Status::Cancelled)
    );
    let view = app.status(&sold_out_placed).await?;
    assert_eq!(view["reason"], "out_of_stock");
    assert!(
        view["reason_message"]
            .as_str()
            .unwrap_or_default()
            .contains("estoque")
    );
    let url = format!(
        "{}&lang=en",
        sold_out_placed["status_url"].as_str().unwrap_or_default()
    );
    let english: Value = app.http.get(app.at(&url)).send().await?.json().await?;
    assert!(
        english["reason_message"]
            .as_str()
            .unwrap_or_default()
            .contains("out of stock")
    );

    let (declined, declined_placed) = placed(&app, &shop).await?;
    reply(&app, &shop, reserved(&shop, declined)).await?;
    let answer = PaymentDeclined {
        payment: facts(&shop, declined),
        reason: "card".into(),
    };
    assert_eq!(
        reply(&app, &shop, answer).await?.0,
        Handled::Moved(Status::Cancelled)
    );
    let view = app.status(&declined_placed).await?;
    assert_eq!(view["reason"], "payment_declined");
    assert_eq!(view["timeline"][2]["reason"], "payment_declined");
    let kinds = app.kinds().await?;
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["catalog.release-stock", "checkout.OrderCancelled"]
    );

    // The gateway away: awaiting_payment, then settled.
    let (offline, offline_placed) = placed(&app, &shop).await?;
    reply(&app, &shop, reserved(&shop, offline)).await?;
    let pending = PaymentPendingOffline {
        payment: facts(&shop, offline),
    };
    assert_eq!(
        reply(&app, &shop, pending).await?.0,
        Handled::Moved(Status::AwaitingPayment)
    );
    assert_eq!(
        app.status(&offline_placed).await?["status"],
        "awaiting_payment"
    );
    assert_eq!(
        reply(
            &app,
            &shop,
            PaymentCompleted {
                payment: facts(&shop, offline)
            }
        )
        .await?
        .0,
        Handled::Moved(Status::Confirmed)
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_late_payment_for_a_cancelled_order_is_voided_never_resurrected(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("tarde").await?;
    let (order, placed) = placed(&app, &shop).await?;
    reply(&app, &shop, reserved(&shop, order)).await?;
    reply(
        &app,
        &shop,
        PaymentDeclined {
            payment: facts(&shop, order),
            reason: "x".into(),
        },
    )
    .await?;

    let (late, _) = reply(
        &app,
        &shop,
        PaymentCompleted {
            payment: facts(&shop, order),
        },
    )
    .await?;
    assert_eq!(late, Handled::Stayed("payment_voided"));
    let view = app.status(&placed).await?;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(
        statuses(&view),
        [
            "pending",
            "reserved",
            "cancelled",
            "cancelled/payment_voided"
        ]
    );
    assert_eq!(
        app.kinds().await?.last().map(String::as_str),
        Some("payments.void")
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_deadline_expires_unpaid_orders_releases_stock_and_voids(
    pool: PgPool,
) -> anyhow::Result<()> {
    let config = CheckoutConfig {
        payment_deadline: Duration::from_secs(1),
        ..CheckoutConfig::default()
    };
    let app = spawn_with(pool, config).await?;
    let shop = app.shop("prazo").await?;
    let (order, placed) = placed(&app, &shop).await?;
    reply(&app, &shop, reserved(&shop, order)).await?;
    let (paid, _) = crate::saga::placed(&app, &shop).await?;
    reply(&app, &shop, reserved(&shop, paid)).await?;
    reply(
        &app,
        &shop,
        PaymentCompleted {
            payment: facts(&shop, paid),
        },
    )
    .await?;

    // Nothing is overdue yet; then the orders' deadline is moved into the past.
    assert_eq!(saga::expire_overdue(&app.app_pool).await?, 0);
    sqlx::query("UPDATE orders SET payment_deadline = now() - interval '1 second'")
        .execute(&app.pool)
        .await?;
    assert_eq!(
        saga::expire_overdue(&app.app_pool).await?,
        1,
        "only the unpaid order"
    );
    assert_eq!(saga::expire_overdue(&app.app_pool).await?, 0, "once");
    let view = app.status(&placed).await?;
    assert_eq!(view["status"], "cancelled");
    assert_eq!(view["reason"], "expired");
    let kinds = app.kinds().await?;
    assert_eq!(
        &kinds[kinds.len() - 3..],
        [
            "catalog.release-stock",
            "payments.void",
            "checkout.OrderCancelled"
        ]
    );

    // Its stock reserved after all (a reply in flight): released again, status unchanged.
    let (late, _) = reply(&app, &shop, reserved(&shop, order)).await?;
    assert_eq!(late, Handled::Stayed("late_stock_released"));
    assert_eq!(
        app.kinds().await?.last().map(String::as_str),
        Some("catalog.release-stock")
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_product_deleted_after_the_order_completes_from_its_snapshot(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("snap").await?;
    let mug = app.product(&shop, "Caneca", 4200, "BRL").await?;
    let placed = app.place(&shop, &[(mug, 2)]).await?;
    let order: Uuid = placed["order_id"].as_str().unwrap_or_default().parse()?;
    feed(
        &app.app_pool,
        shop.id,
        ProductDeleted {
            product_id: mug,
            store_id: shop.id,
            version: 2,
        },
    )
    .await?;

    reply(&app, &shop, reserved(&shop, order)).await?;
    reply(
        &app,
        &shop,
        PaymentCompleted {
            payment: facts(&shop, order),
        },
    )
    .await?;
    let view = app.status(&placed).await?;
    assert_eq!(view["status"], "confirmed");
    assert_eq!(view["lines"][0]["name"], "Caneca");
    assert_eq!(view["lines"][0]["unit_price_minor"], 4200);
    assert_eq!(view["total_minor"], 8400);
    // A new order for it is refused.
    let again = app
        .post_order("snap", "k2", &crate::helpers::order(&[(mug, 1)]))
        .await?;
    assert_eq!(again.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

/// A store catalog announces as English gets its shoppers' reasons in English without asking;
/// a later event without a language (written before catalog had one) keeps it.
#[sqlx::test(migrations = false)]
async fn a_store_announced_in_english_explains_in_english(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("english").await?;
    let update = |version: i64, language: Option<&str>| contracts::catalog::StoreUpdated {
        store_id: shop.id,
        slug: shop.slug.clone(),
        name: "English".into(),
        temporary_domain: "english.summit.localhost".into(),
        custom_domain: None,
        logo_url: None,
        admin_key_hash: service_kit::admin_key::hash(&shop.key),
        language: language.map(str::to_owned),
        version,
    };
    feed(&app.app_pool, shop.id, update(2, Some("en"))).await?;
    feed(&app.app_pool, shop.id, update(3, None)).await?;

    let (order, order_placed) = placed(&app, &shop).await?;
    let rejected = StockReservationRejected {
        order_id: order,
        store_id: shop.id,
        reason: "stock".into(),
        unavailable: vec![],
    };
    reply(&app, &shop, rejected).await?;
    let view = app.status(&order_placed).await?;
    let message = view["reason_message"].as_str().unwrap_or_default();
    assert!(message.contains("out of stock"), "{message}");
    Ok(())
}
