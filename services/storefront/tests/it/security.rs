//! Security at the HTTP level: escaping, CSRF, one store's session against another store's
//! data, cookie flags, security headers — and one order for a double-submitted checkout.

use crate::world::{APPROVED, World, hidden};

#[tokio::test]
async fn pages_escape_refuse_forged_forms_keep_stores_apart_and_wear_the_headers()
-> anyhow::Result<()> {
    let world = World::start().await?;
    let (key_a, _) = world
        .store("loja-a", &[("<script>alert(1)</script>", 1000)])
        .await?;
    let (_key_b, b_products) = world.store("loja-b", &[("Café B", 2000)]).await?;

    // A product named like a script renders as text.
    let mut shopper = world.visitor(&world.shop_host("loja-a"));
    let home = shopper.get("/").await?;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(
        home.body.contains("Loja loja-a"),
        "the store's name on every page"
    );
    assert!(
        home.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        home.body
    );
    assert!(!home.body.contains("<script>alert(1)"), "never as markup");

    // Security headers on every response.
    let csp = home.headers["content-security-policy"].to_str()?;
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(home.headers["x-content-type-options"], "nosniff");
    assert!(
        !home.body.contains("<script>") || !home.body.contains("<script>("),
        "no inline script"
    );
    let health = shopper.get("/health/live").await?;
    assert_eq!(
        health.headers["x-content-type-options"], "nosniff",
        "health too"
    );

    // A form without the CSRF token (or with another) is refused before it acts.
    let mut merchant = world.visitor(&format!("127.0.0.1:{}", world.port()));
    let refused = merchant
        .post("/admin/signin", &[("admin_key", &key_a)])
        .await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused
            .set_cookies
            .iter()
            .all(|c| !c.starts_with("sf_admin=")),
        "no session"
    );
    merchant.csrf().await?;
    let forged = merchant
        .post(
            "/admin/signin",
            &[("csrf", "not-the-token"), ("admin_key", &key_a)],
        )
        .await?;
    assert_eq!(forged.status, 403);

    // Sign-in cookie: HttpOnly, SameSite=Lax, host-only, expiring; Secure behind TLS.
    let csrf = merchant.csrf().await?;
    let signed_in = merchant
        .post_with(
            "/admin/signin",
            &[("csrf", &csrf), ("admin_key", &key_a)],
            &[("x-forwarded-proto", "https")],
        )
        .await?;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session = signed_in
        .set_cookies
        .iter()
        .find(|c| c.starts_with("sf_admin="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age="] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    assert!(!session.contains("Domain="), "host-only: {session}");
    assert!(
        !session.contains(&key_a),
        "the admin key is sealed: {session}"
    );
    let plain = world
        .visitor(&format!("127.0.0.1:{}", world.port()))
        .sign_in(&key_a)
        .await?;
    let plain = plain
        .set_cookies
        .iter()
        .find(|c| c.starts_with("sf_admin="))
        .unwrap()
        .clone();
    assert!(
        !plain.contains("Secure"),
        "no Secure over plain HTTP locally: {plain}"
    );

    // Store A's session cannot open store B's product or order.
    let dashboard = merchant.get("/admin/products").await?;
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard.body.contains("&lt;script&gt;"),
        "A's own product, escaped"
    );
    let theirs = merchant
        .get(&format!("/admin/products/{}", b_products[0]))
        .await?;
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    let token = world.card_token(APPROVED).await?;
    let order: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/stores/loja-b/orders", world.stack.checkout.url()))
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&serde_json::json!({
            "lines": [{"product_id": b_products[0], "quantity": 1}],
            "customer": {"name": "Bia", "email": "bia@example.com"},
            "shipping_address": {"line1": "Rua 1", "city": "BH", "postal_code": "30000-000", "country": "BR"},
            "payment": {"card_token": token}}))
        .send()
        .await?
        .json()
        .await?;
    let theirs = merchant
        .get(&format!(
            "/admin/orders/{}",
            order["order_id"].as_str().unwrap()
        ))
        .await?;
    assert_eq!(theirs.status, 404, "{}", theirs.body);

    // Signing out ends the session.
    let csrf = hidden(&merchant.get("/admin").await?.body, "csrf").unwrap();
    let out = merchant.post("/admin/signout", &[("csrf", &csrf)]).await?;
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("sf_admin=;") && c.contains("Max-Age=0"))
    );
    let after = merchant.get("/admin/products").await?;
    assert_eq!(after.status, 303, "signed out: back to sign in");

    world.stop().await
}

#[tokio::test]
async fn a_double_submitted_checkout_places_one_order() -> anyhow::Result<()> {
    let world = World::start().await?;
    let (admin_key, products) = world.store("loja-dupla", &[("Café Duplo", 1500)]).await?;
    let mut shopper = world.visitor(&world.shop_host("loja-dupla"));
    let page = shopper.get(&format!("/products/{}", products[0])).await?;
    let csrf = hidden(&page.body, "csrf").unwrap();
    let added = shopper
        .post(
            "/cart/add",
            &[
                ("csrf", &csrf),
                ("product_id", &products[0]),
                ("quantity", "2"),
            ],
        )
        .await?;
    assert_eq!(added.status, 303);
    let cart = shopper.get("/cart").await?;
    assert!(cart.body.contains("Café Duplo"), "{}", cart.body);
    let form = shopper.get("/checkout").await?;
    assert_eq!(form.status, 200, "{}", form.body);
    let key = hidden(&form.body, "idempotency_key").unwrap();
    assert!(
        !form.body.contains("name=\"card_number\""),
        "card inputs are never posted"
    );
    let token = world.card_token(APPROVED).await?;
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("card_token", token.as_str()),
        ("name", "Ana"),
        ("email", "ana@example.com"),
        ("line1", "Rua 2"),
        ("city", "BH"),
        ("postal_code", "30000-000"),
        ("country", "BR"),
    ];
    let cookies = shopper.cookies.clone();
    let first = shopper.post("/checkout", &fields).await?;
    shopper.cookies = cookies; // the second click left before the first answer came back
    let second = shopper.post("/checkout", &fields).await?;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(second.status, 303, "{}", second.body);
    assert_eq!(first.location, second.location, "the same order both times");
    let orders = crate::world::eventually(
        "the store's orders at checkout",
        std::time::Duration::from_secs(30),
        || async {
            let list: serde_json::Value = reqwest::Client::new()
                .get(format!("{}/admin/orders", world.stack.checkout.url()))
                .bearer_auth(&admin_key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            list["items"].as_array().cloned()
        },
    )
    .await?;
    assert_eq!(orders.len(), 1, "one order: {orders:?}");
    world.stop().await
}
