//! The merchant's payments pages against the real payments service: a paid order's
//! transaction listed and opened with its history (another store's is a 404); the gateway
//! settings saved, refused naming the field, and the secret never shown back.

use std::time::{Duration, Instant};

use crate::world::{APPROVED, Answer, Visitor, World, hidden};

/// GETs `path` until payments knows the store's key (it learns it from catalog's events) and
/// `ready` holds for the page.
async fn page_when(
    merchant: &mut Visitor,
    path: &str,
    ready: impl Fn(&Answer) -> bool,
) -> anyhow::Result<Answer> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = merchant.get(path).await?;
        if page.status == 200 && ready(&page) {
            return Ok(page);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{path} never got ready: {} {}",
            page.status,
            &page.body[page.body.find("<main>").unwrap_or(0)..]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_paid_orders_transaction_is_listed_and_opened_with_its_history() -> anyhow::Result<()> {
    let world = World::start().await?;
    let (key, products) = world
        .store("loja-pagamentos", &[("Café Pago", 2590)])
        .await?;
    let (other_key, _) = world.store("loja-alheia", &[]).await?;
    let token = world.card_token(APPROVED).await?;
    let checkout = reqwest::Client::new();
    let body = serde_json::json!({
        "lines": [{"product_id": products[0], "quantity": 2}],
        "customer": {"name": "Bia", "email": "bia@example.com"},
        "shipping_address": {"line1": "Rua 1", "city": "BH", "postal_code": "30000-000", "country": "BR"},
        "payment": {"card_token": token}});
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let order = crate::world::eventually("the order accepted", Duration::from_secs(60), || async {
        let response = checkout
            .post(format!(
                "{}/stores/loja-pagamentos/orders",
                world.stack.checkout.url()
            ))
            .header("idempotency-key", &idempotency_key)
            .json(&body)
            .send()
            .await
            .ok()?;
        (response.status() == 202).then_some(response.json::<serde_json::Value>().await.ok()?)
    })
    .await?;
    let order_id = order["order_id"].as_str().unwrap().to_owned();

    let platform = format!("127.0.0.1:{}", world.port());
    let mut merchant = world.visitor(&platform);
    merchant.sign_in(&key).await?;
    let list = page_when(&mut merchant, "/admin/payments", |page| {
        page.body.contains("data-status=\"completed\"")
    })
    .await?;
    assert!(
        list.body.contains(&format!("/admin/orders/{order_id}")),
        "{}",
        list.body
    );
    assert!(list.body.contains("51,80"), "the amount: {}", list.body);
    let transaction = hidden_row_id(&list.body).unwrap();

    let filtered = merchant.get("/admin/payments?status=declined").await?;
    assert!(!filtered.body.contains(&transaction), "the filter applies");

    let detail = merchant
        .get(&format!("/admin/payments/{transaction}"))
        .await?;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(detail.body.contains("data-status=\"completed\""));
    assert!(detail.body.contains(&order_id));
    let history = &detail.body[detail.body.find("id=\"history\"").unwrap()..];
    assert!(
        history.matches("<tr>").count() >= 2,
        "a header and the steps: {history}"
    );

    // Another store's session: the same 404 as an unknown transaction.
    let mut other = world.visitor(&platform);
    other.sign_in(&other_key).await?;
    page_when(&mut other, "/admin/payments", |_| true).await?;
    assert_eq!(
        other
            .get(&format!("/admin/payments/{transaction}"))
            .await?
            .status,
        404
    );
    world.stop().await
}

/// The first transaction row's id.
fn hidden_row_id(html: &str) -> Option<String> {
    let marker = "data-transaction=\"";
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

#[tokio::test]
async fn gateway_settings_are_saved_refused_by_field_and_the_secret_never_shown()
-> anyhow::Result<()> {
    let world = World::start().await?;
    let (key, _) = world.store("loja-gateway", &[]).await?;
    let mut merchant = world.visitor(&format!("127.0.0.1:{}", world.port()));
    merchant.sign_in(&key).await?;
    let page = page_when(&mut merchant, "/admin/payments", |_| true).await?;
    assert!(
        page.body
            .contains("id=\"gateway-current\">Cobrando pela conta pagar.me da Summit"),
        "the platform's account by default: {}",
        page.body
    );
    let csrf = hidden(&page.body, "csrf").unwrap();

    let forged = merchant
        .post(
            "/admin/payments/gateway",
            &[("csrf", "forged"), ("provider", "stripe")],
        )
        .await?;
    assert_eq!(forged.status, 403);

    // A test secret with a live publishable key: refused, naming the field; the secret not
    // echoed, the rest kept.
    let refused_secret = "sk_test_refusedSecret0001";
    let refused = merchant
        .post(
            "/admin/payments/gateway",
            &[
                ("csrf", &csrf),
                ("provider", "stripe"),
                ("public_key", "pk_live_abcdefgh"),
                ("secret_key", refused_secret),
            ],
        )
        .await?;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"gateway-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("public_key"), "{}", refused.body);
    assert!(
        !refused.body.contains(refused_secret),
        "the secret is never echoed"
    );
    assert!(refused.body.contains("value=\"pk_live_abcdefgh\""));
    assert!(refused.body.contains("<option value=\"stripe\" selected"));

    let secret = "sk_test_theRealSecret9876";
    let saved = merchant
        .post(
            "/admin/payments/gateway",
            &[
                ("csrf", &csrf),
                ("provider", "stripe"),
                ("public_key", "pk_test_abcdefgh"),
                ("secret_key", secret),
            ],
        )
        .await?;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let page = merchant.get("/admin/payments").await?;
    let current = &page.body[page.body.find("id=\"gateway-current\"").unwrap()..];
    assert!(
        current.contains("stripe") && current.contains("pk_test_abcdefgh"),
        "{current}"
    );
    assert!(
        page.body.contains("id=\"secret-last4\">9876<"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(secret), "never the secret");
    assert!(
        !page.body.contains("name=\"secret_key\" value"),
        "the secret input is always empty"
    );
    world.stop().await
}
