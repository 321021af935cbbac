//! The merchant's transactions over HTTP (the router on port 0): listed newest first with a
//! status filter and cursor, one with its history; another store's is a 404; no key, 401.

use contracts::catalog::StoreCreated;
use contracts::{Envelope, Message};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::admin_key::AdminKey;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{DECLINED, PAID, World};

pub async fn store(world: &World, id: Uuid) -> anyhow::Result<String> {
    let key = AdminKey::generate();
    let raw = Envelope::new(
        Some(id),
        StoreCreated {
            store_id: id,
            slug: format!("loja-{}", id.simple()),
            name: "Loja".into(),
            contact_email: "dono@example.com".into(),
            temporary_domain: "loja.summit.localhost".into(),
            admin_key_hash: key.hash(),
            language: None,
            version: 1,
        },
    )
    .into_raw();
    assert!(payments::stores::apply(&world.app_pool, &Message::decode(&raw)?).await?);
    Ok(key.expose().to_owned())
}

#[sqlx::test(migrations = false)]
async fn a_merchant_sees_its_transactions_and_their_history_only(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let key = store(&world, world.store).await?;
    let other_key = store(&world, Uuid::now_v7()).await?;
    let (raw, paid) = world.charge(PAID).await?;
    world.payments.charge(Some(&raw), &paid).await?;
    let (raw, declined) = world.charge(DECLINED).await?;
    world.payments.charge(Some(&raw), &declined).await?;

    let url = world.serve().await?;
    let http = reqwest::Client::new();
    let get = |path: &str, key: &str| http.get(format!("{url}{path}")).bearer_auth(key).send();

    let list: Value = get("/admin/transactions", &key).await?.json().await?;
    let statuses: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["status"].as_str())
        .collect();
    assert_eq!(statuses, ["declined", "completed"], "newest first");
    assert!(list["next_cursor"].is_null());
    assert!(!list.to_string().contains("token_"), "no card token leaves");

    let completed: Value = get("/admin/transactions?status=completed", &key)
        .await?
        .json()
        .await?;
    assert_eq!(completed["items"].as_array().map(Vec::len), Some(1));
    let id = completed["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(completed["items"][0]["order_id"], paid.order_id.to_string());

    let one: Value = get(&format!("/admin/transactions/{id}"), &key)
        .await?
        .json()
        .await?;
    let moves: Vec<&str> = one["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["to"].as_str())
        .collect();
    assert_eq!(moves, ["processing", "completed"]);

    let theirs = get(&format!("/admin/transactions/{id}"), &other_key).await?;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let empty: Value = get("/admin/transactions", &other_key).await?.json().await?;
    assert_eq!(empty["items"].as_array().map(Vec::len), Some(0));
    let nobody = http.get(format!("{url}/admin/transactions")).send().await?;
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    let wrong = get("/admin/transactions", "sk_not_a_store_key").await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let bad = get("/admin/transactions?status=paid", &key).await?;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Every documented path is served (with a key, an id of this store).
    let document: Value = http
        .get(format!("{url}/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let paths: Vec<String> = document["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(paths.len(), 3, "{paths:?}");
    for path in paths {
        let served = get(&path.replace("{id}", &id), &key).await?;
        assert_eq!(served.status(), StatusCode::OK, "{path}");
    }
    Ok(())
}
