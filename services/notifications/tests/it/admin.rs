//! The merchant API between two stores: each sees only its own endpoints and deliveries
//! (another store's are 404s), and row-level security holds even for a query that forgets to
//! name its store.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Receiver, World, address, config, order, wait_for_mails};

#[sqlx::test(migrations = false)]
async fn another_stores_key_sees_nothing_of_this_one(pool: PgPool) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let my_key = world.store(mine, "Minha", &address("me")).await?;
    let their_key = world.store(theirs, "Deles", &address("them")).await?;
    let receiver = Receiver::start().await?;
    let created: Value = world
        .send_json(
            Method::POST,
            "/admin/webhooks",
            &my_key,
            &json!({"url": receiver.url, "event_types": ["checkout.OrderPlaced"]}),
        )
        .await?
        .json()
        .await?;
    let endpoint = created["id"].as_str().unwrap().to_owned();
    let shopper = address("ivo");
    let raw = world.publish(mine, order(mine, &shopper, "Café")).await?;
    wait_for_mails(&shopper, 1).await;
    world.wait_status(raw.id, "webhook", "sent").await;
    let mine_listed: Value = world
        .get("/admin/deliveries", &my_key)
        .await?
        .json()
        .await?;
    let delivery = mine_listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "webhook")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for path in [
        format!("/admin/webhooks/{endpoint}"),
        format!("/admin/deliveries/{delivery}"),
    ] {
        let theirs = world.get(&path, &their_key).await?;
        assert_eq!(theirs.status(), StatusCode::NOT_FOUND, "{path}");
        let own = world.get(&path, &my_key).await?;
        assert_eq!(own.status(), StatusCode::OK, "{path}");
    }
    for (method, path) in [
        (Method::PATCH, format!("/admin/webhooks/{endpoint}")),
        (Method::DELETE, format!("/admin/webhooks/{endpoint}")),
        (
            Method::POST,
            format!("/admin/webhooks/{endpoint}/rotate-secret"),
        ),
        (Method::POST, format!("/admin/deliveries/{delivery}/resend")),
    ] {
        let response = world
            .send_json(
                method.clone(),
                &path,
                &their_key,
                &json!({"enabled": false}),
            )
            .await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let their_list: Value = world
        .get("/admin/deliveries", &their_key)
        .await?
        .json()
        .await?;
    assert!(
        their_list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["recipient"] != shopper.as_str() && d["endpoint_id"] != endpoint.as_str()),
        "{their_list}"
    );
    let their_hooks: Value = world
        .get("/admin/webhooks", &their_key)
        .await?
        .json()
        .await?;
    assert_eq!(their_hooks["items"].as_array().unwrap().len(), 0);
    let nobody = world
        .http
        .get(format!("{}/admin/webhooks", world.url))
        .send()
        .await?;
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    let wrong = world.get("/admin/webhooks", "sk_not_a_key").await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // The second wall: acting as the other store, even an unfiltered query sees none of mine.
    let mut tx = service_kit::tenant::begin_for(&world.app_pool, theirs).await?;
    let visible: Vec<Uuid> = sqlx::query_scalar("SELECT store_id FROM deliveries")
        .fetch_all(&mut *tx)
        .await?;
    let endpoints: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    assert!(visible.iter().all(|s| *s == theirs), "{visible:?}");
    assert_eq!(endpoints, 0);
    let mut tx = service_kit::tenant::begin_for(&world.app_pool, mine).await?;
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_endpoints")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    assert_eq!(own, 1);

    // Paging: a bad cursor or status is a 422, not a 500.
    let bad = world.get("/admin/deliveries?cursor=zz", &my_key).await?;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = world.get("/admin/deliveries?status=lost", &my_key).await?;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let deleted = world
        .http
        .delete(format!("{}/admin/webhooks/{endpoint}", world.url))
        .bearer_auth(&my_key)
        .send()
        .await?;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    Ok(())
}

/// Every operation `/openapi.json` documents is routed, and every documented `GET` answers.
#[sqlx::test(migrations = false)]
async fn every_documented_operation_is_served(pool: PgPool) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let store = Uuid::now_v7();
    let key = world.store(store, "Loja", &address("owner")).await?;
    let receiver = Receiver::start().await?;
    let created: Value = world
        .send_json(
            Method::POST,
            "/admin/webhooks",
            &key,
            &json!({"url": receiver.url, "event_types": ["checkout.OrderPlaced"]}),
        )
        .await?
        .json()
        .await?;
    let endpoint = created["id"].as_str().unwrap().to_owned();
    let raw = world
        .publish(store, order(store, &address("kim"), "Café"))
        .await?;
    world.wait_status(raw.id, "email", "sent").await;
    let delivery: String =
        sqlx::query_scalar("SELECT id::text FROM deliveries WHERE event_id = $1 LIMIT 1")
            .bind(raw.id)
            .fetch_one(&world.pool)
            .await?;

    let document: Value = world
        .http
        .get(format!("{}/openapi.json", world.url))
        .send()
        .await?
        .json()
        .await?;
    let paths = document["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 9, "{:?}", paths.keys().collect::<Vec<_>>());
    let mut operations = 0;
    for (path, item) in paths {
        let concrete = path.replace("{kind}", "order_confirmed").replace(
            "{id}",
            if path.starts_with("/admin/webhooks") {
                &endpoint
            } else {
                &delivery
            },
        );
        for method in ["get", "put", "post", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            // Deleting the endpoint last would spoil the other checks: ask without a key.
            let response = if method == "get" {
                world.get(&concrete, &key).await?
            } else {
                world
                    .http
                    .request(
                        method.to_uppercase().parse()?,
                        format!("{}{concrete}", world.url),
                    )
                    .json(&json!({}))
                    .send()
                    .await?
            };
            if method == "get" {
                assert_eq!(response.status(), StatusCode::OK, "GET {concrete}");
            } else {
                // Routed: authentication answers before anything else.
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {concrete}"
                );
            }
        }
    }
    assert_eq!(operations, 14);
    Ok(())
}
