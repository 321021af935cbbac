//! The read model: idempotent, newest version wins, deletions are tombstones.

use checkout::read_model::{self, Applied};
use contracts::catalog::{ProductDeleted, ProductUpserted, StoreUpdated};
use contracts::{Envelope, Message};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::spawn;

fn upsert(store: Uuid, id: Uuid, name: &str, version: i64) -> ProductUpserted {
    ProductUpserted {
        product_id: id,
        store_id: store,
        sku: "S".into(),
        name: name.into(),
        description: String::new(),
        price_minor: 100,
        currency: "BRL".into(),
        active: true,
        version,
    }
}

async fn apply<P: contracts::Contract>(
    pool: &PgPool,
    store: Uuid,
    payload: P,
) -> anyhow::Result<(Applied, contracts::RawEnvelope)> {
    let raw = Envelope::new(Some(store), payload).into_raw();
    let applied = read_model::apply(pool, &raw, &Message::decode(&raw)?).await?;
    Ok((applied, raw))
}

#[sqlx::test(migrations = false)]
async fn out_of_order_and_repeated_events_keep_the_newest(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("leitura").await?;
    let id = Uuid::now_v7();
    let name = |app_pool: PgPool| async move {
        sqlx::query_as::<_, (String, bool, i64)>("SELECT name, deleted, version FROM products")
            .fetch_one(&app_pool)
            .await
    };

    let (first, raw) = apply(&app.app_pool, shop.id, upsert(shop.id, id, "v2", 2)).await?;
    assert_eq!(first, Applied::Applied);
    assert_eq!(
        read_model::apply(&app.app_pool, &raw, &Message::decode(&raw)?).await?,
        Applied::Duplicate
    );
    let (older, _) = apply(&app.app_pool, shop.id, upsert(shop.id, id, "v1", 1)).await?;
    assert_eq!(older, Applied::Stale);
    assert_eq!(name(app.pool.clone()).await?, ("v2".into(), false, 2));

    let (deleted, _) = apply(
        &app.app_pool,
        shop.id,
        ProductDeleted {
            product_id: id,
            store_id: shop.id,
            version: 3,
        },
    )
    .await?;
    assert_eq!(deleted, Applied::Applied);
    let (late, _) = apply(&app.app_pool, shop.id, upsert(shop.id, id, "v2 again", 2)).await?;
    assert_eq!(
        late,
        Applied::Stale,
        "a late upsert does not bring a deleted product back"
    );
    assert_eq!(name(app.pool.clone()).await?, ("v2".into(), true, 3));

    // A store update changes the admin key; an older one is dropped.
    let update = |version: i64, hash: &str| StoreUpdated {
        store_id: shop.id,
        slug: "leitura".into(),
        name: "Loja".into(),
        temporary_domain: "leitura.summit.localhost".into(),
        custom_domain: None,
        logo_url: None,
        admin_key_hash: hash.into(),
        language: None,
        version,
    };
    assert_eq!(
        apply(&app.app_pool, shop.id, update(3, "h3")).await?.0,
        Applied::Applied
    );
    assert_eq!(
        apply(&app.app_pool, shop.id, update(2, "h2")).await?.0,
        Applied::Stale
    );
    let hash: String = sqlx::query_scalar("SELECT admin_key_hash FROM stores")
        .fetch_one(&app.pool)
        .await?;
    assert_eq!(hash, "h3");
    // The old key no longer opens the admin API.
    let response = app
        .http
        .get(app.at("/admin/orders"))
        .bearer_auth(&shop.key)
        .send()
        .await?;
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    Ok(())
}
