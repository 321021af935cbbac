//! `Idempotency-Key` on HTTP writes: a repeat returns the first result and acts no second time;
//! the same key with another body is refused and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{App, problem, product, spawn};

async fn post(
    app: &App,
    path: &str,
    bearer: Option<&str>,
    key: &str,
    body: &Value,
) -> anyhow::Result<reqwest::Response> {
    let mut request = app
        .http
        .post(app.at(path))
        .header("idempotency-key", key)
        .json(body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    Ok(request.send().await?)
}

fn kinds(events: &[(String, Value)], kind: &str) -> usize {
    events.iter().filter(|(k, _)| k == kind).count()
}

#[sqlx::test(migrations = false)]
async fn a_repeated_store_creation_returns_the_first_store(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let body = json!({"name": "Loja Uma", "slug": "uma", "contact_email": "a@example.com"});
    let first = post(&app, "/stores", None, "create-uma-1", &body).await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await?;
    let again = post(&app, "/stores", None, "create-uma-1", &body).await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await?;
    assert_eq!(again, first, "the same store, key included");
    assert_eq!(app.count("stores").await?, 1);
    assert_eq!(kinds(&app.outbox().await?, "catalog.StoreCreated"), 1);

    // The replayed key opens the store.
    let key = first["admin_key"].as_str().expect("a key");
    let me = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(key)
        .send()
        .await?;
    assert_eq!(me.status(), StatusCode::OK);
    // The database keeps neither the admin key nor the idempotency key in the clear.
    let kept: String = sqlx::query_scalar("SELECT row_to_json(i)::text FROM idempotency_keys i")
        .fetch_one(&app.pool)
        .await?;
    assert!(!kept.contains(&key[3..]), "{kept}");
    assert!(!kept.contains("create-uma-1"), "{kept}");

    // The same key with another body: refused, nothing changes.
    let other = json!({"name": "Loja Duas", "slug": "duas", "contact_email": "a@example.com"});
    let reused = post(&app, "/stores", None, "create-uma-1", &other).await?;
    assert_eq!(
        problem(reused, StatusCode::UNPROCESSABLE_ENTITY).await?["type"],
        "idempotency-key-reused"
    );
    assert_eq!(app.count("stores").await?, 1);
    assert_eq!(app.count("outbox").await?, 1);

    // Another key is another request: this one is refused (slug taken) and records nothing,
    // so the same key may then be used for a request that succeeds.
    let taken = post(&app, "/stores", None, "create-2", &body).await?;
    problem(taken, StatusCode::CONFLICT).await?;
    let created = post(&app, "/stores", None, "create-2", &other).await?;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(app.count("stores").await?, 2);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_repeated_product_creation_creates_one_product(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("repete").await?;
    let body = product("SKU-1", "Café Torrado");
    let first = post(&app, "/admin/products", Some(&m.key), "p-1", &body).await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await?;
    let again = post(&app, "/admin/products", Some(&m.key), "p-1", &body).await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await?;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again, first);
    assert_eq!(app.count("products").await?, 1);
    assert_eq!(kinds(&app.outbox().await?, "catalog.ProductUpserted"), 1);

    // Same key, different body: 422, nothing changed.
    let other = product("SKU-2", "Chocolate");
    let reused = post(&app, "/admin/products", Some(&m.key), "p-1", &other).await?;
    assert_eq!(
        problem(reused, StatusCode::UNPROCESSABLE_ENTITY).await?["type"],
        "idempotency-key-reused"
    );
    assert_eq!(app.count("products").await?, 1);
    assert_eq!(kinds(&app.outbox().await?, "catalog.ProductUpserted"), 1);

    // Keys belong to a store: another store's same key is its own.
    let n = app.create_store("vizinho").await?;
    let theirs = post(&app, "/admin/products", Some(&n.key), "p-1", &body).await?;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    let theirs: Value = theirs.json().await?;
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(app.count("products").await?, 2);

    // Concurrent repeats wait for the first and replay it.
    let body = product("SKU-3", "Pão de Queijo");
    let racers = (0..6).map(|_| post(&app, "/admin/products", Some(&m.key), "p-3", &body));
    let mut ids = Vec::new();
    for response in futures_util::future::join_all(racers).await {
        let response = response?;
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.push(response.json::<Value>().await?["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(app.count("products").await?, 3);

    // A key that is not a plain token is refused before anything happens.
    let bad = post(&app, "/admin/products", Some(&m.key), "", &body).await?;
    assert_eq!(
        problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await?["errors"][0]["field"],
        "Idempotency-Key"
    );
    Ok(())
}

/// Housekeeping, as the service's (non-superuser) role: expired keys of every store go,
/// current ones stay.
#[sqlx::test(migrations = false)]
async fn expired_keys_of_every_store_are_trimmed(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let a = app.create_store("loja-aaa").await?;
    let b = app.create_store("loja-bbb").await?;
    for (merchant, key) in [(&a, "k-a"), (&b, "k-b")] {
        let response = post(
            &app,
            "/admin/products",
            Some(&merchant.key),
            key,
            &product("SKU-1", "Café"),
        )
        .await?;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let response = post(
        &app,
        "/admin/products",
        Some(&a.key),
        "k-fresh",
        &product("SKU-2", "Chá"),
    )
    .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days'
         WHERE fingerprint IN (SELECT fingerprint FROM idempotency_keys ORDER BY created_at LIMIT 2)",
    )
    .execute(&app.pool)
    .await?;

    let service_role = crate::helpers::app_pool(&app.pool).await?;
    assert_eq!(catalog::idempotency::trim(&service_role).await?, 2);
    assert_eq!(
        app.count("idempotency_keys").await?,
        1,
        "the current key stays"
    );
    Ok(())
}

/// A key past its expiry is absent: the same Idempotency-Key (with another request, even) is a
/// fresh request, not a replay of the expired answer nor a "reused" refusal.
#[sqlx::test(migrations = false)]
async fn an_expired_key_makes_a_fresh_request(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("expira").await?;
    let first = post(
        &app,
        "/admin/products",
        Some(&m.key),
        "k-old",
        &product("SKU-1", "Café"),
    )
    .await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await?;
    // The hourly trim has not run yet; the row is past its day.
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
        .execute(&app.pool)
        .await?;

    let second = post(
        &app,
        "/admin/products",
        Some(&m.key),
        "k-old",
        &product("SKU-2", "Chá"),
    )
    .await?;
    assert_eq!(
        second.status(),
        StatusCode::CREATED,
        "{:?}",
        second.text().await
    );
    let second: Value = second.json().await?;
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["sku"], "SKU-2");
    assert_eq!(app.count("products").await?, 2);
    // The key is current again, for the new request: a repeat replays that one.
    let again = post(
        &app,
        "/admin/products",
        Some(&m.key),
        "k-old",
        &product("SKU-2", "Chá"),
    )
    .await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.json::<Value>().await?["id"], second["id"]);
    assert_eq!(app.count("products").await?, 2);
    Ok(())
}

/// Row-level security: a store's transaction (as `db::begin_for` opens it, on the service's
/// plain role) never reads another store's idempotency rows, expired or not.
#[sqlx::test(migrations = false)]
async fn a_store_cannot_read_another_stores_expired_keys(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let a = app.create_store("dona-a").await?;
    let b = app.create_store("dona-b").await?;
    for key in ["k-1", "k-2"] {
        let response = post(
            &app,
            "/admin/products",
            Some(&a.key),
            key,
            &product(key, "Café"),
        )
        .await?;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE scope = $1",
    )
    .bind(&a.id)
    .execute(&app.pool)
    .await?;

    let service = crate::helpers::app_pool(&app.pool).await?;
    let mut tx = catalog::db::begin_for(&service, b.id.parse()?).await?;
    let seen: Vec<(String, Option<Value>)> =
        sqlx::query_as("SELECT scope, body FROM idempotency_keys WHERE scope <> 'public'")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    assert!(seen.is_empty(), "store b read store a's rows: {seen:?}");

    // Nor does a transaction that names no store.
    let seen: i64 =
        sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE scope <> 'public'")
            .fetch_one(&service)
            .await?;
    assert_eq!(seen, 0);
    // The owner still sees them (and the trim, as the service's role, removes them).
    assert_eq!(app.count("idempotency_keys").await?, 2);
    assert_eq!(catalog::idempotency::trim(&service).await?, 2);
    Ok(())
}
