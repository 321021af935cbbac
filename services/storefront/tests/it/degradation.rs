//! Degradation: catalog down — pages already seen still render from copies, a new search
//! says it is unavailable for a moment; checkout down — the cart is kept and the shopper is
//! told to retry. Never a blank page or a stack trace.

use crate::world::{APPROVED, World, hidden};

#[tokio::test]
async fn copies_stand_in_for_catalog_and_the_cart_outlives_checkout() -> anyhow::Result<()> {
    let mut world = World::start().await?;
    let (_, products) = world.store("loja-firme", &[("Café Firme", 1990)]).await?;
    let mut shopper = world.visitor(&world.shop_host("loja-firme"));
    let product = format!("/products/{}", products[0]);
    assert_eq!(shopper.get(&product).await?.status, 200);
    assert_eq!(shopper.get("/search?q=cafe").await?.status, 200);
    let csrf = hidden(&shopper.get(&product).await?.body, "csrf").unwrap();
    shopper
        .post(
            "/cart/add",
            &[
                ("csrf", &csrf),
                ("product_id", &products[0]),
                ("quantity", "1"),
            ],
        )
        .await?;

    world.stack.catalog.kill().await?;
    // Once the fresh copy has aged (300 ms here), the page comes from the stand-in copy and
    // says so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let page = shopper.get(&product).await?;
        if page.body.contains("class=\"notice\"") || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        page.status, 200,
        "a page already seen still renders: {}",
        page.body
    );
    assert!(page.body.contains("Café Firme"));
    assert!(
        page.body.contains("class=\"notice\""),
        "and says it may be old: {}",
        page.body
    );
    let search = shopper.get("/search?q=cha").await?;
    assert_eq!(search.status, 503, "{}", search.body);
    assert!(
        search.body.contains("indispon") || search.body.contains("unavailable"),
        "{}",
        search.body
    );
    assert!(
        search.body.contains("<form"),
        "still a whole page, with its search box"
    );

    // Checkout down: the order cannot be placed, the cart stays, the shopper is told.
    let form = shopper.get("/checkout").await?;
    let key = hidden(&form.body, "idempotency_key").unwrap();
    world.stack.checkout.kill().await?;
    let token = world.card_token(APPROVED).await?;
    let answer = shopper
        .post(
            "/checkout",
            &[
                ("csrf", csrf.as_str()),
                ("idempotency_key", key.as_str()),
                ("card_token", token.as_str()),
                ("name", "Ana"),
                ("email", "ana@example.com"),
                ("line1", "Rua 3"),
                ("city", "BH"),
                ("postal_code", "30000-000"),
                ("country", "BR"),
            ],
        )
        .await?;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        answer.body.contains("carrinho foi mantido") || answer.body.contains("cart is kept"),
        "{}",
        answer.body
    );
    assert_eq!(
        hidden(&answer.body, "idempotency_key"),
        Some(key),
        "the same attempt: same key"
    );
    assert!(
        answer
            .set_cookies
            .iter()
            .all(|c| !c.starts_with("sf_cart=")),
        "the cart is kept"
    );
    let cart = shopper.get("/cart").await?;
    assert!(cart.body.contains("Café Firme"), "{}", cart.body);
    world.stop().await
}
