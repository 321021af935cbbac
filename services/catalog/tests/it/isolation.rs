//! One store never sees another's data: through the API (404, never 403), and in Postgres
//! itself, where row-level security hides other stores' rows from a plain role.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Executor, PgPool};
use uuid::Uuid;

use crate::helpers::{problem, product, spawn};

#[sqlx::test(migrations = false)]
async fn a_key_cannot_reach_another_stores_products(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let a = app.create_store("loja-a").await?;
    let b = app.create_store("loja-b").await?;
    app.create_product(&a.key, product("A-1", "Maçã")).await?;
    let theirs = app.create_product(&b.key, product("B-1", "Banana")).await?;
    let url = app.at(&format!(
        "/admin/products/{}",
        theirs["id"].as_str().unwrap_or_default()
    ));

    let listed: Value = app
        .http
        .get(app.at("/admin/products"))
        .bearer_auth(&a.key)
        .send()
        .await?
        .json()
        .await?;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["Maçã"]);
    problem(
        app.http.get(&url).bearer_auth(&a.key).send().await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    problem(
        app.http
            .patch(&url)
            .bearer_auth(&a.key)
            .json(&json!({"price_minor": 1}))
            .send()
            .await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    problem(
        app.http.delete(&url).bearer_auth(&a.key).send().await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    // An id that exists nowhere looks exactly the same.
    let nowhere = app.at(&format!("/admin/products/{}", Uuid::now_v7()));
    problem(
        app.http.get(&nowhere).bearer_auth(&a.key).send().await?,
        StatusCode::NOT_FOUND,
    )
    .await?;

    let still: Value = app
        .http
        .get(&url)
        .bearer_auth(&b.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(still["version"], 1);
    assert_eq!(still["price_minor"], 1000);
    assert!(still["deleted_at"].is_null());
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn row_level_security_hides_other_stores_rows(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let a = app.create_store("muro-a").await?;
    let b = app.create_store("muro-b").await?;
    app.create_product(&a.key, product("A-1", "Uva")).await?;
    app.create_product(&b.key, product("B-1", "Pera")).await?;
    assert_eq!(app.count("products").await?, 2);

    let visible = |store: Option<String>| {
        let pool = app.pool.clone();
        async move {
            let mut tx = pool.begin().await?;
            tx.execute("SET LOCAL ROLE catalog_it_app").await?;
            if let Some(store) = store {
                sqlx::query("SELECT set_config('app.store_id', $1, true)")
                    .bind(store)
                    .execute(&mut *tx)
                    .await?;
            }
            let names: Vec<String> = sqlx::query_scalar("SELECT name FROM products ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
            let touched = sqlx::query("UPDATE products SET price_minor = 1")
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.rollback().await?;
            anyhow::Ok((names, touched))
        }
    };
    assert_eq!(visible(None).await?, (Vec::<String>::new(), 0));
    assert_eq!(
        visible(Some(a.id.clone())).await?,
        (vec!["Uva".to_owned()], 1)
    );
    assert_eq!(
        visible(Some(b.id.clone())).await?,
        (vec!["Pera".to_owned()], 1)
    );

    // Writing a row for store B while acting for store A is refused by the policy.
    let mut tx = app.pool.begin().await?;
    tx.execute("SET LOCAL ROLE catalog_it_app").await?;
    sqlx::query("SELECT set_config('app.store_id', $1, true)")
        .bind(&a.id)
        .execute(&mut *tx)
        .await?;
    let smuggled = sqlx::query(
        "INSERT INTO products (id, store_id, sku, name, price_minor, currency, stock)
         VALUES ($1, $2::uuid, 'X', 'Contrabando', 1, 'BRL', 1)",
    )
    .bind(Uuid::now_v7())
    .bind(&b.id)
    .execute(&mut *tx)
    .await;
    let error = smuggled.expect_err("the policy refuses another store's row");
    assert!(error.to_string().contains("row-level security"), "{error}");
    tx.rollback().await?;

    // And the policies are forced: the tables' owner is bound by them too.
    let forced: Vec<(String, bool)> = sqlx::query_as(
        "SELECT relname::text, relforcerowsecurity FROM pg_class
         WHERE relname IN ('stores', 'store_logos', 'products', 'product_search', 'search_words',
                           'idempotency_keys', 'reservations')
         ORDER BY relname",
    )
    .fetch_all(&app.pool)
    .await?;
    assert!(
        forced.len() == 7 && forced.iter().all(|(_, f)| *f),
        "{forced:?}"
    );
    Ok(())
}
