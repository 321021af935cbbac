//! The admin product API: versions, soft delete, SKUs, pagination, refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{problem, product, spawn};

#[sqlx::test(migrations = false)]
async fn products_change_with_growing_versions_and_delete_softly(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("mercearia").await?;
    let created = app
        .create_product(&m.key, json!({"name": "Café Torrado", "description": "250 g", "sku": "CAFE-250", "price_minor": 2590, "currency": "BRL", "stock": 12, "active": true}))
        .await?;
    assert_eq!(created["version"], 1);
    assert_eq!(created["stock"], 12);
    let id = created["id"].as_str().expect("an id").to_owned();
    let url = app.at(&format!("/admin/products/{id}"));

    let patched: Value = app
        .http
        .patch(&url)
        .bearer_auth(&m.key)
        .json(&json!({"price_minor": 2790, "name": "Café Torrado Especial"}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["price_minor"], 2790);
    assert_eq!(patched["sku"], "CAFE-250");

    let deleted = app.http.delete(&url).bearer_auth(&m.key).send().await?;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    // Still readable by id for orders that name it; gone from the listing and the search.
    let after: Value = app
        .http
        .get(&url)
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(after["id"], id.as_str());
    assert!(after["deleted_at"].is_string());
    assert_eq!(after["version"], 3);
    let listed: Value = app
        .http
        .get(app.at("/admin/products"))
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(0));
    let searched: Value = app
        .http
        .get(app.at("/stores/mercearia/products?q=cafe"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(searched["items"].as_array().map(Vec::len), Some(0));
    // A deleted product cannot change any more.
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&m.key)
            .json(&json!({"stock_delta": 1}))
            .send()
            .await?,
        StatusCode::NOT_FOUND,
    )
    .await?;

    let events: Vec<(String, Value)> = app.outbox().await?.into_iter().skip(1).collect();
    let summary: Vec<(&str, i64)> = events
        .iter()
        .map(|(k, p)| (k.as_str(), p["version"].as_i64().unwrap_or(-1)))
        .collect();
    assert_eq!(
        summary,
        [
            ("catalog.ProductUpserted", 1),
            ("catalog.ProductUpserted", 2),
            ("catalog.ProductDeleted", 3)
        ]
    );
    assert_eq!(events[1].1["name"], "Café Torrado Especial");
    assert_eq!(events[2].1["product_id"], id.as_str());
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn skus_are_unique_per_store(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let a = app.create_store("loja-um").await?;
    let b = app.create_store("loja-dois").await?;
    let first = app.create_product(&a.key, product("SKU-1", "Pão")).await?;
    let again = app
        .http
        .post(app.at("/admin/products"))
        .bearer_auth(&a.key)
        .json(&product("SKU-1", "Outro"))
        .send()
        .await?;
    problem(again, StatusCode::CONFLICT).await?;
    // Another store may use the same SKU; a deleted product frees it.
    app.create_product(&b.key, product("SKU-1", "Pão")).await?;
    let second = app
        .create_product(&a.key, product("SKU-2", "Queijo"))
        .await?;
    let clash = app
        .http
        .patch(app.at(&format!(
            "/admin/products/{}",
            second["id"].as_str().unwrap_or_default()
        )))
        .bearer_auth(&a.key)
        .json(&json!({"sku": "SKU-1"}))
        .send()
        .await?;
    problem(clash, StatusCode::CONFLICT).await?;
    let url = app.at(&format!(
        "/admin/products/{}",
        first["id"].as_str().unwrap_or_default()
    ));
    assert_eq!(
        app.http
            .delete(&url)
            .bearer_auth(&a.key)
            .send()
            .await?
            .status(),
        StatusCode::NO_CONTENT
    );
    app.create_product(&a.key, product("SKU-1", "Pão novo"))
        .await?;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn listing_pages_with_a_cursor(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("paginada").await?;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            app.create_product(&m.key, product(&format!("P{i}"), &format!("Produto {i}")))
                .await?["id"]
                .clone(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut request = app
            .http
            .get(app.at("/admin/products"))
            .bearer_auth(&m.key)
            .query(&[("limit", "2")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let page: Value = request.send().await?.json().await?;
        pages += 1;
        seen.extend(
            page["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);
    let bad = app
        .http
        .get(app.at("/admin/products?cursor=zz"))
        .bearer_auth(&m.key)
        .send()
        .await?;
    assert_eq!(
        problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await?["errors"][0]["field"],
        "cursor"
    );
    let bad = app
        .http
        .get(app.at("/admin/products?limit=1000"))
        .bearer_auth(&m.key)
        .send()
        .await?;
    assert_eq!(
        problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await?["errors"][0]["field"],
        "limit"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn refused_requests_change_nothing(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("recusas").await?;
    let post = |key: Option<&str>, body: Value| {
        let request = app.http.post(app.at("/admin/products")).json(&body);
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
        .send()
    };
    problem(
        post(None, product("A", "A")).await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    problem(
        post(Some("sk_wrong"), product("A", "A")).await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    // The key is checked before the body: no key, bad body → still 401.
    problem(
        post(None, json!({"nonsense": true})).await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;

    let mut negative = product("A", "A");
    negative["price_minor"] = json!(-5);
    let body = problem(
        post(Some(&m.key), negative).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(body["errors"][0]["field"], "price_minor");
    let mut mistyped = product("A", "A");
    mistyped["stock"] = json!("many");
    let body = problem(
        post(Some(&m.key), mistyped).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(body["errors"][0]["field"], "stock");
    let mut currency = product("A", "A");
    currency["currency"] = json!("reais");
    let body = problem(
        post(Some(&m.key), currency).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(body["errors"][0]["field"], "currency");
    let mut extra = product("A", "A");
    extra["colour"] = json!("red");
    let body = problem(
        post(Some(&m.key), extra).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(body["errors"][0]["field"], "colour");
    let mut huge = product("A", "A");
    huge["description"] = json!("x".repeat(10_000));
    problem(
        post(Some(&m.key), huge).await?,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await?;
    let malformed = app
        .http
        .post(app.at("/admin/products"))
        .bearer_auth(&m.key)
        .header("content-type", "application/json")
        .body("{\"name\": \"A\",")
        .send()
        .await?;
    problem(malformed, StatusCode::BAD_REQUEST).await?;

    // A PATCH with a bad field changes none of the good ones either.
    let created = app.create_product(&m.key, product("OK", "Bom")).await?;
    let url = app.at(&format!(
        "/admin/products/{}",
        created["id"].as_str().unwrap_or_default()
    ));
    let patch = app
        .http
        .patch(&url)
        .bearer_auth(&m.key)
        .json(&json!({"name": "Novo", "price_minor": -1}))
        .send()
        .await?;
    problem(patch, StatusCode::UNPROCESSABLE_ENTITY).await?;
    let unchanged: Value = app
        .http
        .get(&url)
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(unchanged["name"], "Bom");
    assert_eq!(unchanged["version"], 1);

    assert_eq!(app.count("products").await?, 1);
    assert_eq!(app.count("outbox").await?, 2);
    let unknown_route = app.http.get(app.at("/nowhere")).send().await?;
    problem(unknown_route, StatusCode::NOT_FOUND).await?;
    Ok(())
}

/// The merchant reads the product (10 on the shelf), an order reserves 3, then the merchant
/// adds 5 received units: the shelf holds 12, and the reservation is not overwritten. An
/// absolute `stock` in a PATCH (which would overwrite it) is refused, naming the field.
#[sqlx::test(migrations = false)]
async fn a_stock_change_never_overwrites_a_reservation(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("deposito").await?;
    let created = app
        .create_product(&m.key, json!({"name": "Café", "sku": "CAFE", "price_minor": 100, "currency": "BRL", "stock": 10}))
        .await?;
    let id = created["id"].as_str().expect("an id").to_owned();
    let url = app.at(&format!("/admin/products/{id}"));
    let read: Value = app
        .http
        .get(&url)
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(read["stock"], 10);

    // Between the merchant's read and write, checkout reserves 3 units.
    let service = crate::helpers::app_pool(&app.pool).await?;
    let store: uuid::Uuid = m.id.parse()?;
    let order = uuid::Uuid::now_v7();
    let reserved = catalog::stock::reserve(
        &service,
        &contracts::Envelope::new(
            Some(store),
            contracts::catalog::ReserveStock {
                order_id: order,
                store_id: store,
                lines: vec![contracts::catalog::StockLine {
                    product_id: id.parse()?,
                    quantity: 3,
                }],
            },
        ),
    )
    .await?;
    assert!(
        matches!(reserved, catalog::stock::StockAnswer::Reserved(_)),
        "{reserved:?}"
    );

    // The merchant received 5 more units.
    let response = app
        .http
        .patch(&url)
        .bearer_auth(&m.key)
        .json(&json!({"stock_delta": 5}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await?;
    assert_eq!(patched["stock"], 12, "10 - 3 reserved + 5 received");

    // Setting the count the merchant saw would erase the reservation: refused.
    let absolute = app
        .http
        .patch(&url)
        .bearer_auth(&m.key)
        .json(&json!({"stock": 15}))
        .send()
        .await?;
    let body = problem(absolute, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(body["errors"][0]["field"], "stock");
    // Taking more than the shelf holds: refused, nothing changes.
    let too_many = app
        .http
        .patch(&url)
        .bearer_auth(&m.key)
        .json(&json!({"stock_delta": -13}))
        .send()
        .await?;
    let body = problem(too_many, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(body["errors"][0]["field"], "stock_delta");
    let now: Value = app
        .http
        .get(&url)
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(now["stock"], 12);

    // The order is cancelled: its 3 units come back on top of the merchant's change.
    catalog::stock::release(
        &service,
        &contracts::Envelope::new(
            Some(store),
            contracts::catalog::ReleaseStock {
                order_id: order,
                store_id: store,
            },
        ),
    )
    .await?;
    let now: Value = app
        .http
        .get(&url)
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(now["stock"], 15);
    Ok(())
}

/// Stock counts are bounded at the edge: beyond the bound is a 422 naming the field, and
/// nothing changes.
#[sqlx::test(migrations = false)]
async fn stock_beyond_its_bound_is_refused_naming_the_field(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("limites").await?;
    let mut huge = product("HUGE", "Grão");
    huge["stock"] = json!(1_000_000_001_i64);
    let response = app
        .http
        .post(app.at("/admin/products"))
        .bearer_auth(&m.key)
        .json(&huge)
        .send()
        .await?;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(body["errors"][0]["field"], "stock");
    assert_eq!(app.count("products").await?, 0);

    let mut full = product("FULL", "Grão");
    full["stock"] = json!(1_000_000_000_i64);
    let created = app.create_product(&m.key, full).await?;
    let url = app.at(&format!(
        "/admin/products/{}",
        created["id"].as_str().expect("an id")
    ));
    for delta in [json!(1), json!(i64::MAX), json!(i64::MIN)] {
        let response = app
            .http
            .patch(&url)
            .bearer_auth(&m.key)
            .json(&json!({"stock_delta": delta}))
            .send()
            .await?;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await?;
        assert_eq!(body["errors"][0]["field"], "stock_delta", "{delta}");
    }
    let now: Value = app
        .http
        .get(&url)
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(now["stock"], 1_000_000_000_i64);
    Ok(())
}

/// `GET /stores/{slug}/products/{id}`: what checkout asks about a product its read model has
/// not heard of. A product on sale shows its price and version (no stock); an inactive, a
/// deleted or another store's product is the same 404 as an unknown id.
#[sqlx::test(migrations = false)]
async fn a_product_on_sale_is_readable_by_anyone_and_nothing_else_is(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("armazem").await?;
    app.create_store("emporio").await?;
    let on_sale = app.create_product(&m.key, product("A-1", "Azeite")).await?;
    let hidden = app
        .create_product(
            &m.key,
            json!({"name": "Oculto", "sku": "H-1", "price_minor": 100, "currency": "BRL", "stock": 1, "active": false}),
        )
        .await?;
    let gone = app
        .create_product(&m.key, product("G-1", "Goiabada"))
        .await?;
    let gone_id = gone["id"].as_str().expect("an id");
    let deleted = app
        .http
        .delete(app.at(&format!("/admin/products/{gone_id}")))
        .bearer_auth(&m.key)
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let id = on_sale["id"].as_str().expect("an id");
    let shown: Value = app
        .http
        .get(app.at(&format!("/stores/armazem/products/{id}")))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(shown["id"], on_sale["id"]);
    assert_eq!(shown["store_id"], on_sale["store_id"]);
    assert_eq!(shown["price_minor"], on_sale["price_minor"]);
    assert_eq!(shown["version"], 1);
    assert!(
        shown.get("stock").is_none(),
        "no stock count for anyone: {shown}"
    );

    for path in [
        format!(
            "/stores/armazem/products/{}",
            hidden["id"].as_str().expect("an id")
        ),
        format!("/stores/armazem/products/{gone_id}"),
        format!("/stores/emporio/products/{id}"),
        format!("/stores/armazem/products/{}", uuid::Uuid::now_v7()),
        "/stores/armazem/products/not-a-uuid".to_owned(),
        format!("/stores/nowhere/products/{id}"),
    ] {
        let response = app.http.get(app.at(&path)).send().await?;
        problem(response, StatusCode::NOT_FOUND).await?;
    }
    Ok(())
}
