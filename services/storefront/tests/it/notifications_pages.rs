//! The merchant's notifications page against the real notifications service: a webhook
//! endpoint added (its secret shown once, never in the listing, a bad URL refused naming the
//! field), and a placed order's deliveries listed and sent again.

use std::time::{Duration, Instant};

use crate::world::{APPROVED, Answer, Visitor, World, eventually, hidden};

/// GETs `/admin/notifications` until notifications knows the store's key (from catalog's
/// events) and `ready` holds.
async fn page_when(
    merchant: &mut Visitor,
    ready: impl Fn(&Answer) -> bool,
) -> anyhow::Result<Answer> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = merchant.get("/admin/notifications").await?;
        if page.status == 200 && ready(&page) {
            return Ok(page);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the notifications page never got ready: {} {}",
            page.status,
            &page.body[page.body.find("<main>").unwrap_or(0)..]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn webhook_endpoints_are_added_with_the_secret_shown_once_and_deliveries_sent_again()
-> anyhow::Result<()> {
    let world = World::start_with_notifications().await?;
    let (key, products) = world.store("loja-avisos", &[("Café Aviso", 1200)]).await?;
    let mut merchant = world.visitor(&format!("127.0.0.1:{}", world.port()));
    merchant.sign_in(&key).await?;
    let page = page_when(&mut merchant, |_| true).await?;
    let csrf = hidden(&page.body, "csrf").unwrap();
    let form_key = hidden(&page.body, "idempotency_key").unwrap();

    let bad = merchant
        .post(
            "/admin/notifications/webhooks",
            &[
                ("csrf", &csrf),
                ("idempotency_key", "k-bad"),
                ("url", "ftp://example.com/hook"),
                ("event_types", "checkout.OrderPlaced"),
            ],
        )
        .await?;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("role=\"alert\">url: "),
        "the refusal names the field: {}",
        bad.body
    );

    let hook = "http://127.0.0.1:9/hook";
    let added = merchant
        .post(
            "/admin/notifications/webhooks",
            &[
                ("csrf", &csrf),
                ("idempotency_key", &form_key),
                ("url", hook),
                ("event_types", "checkout.OrderPlaced"),
            ],
        )
        .await?;
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.headers["cache-control"], "no-store");
    let secret_at =
        added.body.find("id=\"endpoint-secret\">").unwrap() + "id=\"endpoint-secret\">".len();
    let secret = &added.body[secret_at..secret_at + added.body[secret_at..].find('<').unwrap()];
    assert!(secret.starts_with("whsec_"), "{secret}");

    // A double submit of the same form adds nothing more.
    let again = merchant
        .post(
            "/admin/notifications/webhooks",
            &[
                ("csrf", &csrf),
                ("idempotency_key", &form_key),
                ("url", hook),
                ("event_types", "checkout.OrderPlaced"),
            ],
        )
        .await?;
    assert_eq!(again.status, 201, "{}", again.body);
    let listing = merchant.get("/admin/notifications").await?;
    assert_eq!(
        listing.body.matches("data-endpoint=").count(),
        1,
        "{}",
        listing.body
    );
    assert!(listing.body.contains(hook));
    assert!(!listing.body.contains(secret), "the secret is never listed");

    // An order: its mail and its webhook are deliveries on the page.
    let token = world.card_token(APPROVED).await?;
    let body = serde_json::json!({
        "lines": [{"product_id": products[0], "quantity": 1}],
        "customer": {"name": "Caio", "email": "caio@example.com"},
        "shipping_address": {"line1": "Rua 2", "city": "Recife", "postal_code": "50000-000", "country": "BR"},
        "payment": {"card_token": token}});
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let http = reqwest::Client::new();
    eventually("the order accepted", Duration::from_secs(60), || async {
        let response = http
            .post(format!(
                "{}/stores/loja-avisos/orders",
                world.stack.checkout.url()
            ))
            .header("idempotency-key", &idempotency_key)
            .json(&body)
            .send()
            .await
            .ok()?;
        (response.status() == 202).then_some(())
    })
    .await?;
    let page = page_when(&mut merchant, |page| {
        page.body.contains("data-channel=\"webhook\"")
    })
    .await?;
    let marker = "data-delivery=\"";
    let webhook_row = page.body[..page.body.find("data-channel=\"webhook\"").unwrap()]
        .rfind(marker)
        .unwrap()
        + marker.len();
    let delivery = &page.body[webhook_row..webhook_row + 36];
    assert!(delivery.parse::<uuid::Uuid>().is_ok(), "{delivery}");

    let forged = merchant
        .post(
            &format!("/admin/notifications/deliveries/{delivery}/resend"),
            &[("csrf", "forged")],
        )
        .await?;
    assert_eq!(forged.status, 403);
    let resent = merchant
        .post(
            &format!("/admin/notifications/deliveries/{delivery}/resend"),
            &[("csrf", &csrf)],
        )
        .await?;
    assert_eq!(resent.status, 303, "{}", resent.body);
    world.stop().await
}
