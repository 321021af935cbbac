//! The four journeys, in real headless Chromium: a merchant opens a store, a shopper buys
//! (approved card), a shopper is declined, an operator retries a poisoned message.

use std::time::Duration;

use fantoccini::Locator;

use crate::browser::Browser;
use crate::world::{APPROVED, DECLINED, OPS_TOKEN, World, eventually};

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn a_merchant_opens_a_store_adds_a_product_with_a_logo_and_sees_both_on_its_domain()
-> anyhow::Result<()> {
    let world = World::start().await?;
    let browser = Browser::start().await?;
    let admin = format!("http://127.0.0.1:{}", world.port());
    browser
        .client
        .goto(&format!("{admin}/admin/signup"))
        .await?;
    browser.fill("#name", "Café da Serra").await?;
    browser.fill("#slug", "cafe-da-serra").await?;
    browser.fill("#contact_email", "serra@example.com").await?;
    browser.click("button[type=submit]").await?;
    let key = browser.text("#admin-key").await?;
    assert!(key.starts_with("sk_"), "the admin key is shown once: {key}");
    let shop = browser
        .client
        .find(Locator::Css("#shop-link"))
        .await?
        .attr("href")
        .await?
        .unwrap();
    assert_eq!(
        shop,
        format!("http://cafe-da-serra.summit.localhost:{}/", world.port())
    );
    browser.screenshot("merchant-1-signed-up").await?;

    browser.click("a.button").await?;
    browser.fill("#name", "Café Torrado 250 g").await?;
    browser.fill("#sku", "CAFE-250").await?;
    browser.fill("#price", "25,90").await?;
    browser.fill("#stock", "40").await?;
    browser
        .click("form[action='/admin/products'] button")
        .await?;
    browser
        .wait_text("table", Duration::from_secs(10), |t| {
            t.contains("Café Torrado 250 g")
        })
        .await?;

    let logo = std::env::temp_dir().join(format!("logo-{}.png", uuid::Uuid::new_v4()));
    tokio::fs::write(&logo, PNG).await?;
    browser
        .client
        .goto(&format!("{admin}/admin/settings"))
        .await?;
    browser
        .client
        .find(Locator::Css("#logo"))
        .await?
        .send_keys(&logo.display().to_string())
        .await?;
    browser.screenshot("merchant-2-logo-preview").await?;
    browser.click("form[enctype] button[type=submit]").await?;
    // The upload goes through catalog: on a loaded machine the next page takes a while.
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#current-logo"))
        .await?;

    browser.client.goto(&shop).await?;
    let name = browser.text(".store-name").await?;
    assert_eq!(name, "Café da Serra");
    let width = eventually("the logo loaded on the store's domain", Duration::from_secs(10), || async {
        let width = browser.client.execute("const i = document.querySelector('img.logo'); return i && i.complete ? i.naturalWidth : 0;", vec![]).await.ok()?;
        width.as_u64().filter(|w| *w > 0)
    })
    .await?;
    assert_eq!(width, 1);
    let products = browser.text("ul.products").await?;
    assert!(products.contains("Café Torrado 250 g"), "{products}");
    browser.screenshot("merchant-3-store-on-its-domain").await?;
    browser.close().await?;
    let _ = tokio::fs::remove_file(&logo).await;
    world.stop().await
}

/// Search "cafe" → product → cart → checkout with `card` → the status page, until `done`.
async fn shop(
    world: &World,
    browser: &Browser,
    slug: &str,
    card: &str,
    shot: &str,
) -> anyhow::Result<String> {
    browser
        .client
        .goto(&format!("http://{}/", world.shop_host(slug)))
        .await?;
    browser.fill("#q", "cafe").await?;
    browser.click("form.search button").await?;
    browser
        .wait_text("ul.products", Duration::from_secs(10), |t| {
            t.contains("Café Especial")
        })
        .await?;
    browser.screenshot(&format!("{shot}-1-search")).await?;
    browser.click("ul.products a").await?;
    browser.click("form[action='/cart/add'] button").await?;
    browser
        .wait_text("table.cart", Duration::from_secs(10), |t| {
            t.contains("Café Especial")
        })
        .await?;
    browser.click("a.button").await?;
    for (field, value) in [
        ("#name", "Ana Souza"),
        ("#email", "ana@example.com"),
        ("#line1", "Rua das Flores, 10"),
        ("#city", "Belo Horizonte"),
        ("#postal_code", "30110-000"),
        ("#card_number", card),
        ("#card_holder", "ANA SOUZA"),
        ("#card_exp_month", "12"),
        ("#card_exp_year", "2030"),
        ("#card_cvv", "123"),
    ] {
        browser.fill(field, value).await?;
    }
    browser.screenshot(&format!("{shot}-2-checkout")).await?;
    browser.click("#place-order").await?;
    let status = browser
        .wait_text(".order-status", Duration::from_secs(60), |t| {
            ["Confirmed", "Confirmado", "Cancelled", "Cancelado"]
                .iter()
                .any(|w| t.contains(w))
        })
        .await?;
    browser.screenshot(&format!("{shot}-3-status")).await?;
    Ok(status)
}

