//! Retries: one goes back to its queue with its message id and is marked retried; failing
//! again it returns to its row with history; a bulk retry holds its rate.

use std::time::Duration;

use chrono::{DateTime, Utc};
use contracts::Contract;
use contracts::payments::Charge;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{PAYMENTS, World, eventually, header};

#[sqlx::test(migrations = false)]
async fn a_retry_sends_the_message_back_and_a_new_failure_returns_to_its_row(
    pool: PgPool,
) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let failing = w.failing(PAYMENTS);
    let tenant = Uuid::now_v7();
    let charge = w.charge(tenant, "tok_retry").await?;
    let id = charge.id.to_string();
    w.wait_for(&id, "the charge parked", |v| v["status"] == "parked")
        .await;
    failing.stop().await;

    let r = w
        .post(&format!("/ops/failures/{id}/retry"), &json!({}))
        .await?;
    assert_eq!(r.status(), 200);
    let retried: Value = r.json().await?;
    assert_eq!(retried["status"], "retried");
    assert_eq!(retried["retry_count"], 1);
    assert!(retried["retried_at"].is_string());

    // Back on its source queue: the same id, type and body, without the failure's headers.
    let back = eventually(
        "the message on its queue",
        Duration::from_secs(10),
        || async {
            let taken = w.bus.take(PAYMENTS, 10).await.ok()?;
            (!taken.is_empty()).then_some(taken)
        },
    )
    .await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message_id.as_deref(), Some(id.as_str()));
    assert_eq!(back[0].kind.as_deref(), Some("payments.charge"));
    assert_eq!(back[0].body, charge.to_vec());
    for gone in [
        "x-death",
        "x-error",
        "x-error-kind",
        "x-attempts",
        "x-summit-dead-letter",
    ] {
        assert_eq!(header(&back[0].headers, gone), None, "{gone} dropped");
    }
    let again = w
        .post(&format!("/ops/failures/{id}/retry"), &json!({}))
        .await?;
    assert_eq!(again.status(), 409, "a retried failure is not parked");

    // It fails again (the same message id): the same row, parked, the first failure in history.
    let failing = w.failing(PAYMENTS);
    w.send(PAYMENTS, &charge, Charge::DESTINATION, &[]).await?;
    let returned = w
        .wait_for(&id, "the second failure", |v| v["status"] == "parked")
        .await;
    failing.stop().await;
    assert_eq!(returned["failure_count"], 2);
    let history = returned["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{returned}");
    assert_eq!(history[0]["error_kind"], "rejected");
    assert!(history[0]["retried_at"].is_string());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM failures")
        .fetch_one(&w.pool)
        .await?;
    assert_eq!(rows, 1, "not a stranger");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_bulk_retry_holds_its_rate(pool: PgPool) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let failing = w.failing(PAYMENTS);
    let tenant = Uuid::now_v7();
    let other = Uuid::now_v7();
    for _ in 0..10 {
        w.charge(tenant, "tok_bulk").await?;
    }
    w.charge(other, "tok_other").await?;
    w.wait_for_rows(11).await;
    failing.stop().await;

    let r = w
        .post(
            "/ops/failures/retry",
            &json!({ "queue": PAYMENTS, "tenant": tenant, "rate_per_s": 5 }),
        )
        .await?;
    assert_eq!(r.status(), 202);
    assert_eq!(r.json::<Value>().await?["matched"], 10);

    let pool = w.pool.clone();
    let times: Vec<DateTime<Utc>> = eventually("all ten retried", Duration::from_secs(30), || {
        let pool = pool.clone();
        async move {
            let times: Vec<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT retried_at FROM failures WHERE tenant_id = $1 AND status = 'retried' \
                 ORDER BY retried_at",
            )
            .bind(tenant)
            .fetch_all(&pool)
            .await
            .ok()?;
            (times.len() == 10).then_some(times)
        }
    })
    .await;
    // Ten at 5/s leave at 0, 0.2, …, 1.8 s: never faster than the rate (loosely: a slow
    // machine may only make it slower).
    let spread = times[9] - times[0];
    assert!(
        spread >= chrono::Duration::milliseconds(1600),
        "ten at 5/s took {spread}"
    );
    let other_status: String =
        sqlx::query_scalar("SELECT status FROM failures WHERE tenant_id = $1")
            .bind(other)
            .fetch_one(&w.pool)
            .await?;
    assert_eq!(other_status, "parked", "outside the filter");
    eventually("ten back on the queue", Duration::from_secs(10), || async {
        (w.bus.depth(PAYMENTS).await.ok()? == 10).then_some(())
    })
    .await;
    Ok(())
}
