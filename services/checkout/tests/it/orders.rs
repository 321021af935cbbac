//! The HTTP contract: placing orders, idempotency, refusals, the shopper's and merchant's views.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{order, problem, spawn};

#[sqlx::test(migrations = false)]
async fn an_order_is_priced_from_the_read_model_and_leaves_through_the_outbox(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("loja").await?;
    let mug = app.product(&shop, "Caneca", 2500, "BRL").await?;
    let tee = app.product(&shop, "Camiseta", 7990, "BRL").await?;

    let placed = app.place(&shop, &[(mug, 2), (tee, 1)]).await?;
    let id = placed["order_id"].as_str().unwrap_or_default().to_owned();
    let token = placed["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(placed["status"], "pending");
    assert_eq!(placed["status_url"], format!("/orders/{id}?token={token}"));
    assert!(token.len() >= 32, "at least 128 bits: {token}");

    let (total, stored_token_hash, card): (i64, String, Option<String>) =
        sqlx::query_as("SELECT total_minor, token_hash, card_token FROM orders")
            .fetch_one(&app.pool)
            .await?;
    assert_eq!(total, 2 * 2500 + 7990);
    assert_eq!(stored_token_hash, service_kit::admin_key::hash(&token));
    assert_eq!(card.as_deref(), Some("tok_test_4000000000000010"));
    // The token is nowhere in the database in the clear.
    let everything: String = sqlx::query_scalar(
        "SELECT (SELECT json_agg(o)::text FROM orders o) || (SELECT json_agg(i)::text FROM idempotency_keys i)",
    )
    .fetch_one(&app.pool)
    .await?;
    assert!(
        !everything.contains(&token[3..]),
        "token stored in the clear"
    );

    let outbox = app.outbox().await?;
    let kinds: Vec<&str> = outbox.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["checkout.OrderPlaced", "catalog.reserve-stock"]);
    assert_eq!(outbox[0].1["total_minor"], 12990);
    assert_eq!(outbox[0].1["lines"][0]["name"], "Caneca");
    assert_eq!(
        outbox[1].1["lines"][1],
        json!({"product_id": tee, "quantity": 1})
    );

    let view = app.status(&placed).await?;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["total_minor"], 12990);
    assert_eq!(view["currency"], "BRL");
    assert_eq!(view["store_id"], shop.id.to_string());
    assert_eq!(view["lines"][0]["unit_price_minor"], 2500);
    assert_eq!(view["lines"][0]["sku"], "SKU-Caneca");
    assert_eq!(view["reason"], Value::Null);
    assert_eq!(view["timeline"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["timeline"][0]["status"], "pending");

    // A wrong or missing token is exactly an unknown order.
    for url in [
        format!("/orders/{id}?token=ot_{}", "0".repeat(64)),
        format!("/orders/{id}"),
        format!("/orders/{}?token={token}", Uuid::now_v7()),
    ] {
        let body = problem(
            app.http.get(app.at(&url)).send().await?,
            StatusCode::NOT_FOUND,
        )
        .await?;
        assert_eq!(body["title"], "order not found");
    }
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_idempotency_key_replays_the_first_answer_and_refuses_another_request(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("idem").await?;
    let mug = app.product(&shop, "Caneca", 100, "BRL").await?;
    let body = order(&[(mug, 1)]);

    let missing = app
        .http
        .post(app.at("/stores/idem/orders"))
        .json(&body)
        .send()
        .await?;
    problem(missing, StatusCode::BAD_REQUEST).await?;
    assert_eq!(app.count("orders").await?, 0);

    let first = app.post_order("idem", "k-1", &body).await?;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await?;
    let again = app.post_order("idem", "k-1", &body).await?;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(
        again.json::<Value>().await?,
        first,
        "the same answer, token included"
    );
    assert_eq!(app.count("orders").await?, 1);

    let other = app.post_order("idem", "k-1", &order(&[(mug, 2)])).await?;
    let refused = problem(other, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(refused["type"], "idempotency-key-reused");

    // Concurrent repeats: one order, one answer.
    let key = "k-concurrent";
    let (a, b) = tokio::join!(
        app.post_order("idem", key, &body),
        app.post_order("idem", key, &body)
    );
    let (a, b): (Value, Value) = (a?.json().await?, b?.json().await?);
    assert_eq!(a, b);
    assert_eq!(app.count("orders").await?, 2);
    assert_eq!(app.count("outbox").await?, 4);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn refused_orders_name_the_field_and_store_nothing(pool: PgPool) -> anyhow::Result<()> {
    // Products unknown here are asked of catalog (which has none of them on sale).
    let catalog = crate::helpers::CatalogServer::start(&pool).await?;
    let app = crate::helpers::spawn_with(
        pool,
        checkout::CheckoutConfig {
            catalog_url: catalog.url.clone(),
            ..checkout::CheckoutConfig::default()
        },
    )
    .await?;
    let shop = app.shop("regras").await?;
    let other = app.shop("outra").await?;
    let mug = app.product(&shop, "Caneca", 100, "BRL").await?;
    let usd = app.product(&shop, "Import", 100, "USD").await?;
    let theirs = app.product(&other, "Deles", 100, "BRL").await?;
    let off = Uuid::now_v7();
    app.upsert(&shop, off, "Off", 100, "BRL", false, 1).await?;

    let cases: Vec<(Value, &str)> = vec![
        (order(&[(mug, 1), (mug, 1), (mug, 0)]), "lines[2].quantity"),
        (order(&[(mug, 1001)]), "lines[0].quantity"),
        (order(&[]), "lines"),
        (order(&vec![(mug, 1); 101]), "lines"),
        (order(&[(mug, 1), (theirs, 1)]), "lines[1].product_id"),
        (order(&[(off, 1)]), "lines[0].product_id"),
        (order(&[(Uuid::now_v7(), 1)]), "lines[0].product_id"),
        (order(&[(mug, 1), (usd, 1)]), "lines[1].product_id"),
        (
            {
                let mut o = order(&[(mug, 1)]);
                o["customer"]["email"] = json!("not-an-email");
                o
            },
            "customer.email",
        ),
        (
            {
                let mut o = order(&[(mug, 1)]);
                o["coupon"] = json!("FREE");
                o
            },
            "coupon",
        ),
    ];
    for (i, (body, field)) in cases.iter().enumerate() {
        let response = app.post_order("regras", &format!("k-{i}"), body).await?;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
        assert_eq!(body["errors"][0]["field"], *field, "{body}");
    }

    let malformed = app
        .http
        .post(app.at("/stores/regras/orders"))
        .header("idempotency-key", "m")
        .header("content-type", "application/json")
        .body("{\"lines\": [")
        .send()
        .await?;
    problem(malformed, StatusCode::BAD_REQUEST).await?;
    let mut huge = order(&[(mug, 1)]);
    huge["customer"]["name"] = json!("x".repeat(70 * 1024));
    let too_large = app.post_order("regras", "big", &huge).await?;
    problem(too_large, StatusCode::PAYLOAD_TOO_LARGE).await?;
    let unknown_store = app.post_order("nope", "k", &order(&[(mug, 1)])).await?;
    problem(unknown_store, StatusCode::NOT_FOUND).await?;

    for table in [
        "orders",
        "order_lines",
        "order_timeline",
        "outbox",
        "idempotency_keys",
    ] {
        assert_eq!(app.count(table).await?, 0, "{table} after refusals");
    }
    catalog.remove().await
}

#[sqlx::test(migrations = false)]
async fn merchants_list_their_orders_newest_first_and_never_see_another_store(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("admin").await?;
    let other = app.shop("vizinha").await?;
    let mug = app.product(&shop, "Caneca", 100, "BRL").await?;
    let theirs = app.product(&other, "Deles", 100, "BRL").await?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.place(&shop, &[(mug, 1)]).await?["order_id"].clone());
    }
    let foreign = app.place(&other, &[(theirs, 1)]).await?["order_id"].clone();

    let get = |path: String, key: &str| app.http.get(app.at(&path)).bearer_auth(key).send();
    let page: Value = get("/admin/orders?limit=2".into(), &shop.key)
        .await?
        .json()
        .await?;
    let first: Vec<&Value> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(first, [&ids[2], &ids[1]], "newest first");
    let cursor = page["next_cursor"].as_str().unwrap_or_default();
    let rest: Value = get(format!("/admin/orders?limit=2&cursor={cursor}"), &shop.key)
        .await?
        .json()
        .await?;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest["items"][0]["id"], ids[0]);
    assert_eq!(rest["next_cursor"], Value::Null);

    let filtered: Value = get("/admin/orders?status=confirmed".into(), &shop.key)
        .await?
        .json()
        .await?;
    assert_eq!(filtered["items"].as_array().map(Vec::len), Some(0));
    problem(
        get("/admin/orders?status=shipped".into(), &shop.key).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;

    let one: Value = get(
        format!("/admin/orders/{}", ids[0].as_str().unwrap_or_default()),
        &shop.key,
    )
    .await?
    .json()
    .await?;
    assert_eq!(one["customer"]["email"], "ana@example.com");
    assert_eq!(one["timeline"][0]["status"], "pending");

    let foreign_path = format!("/admin/orders/{}", foreign.as_str().unwrap_or_default());
    problem(get(foreign_path, &shop.key).await?, StatusCode::NOT_FOUND).await?;
    problem(
        get("/admin/orders".into(), "sk_wrong").await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    let none = app.http.get(app.at("/admin/orders")).send().await?;
    problem(none, StatusCode::UNAUTHORIZED).await?;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_openapi_document_describes_every_route(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let doc: Value = app
        .http
        .get(app.at("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/stores/{slug}/orders",
        "/orders/{id}",
        "/admin/orders",
        "/admin/orders/{id}",
        "/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} undocumented");
    }
    Ok(())
}