#[tokio::test]
async fn a_shopper_searches_buys_with_the_approved_card_and_sees_the_order_confirmed()
-> anyhow::Result<()> {
    let world = World::start().await?;
    world
        .store("loja-cafe", &[("Café Especial", 3490), ("Chá Verde", 1590)])
        .await?;
    let browser = Browser::start().await?;
    let status = shop(&world, &browser, "loja-cafe", APPROVED, "shopper").await?;
    assert!(status.contains("Confirm"), "{status}");
    let timeline = browser.text("ol.timeline").await?;
    assert!(
        timeline.contains("Confirm") && timeline.contains("Rec"),
        "{timeline}"
    );
    browser.close().await?;
    world.stop().await
}

#[tokio::test]
async fn a_declined_card_cancels_the_order_with_the_reason_in_plain_words() -> anyhow::Result<()> {
    let world = World::start().await?;
    world
        .store("loja-recusa", &[("Café Especial", 3490)])
        .await?;
    let browser = Browser::start().await?;
    let status = shop(&world, &browser, "loja-recusa", DECLINED, "declined").await?;
    assert!(status.contains("Cancel"), "{status}");
    let reason = browser.text(".reason").await?;
    assert!(
        !reason.is_empty() && !reason.contains('_'),
        "a reason in words: {reason}"
    );
    browser.close().await?;
    world.stop().await
}

#[tokio::test]
async fn an_operator_sees_a_poisoned_message_retries_it_and_it_leaves_the_list()
-> anyhow::Result<()> {
    let mut world = World::start().await?;
    // A message catalog cannot read: catalog dead-letters it, ops parks it.
    let watcher = platform_tests::EventWatcher::start(&world.stack.vhost, "catalog.events").await?;
    let id = uuid::Uuid::now_v7().to_string();
    let poison = bus::Outgoing {
        exchange: String::new(),
        routing_key: String::new(),
        message_id: id.clone(),
        kind: "catalog.NoSuchCommand".into(),
        correlation_id: None,
        body: br#"{"not": "an envelope"}"#.to_vec(),
        headers: Default::default(),
        mandatory: true,
    }
    .to_queue("catalog.commands");
    watcher.bus().publisher().publish(&poison).await?;

    let browser = Browser::start().await?;
    let console = format!("http://127.0.0.1:{}/ops", world.port());
    browser.client.goto(&console).await?;
    browser.fill("#token", OPS_TOKEN).await?;
    browser.click("button[type=submit]").await?;
    eventually(
        "the poisoned message in /ops",
        Duration::from_secs(30),
        || async {
            browser.client.goto(&console).await.ok()?;
            let list = browser.text("#failures").await.ok()?;
            list.contains(&id).then_some(())
        },
    )
    .await?;
    let count = browser.text("#groups td.count").await?;
    assert_eq!(count, "1");
    browser.screenshot("operator-1-parked").await?;
    browser
        .click(&format!("#failures a[href='/ops/failures/{id}']"))
        .await?;
    let payload = browser.text("#payload").await?;
    assert!(payload.contains("not"), "{payload}");
    browser.screenshot("operator-2-message").await?;

    // The fix: the broken consumer is taken away, so the retried message waits in its queue.
    world.stack.catalog.kill().await?;
    browser.click("#retry").await?;
    let list = browser
        .wait_text("main", Duration::from_secs(10), |t| !t.contains(&id))
        .await?;
    assert!(
        list.contains("Nada estacionado") || list.contains("Nothing is parked"),
        "{list}"
    );
    browser.screenshot("operator-3-retried").await?;
    browser.close().await?;
    watcher.close().await;
    world.stop().await
}
