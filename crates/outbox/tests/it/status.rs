//! The outbox's status: due rows make the backlog (and its oldest age), scheduled retries and
//! set-aside rows are counted apart, refused rows are failing; sent rows are none of these.

use contracts::catalog::StockReleased;
use contracts::{Contract, Envelope};
use sqlx::PgPool;
use uuid::Uuid;

async fn enqueue(pool: &PgPool) -> Uuid {
    let envelope = Envelope::new(
        None,
        StockReleased {
            order_id: Uuid::now_v7(),
            store_id: Uuid::now_v7(),
        },
    );
    let id = envelope.id;
    let mut conn = pool.acquire().await.unwrap();
    outbox::enqueue_raw(&mut conn, &envelope.into_raw(), StockReleased::DESTINATION)
        .await
        .unwrap();
    id
}

async fn set(pool: &PgPool, id: Uuid, assignment: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox SET {assignment} WHERE message_id = $1"
    )))
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrations = false)]
async fn the_status_tells_backlog_age_scheduled_failing_and_set_aside(
    pool: PgPool,
) -> anyhow::Result<()> {
    outbox::MIGRATIONS.run(&pool).await?;
    let empty = outbox::status::status(&pool).await?;
    assert_eq!((empty.backlog, empty.oldest_unsent_age_s), (0, None));

    let old = enqueue(&pool).await;
    set(&pool, old, "created_at = now() - interval '90 seconds'").await;
    let refused = enqueue(&pool).await;
    set(&pool, refused, "tries = 2, last_error = 'unroutable'").await;
    let later = enqueue(&pool).await;
    set(&pool, later, "due_at = now() + interval '1 hour'").await;
    let given_up = enqueue(&pool).await;
    set(&pool, given_up, "tries = 5, parked_at = now()").await;
    let sent = enqueue(&pool).await;
    set(
        &pool,
        sent,
        "published_at = now(), created_at = now() - interval '1 day'",
    )
    .await;

    let status = outbox::status::status(&pool).await?;
    assert_eq!(status.backlog, 2, "{status:?}");
    let age = status.oldest_unsent_age_s.unwrap();
    assert!((90.0..120.0).contains(&age), "{status:?}");
    assert_eq!(status.scheduled, 1);
    assert_eq!(status.failing, 1);
    assert_eq!(status.set_aside, 1);
    Ok(())
}
