//! Groups have ids that select them; discarding many archives them; the archive is trimmed
//! after `OPS_ARCHIVE_DAYS`.

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{CATALOG, PAYMENTS, World, sorted};

#[sqlx::test(migrations = false)]
async fn groups_are_selected_by_id_discarded_together_and_trimmed_when_old(
    pool: PgPool,
) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let payments = w.failing(PAYMENTS);
    let catalog = w.failing(CATALOG);
    let tenant = Uuid::now_v7();
    let c1 = w.charge(tenant, "tok_1").await?;
    let c2 = w.charge(tenant, "tok_2").await?;
    let r1 = w.reserve(tenant).await?;
    w.wait_for_rows(3).await;
    payments.stop().await;
    catalog.stop().await;

    let groups = w.get_json("/ops/failures/groups").await;
    let charges = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["queue"] == PAYMENTS)
        .cloned()
        .unwrap();
    let group = charges["id"].as_str().unwrap().to_owned();
    assert_eq!(group.len(), 12, "{charges}");
    assert_eq!(
        w.list_ids(&format!("group={group}")).await,
        sorted([c1.id, c2.id])
    );
    let ids = w
        .get_json(&format!("/ops/failures/ids?group={}", group.to_uppercase()))
        .await;
    let mut ids: Vec<String> = serde_json::from_value(ids["ids"].clone())?;
    ids.sort();
    assert_eq!(ids, sorted([c1.id, c2.id]), "any case");

    // Discard many: nothing without a selection; the group's two with it.
    let r = w.post("/ops/failures/discard", &json!({})).await?;
    assert_eq!(r.status(), 422);
    let r = w
        .post("/ops/failures/discard", &json!({ "status": "any" }))
        .await?;
    assert_eq!(r.status(), 422, "a status alone selects nothing");
    let r = w
        .post("/ops/failures/discard", &json!({ "group": group }))
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["discarded"], 2);
    assert_eq!(w.list_ids("").await, sorted([r1.id]));
    let r = w
        .post(
            "/ops/failures/discard",
            &json!({ "message_ids": [r1.id.to_string(), "no-such-id"] }),
        )
        .await?;
    assert_eq!(r.json::<Value>().await?["discarded"], 1);
    assert!(w.list_ids("").await.is_empty());

    // The trim: only discarded rows older than the setting go.
    sqlx::query("UPDATE failures SET status_at = now() - interval '15 days' WHERE message_id = $1")
        .bind(c1.id.to_string())
        .execute(&w.pool)
        .await?;
    sqlx::query(
        "UPDATE failures SET status = 'parked', status_at = now() - interval '30 days' \
         WHERE message_id = $1",
    )
    .bind(r1.id.to_string())
    .execute(&w.pool)
    .await?;
    let ran = ops::archive_trim(14).run_once(&w.pool).await?;
    assert_eq!(ran, Some(1));
    let left: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM failures ORDER BY message_id")
            .fetch_all(&w.pool)
            .await?;
    assert_eq!(
        left,
        sorted([c2.id, r1.id]),
        "the young and the parked stay"
    );
    Ok(())
}
