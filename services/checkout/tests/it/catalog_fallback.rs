//! An order naming a product the read model has not heard of yet: checkout asks the real
//! catalog (its router on a database of its own), and refuses with 503 + Retry-After — storing
//! nothing — when catalog cannot answer.

use std::time::Duration;

use checkout::CheckoutConfig;
use reqwest::StatusCode;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{App, CatalogServer, Shop, order, problem, spawn_with};

/// Checkout's read model learns the store the way catalog's StoreCreated tells it.
async fn shop_in_read_model(app: &App, id: Uuid, slug: &str, key: &str) -> anyhow::Result<Shop> {
    crate::helpers::feed(
        &app.app_pool,
        id,
        contracts::catalog::StoreCreated {
            store_id: id,
            slug: slug.to_owned(),
            name: format!("Loja {slug}"),
            contact_email: "dono@example.com".into(),
            temporary_domain: format!("{slug}.summit.localhost"),
            admin_key_hash: service_kit::admin_key::hash(key),
            language: None,
            version: 1,
        },
    )
    .await?;
    Ok(Shop {
        id,
        slug: slug.to_owned(),
        key: key.to_owned(),
    })
}

#[sqlx::test(migrations = false)]
async fn a_product_the_read_model_has_not_heard_of_is_asked_of_catalog(
    pool: PgPool,
) -> anyhow::Result<()> {
    let catalog = CatalogServer::start(&pool).await?;
    let app = spawn_with(
        pool,
        CheckoutConfig {
            catalog_url: catalog.url.clone(),
            ..CheckoutConfig::default()
        },
    )
    .await?;
    let (store_id, key) = catalog.store("quitanda").await?;
    let shop = shop_in_read_model(&app, store_id, "quitanda", &key).await?;
    let fresh = catalog.product(&key, "MEL-1", 1990).await?;
    assert_eq!(
        app.count("products").await?,
        0,
        "the read model has not heard of it"
    );

    let placed = app.place(&shop, &[(fresh, 2)]).await?;
    let status = app.status(&placed).await?;
    assert_eq!(
        status["total_minor"], 3980,
        "priced by catalog, never by the client"
    );
    assert_eq!(status["lines"][0]["sku"], "MEL-1");
    let (version, price): (i64, i64) =
        sqlx::query_as("SELECT version, price_minor FROM products WHERE id = $1")
            .bind(fresh)
            .fetch_one(&app.pool)
            .await?;
    assert_eq!((version, price), (1, 1990), "kept with catalog's version");

    // Catalog has no such product on sale: the line is named, nothing is stored.
    let orders_before = app.count("orders").await?;
    let response = app
        .post_order(&shop.slug, "unknown-1", &order(&[(Uuid::now_v7(), 1)]))
        .await?;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(body["errors"][0]["field"], "lines[0].product_id");
    assert_eq!(app.count("orders").await?, orders_before);
    catalog.remove().await
}

#[sqlx::test(migrations = false)]
async fn with_catalog_down_an_unknown_product_is_refused_with_retry_after_and_nothing_stored(
    pool: PgPool,
) -> anyhow::Result<()> {
    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?
    };
    let app = spawn_with(
        pool,
        CheckoutConfig {
            catalog_url: format!("http://{closed}"),
            catalog_timeout: Duration::from_millis(500),
            ..CheckoutConfig::default()
        },
    )
    .await?;
    let shop = app.shop("feira").await?;
    let known = app.product(&shop, "Banana", 500, "BRL").await?;

    for attempt in 0..4 {
        let response = app
            .post_order(
                &shop.slug,
                &format!("down-{attempt}"),
                &order(&[(known, 1), (Uuid::now_v7(), 1)]),
            )
            .await?;
        let retry_after: u64 = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = problem(response, StatusCode::SERVICE_UNAVAILABLE).await?;
        assert!(
            retry_after >= 1,
            "Retry-After says when to come back: {body}"
        );
    }
    assert_eq!(app.count("orders").await?, 0, "never accepted on a guess");
    assert_eq!(app.count("outbox").await?, 0);

    // Products the read model knows are still sold while catalog is down.
    let placed = app.place(&shop, &[(known, 3)]).await?;
    assert_eq!(app.status(&placed).await?["total_minor"], 1500);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_store_whose_store_created_has_not_arrived_is_asked_of_catalog_and_sells(
    pool: PgPool,
) -> anyhow::Result<()> {
    let catalog = CatalogServer::start(&pool).await?;
    let app = spawn_with(
        pool,
        CheckoutConfig {
            catalog_url: catalog.url.clone(),
            ..CheckoutConfig::default()
        },
    )
    .await?;
    let (store_id, key) = catalog.store("recem-aberta").await?;
    let fresh = catalog.product(&key, "PAO-1", 700).await?;
    assert_eq!(
        app.count("stores").await?,
        0,
        "StoreCreated has not arrived"
    );
    let shop = Shop {
        id: store_id,
        slug: "recem-aberta".into(),
        key: key.clone(),
    };

    let placed = app.place(&shop, &[(fresh, 1)]).await?;
    assert_eq!(app.status(&placed).await?["total_minor"], 700);
    let (version, hash): (i64, String) =
        sqlx::query_as("SELECT version, admin_key_hash FROM stores WHERE id = $1")
            .bind(store_id)
            .fetch_one(&app.pool)
            .await?;
    assert_eq!(
        (version, hash.as_str()),
        (0, ""),
        "learned under version 0, no key opens it"
    );
    let locked = app
        .http
        .get(app.at("/admin/orders"))
        .bearer_auth(&key)
        .send()
        .await?;
    problem(locked, StatusCode::UNAUTHORIZED).await?;

    // StoreCreated arrives: it replaces the learned row, and the merchant's key works.
    shop_in_read_model(&app, store_id, "recem-aberta", &key).await?;
    let orders: serde_json::Value = app
        .http
        .get(app.at("/admin/orders"))
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(orders["items"].as_array().map(Vec::len), Some(1));

    // A slug catalog does not know either: 404, nothing stored.
    let response = app
        .post_order("nenhuma-loja", "x-1", &order(&[(fresh, 1)]))
        .await?;
    problem(response, StatusCode::NOT_FOUND).await?;
    // Nor one catalog refuses to look up (a C1 control character: catalog answers 422).
    let response = app
        .post_order("loja%C2%8Cx", "x-2", &order(&[(fresh, 1)]))
        .await?;
    problem(response, StatusCode::NOT_FOUND).await?;
    assert_eq!(app.count("stores").await?, 1);
    catalog.remove().await
}
