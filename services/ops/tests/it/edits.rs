//! Edit and retry: an edit that breaks the contract (or the message's identity) is refused
//! naming the field and changes nothing; one that keeps it goes back to the queue under the
//! same message id, the row retried, the original kept in the audit.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{PAYMENTS, World, eventually};

#[sqlx::test(migrations = false)]
async fn an_edit_is_validated_against_the_contract_then_retried_with_an_audit(
    pool: PgPool,
) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let failing = w.failing(PAYMENTS);
    let charge = w.charge(Uuid::now_v7(), "tok_typo").await?;
    let id = charge.id.to_string();
    w.wait_for(&id, "the charge parked", |v| v["status"] == "parked")
        .await;
    failing.stop().await;
    let original = serde_json::to_value(&charge)?;
    let edit = format!("/ops/failures/{id}/edit");

    // Refused, naming the field; the row untouched, no audit, nothing sent.
    let refused = [
        (json!({ "payload": { "nonsense": true } }), "body"),
        (
            {
                let mut v = original.clone();
                v["payload"]["amount_minor"] = json!("a lot");
                v
            },
            "body",
        ),
        (
            {
                let mut v = original.clone();
                v["id"] = json!(Uuid::now_v7());
                v
            },
            "body.id",
        ),
        (json!("{not json"), "body"),
        (original.clone(), "body"),
    ];
    for (body, field) in refused {
        let r = w.post(&edit, &json!({ "body": body })).await?;
        assert_eq!(r.status(), 422, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await?;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let r = w.post(&edit, &json!({})).await?;
    assert_eq!(r.status(), 422, "no body");
    let shown = w.get_json(&format!("/ops/failures/{id}")).await;
    assert_eq!(shown["status"], "parked");
    assert_eq!(shown["body"], original);
    assert_eq!(shown["edits"], json!([]));
    assert_eq!(w.bus.depth(PAYMENTS).await?, 0, "nothing sent");

    // Accepted: sent under the same id with the edited body, the row retried, audited.
    let mut fixed = original.clone();
    fixed["payload"]["payment_token"] = json!("tok_fixed");
    let r = w.post(&edit, &json!({ "body": fixed.to_string() })).await?;
    assert_eq!(r.status(), 200);
    let retried: Value = r.json().await?;
    assert_eq!(retried["status"], "retried");
    let back = eventually("the edited message", Duration::from_secs(10), || async {
        let taken = w.bus.take(PAYMENTS, 10).await.ok()?;
        (!taken.is_empty()).then_some(taken)
    })
    .await;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message_id.as_deref(), Some(id.as_str()));
    let sent: Value = serde_json::from_slice(&back[0].body)?;
    assert_eq!(sent, fixed);
    let shown = w.get_json(&format!("/ops/failures/{id}")).await;
    assert_eq!(shown["body"], fixed);
    let edits = shown["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{shown}");
    assert_eq!(edits[0]["original"], original);
    assert_eq!(edits[0]["edited"], fixed);

    // Not parked any more: a second edit is a conflict.
    let r = w.post(&edit, &json!({ "body": fixed })).await?;
    assert_eq!(r.status(), 409);
    Ok(())
}
