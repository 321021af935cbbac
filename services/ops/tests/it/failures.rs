//! Dead letters of several types and tenants are parked once each, grouped, filtered, shown,
//! discarded and restored; the API wants the operator token.

use bus::Outgoing;
use contracts::Contract;
use contracts::payments::Charge;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{CATALOG, PAYMENTS, World, sorted};

#[sqlx::test(migrations = false)]
async fn dead_letters_are_parked_once_grouped_filtered_and_shown(
    pool: PgPool,
) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let payments = w.failing(PAYMENTS);
    let catalog = w.failing(CATALOG);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());

    let charge_a1 = w.charge(a, "tok_plain").await?;
    let charge_a2 = w.charge(a, "tok_findme_42").await?;
    let charge_b = w.charge(b, "tok_plain").await?;
    let reserve_b1 = w.reserve(b).await?;
    let reserve_b2 = w.reserve(b).await?;
    // A body no consumer can read: the runtime dead-letters it as malformed.
    let mut malformed = Outgoing::envelope(&charge_a1, Charge::DESTINATION).to_queue(CATALOG);
    malformed.message_id = Uuid::now_v7().to_string();
    malformed.body = b"{this is not json".to_vec();
    w.bus.publisher().publish(&malformed).await?;
    // A header to search by.
    let mut tagged = charge_b.clone();
    tagged.id = Uuid::now_v7();
    w.send(
        PAYMENTS,
        &tagged,
        Charge::DESTINATION,
        &[("x-shop-ref", "ref-7781")],
    )
    .await?;
    w.wait_for_rows(7).await;
    payments.stop().await;
    catalog.stop().await;

    // Parked once each, with what the bus wrote.
    let shown = w
        .wait_for(&charge_a2.id.to_string(), "the charge", |_| true)
        .await;
    assert_eq!(shown["queue"], PAYMENTS);
    assert_eq!(shown["type"], "payments.charge");
    assert_eq!(shown["tenant_id"], a.to_string());
    assert_eq!(shown["status"], "parked");
    assert_eq!(shown["error_kind"], "rejected");
    assert_eq!(shown["attempts"], 1);
    assert_eq!(shown["failure_count"], 1);
    assert!(
        shown["error"]
            .as_str()
            .unwrap()
            .starts_with("payments.commands refused it\n"),
        "{shown}"
    );
    assert_eq!(shown["body"]["payload"]["payment_token"], "tok_findme_42");
    assert_eq!(shown["headers"]["x-error-kind"], "rejected");
    let death = &shown["headers"]["x-death"][0];
    assert_eq!(death["queue"], PAYMENTS, "RabbitMQ's x-death kept: {shown}");
    assert_eq!(death["reason"], "rejected");
    assert_eq!(shown["history"], json!([]));

    // A redelivery of a parked dead letter (the same message id in the .dlq again) changes
    // nothing but the delivery count.
    let again =
        Outgoing::envelope(&charge_a2, Charge::DESTINATION).to_queue("payments.commands.dlq");
    w.bus.publisher().publish(&again).await?;
    let redelivered = w
        .wait_for(&charge_a2.id.to_string(), "the redelivery", |v| {
            v["deliveries"] == 2
        })
        .await;
    assert_eq!(redelivered["failure_count"], 1);
    assert_eq!(redelivered["error_kind"], "rejected");
    assert_eq!(redelivered["history"], json!([]));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM failures")
        .fetch_one(&w.pool)
        .await?;
    assert_eq!(rows, 7);

    // Groups: queue, type, kind and the error's first line; 7 failures read as 3 lines.
    let groups = w.get_json("/ops/failures/groups").await;
    let groups = groups.as_array().unwrap();
    assert_eq!(groups.len(), 3, "{groups:?}");
    let find = |queue: &str, kind: &str| -> Value {
        groups
            .iter()
            .find(|g| g["queue"] == queue && g["error_kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no group {queue} {kind}: {groups:?}"))
    };
    let charges = find(PAYMENTS, "rejected");
    assert_eq!(charges["count"], 4);
    assert_eq!(charges["type"], "payments.charge");
    assert_eq!(charges["error"], "payments.commands refused it");
    let mut tenants: Vec<String> = charges["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    tenants.sort();
    assert_eq!(tenants, sorted([a, b]));
    let reserves = find(CATALOG, "rejected");
    assert_eq!(reserves["count"], 2);
    assert_eq!(reserves["type"], "catalog.reserve-stock");
    assert_eq!(reserves["tenants"], json!([b.to_string()]));
    assert_eq!(find(CATALOG, "malformed")["count"], 1);

    // Filters: tenant, body text, header text, queue and kind, time.
    assert_eq!(
        w.list_ids(&format!("tenant={a}")).await,
        sorted([charge_a1.id, charge_a2.id])
    );
    assert_eq!(
        w.list_ids("grep=FINDME_42").await,
        sorted([charge_a2.id]),
        "body text, any case"
    );
    assert_eq!(w.list_ids("grep=ref-7781").await, sorted([tagged.id]));
    assert_eq!(
        w.list_ids(&format!("queue={CATALOG}&kind=rejected")).await,
        sorted([reserve_b1.id, reserve_b2.id])
    );
    assert_eq!(
        w.list_ids(&format!("type=payments.charge&tenant={b}"))
            .await,
        sorted([charge_b.id, tagged.id])
    );
    assert!(w.list_ids("since=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(w.list_ids("since=2000-01-01T00:00:00Z").await.len(), 7);
    let bad = w.get("/ops/failures?tenant=not-a-uuid").await?;
    assert_eq!(bad.status(), 422);

    // Pages: newest first, a cursor to the next, every row once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = w
            .get_json(&format!("/ops/failures?limit=3&cursor={cursor}"))
            .await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["message_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 7);

    // Discard and restore.
    let id = reserve_b1.id;
    let r = w
        .post(&format!("/ops/failures/{id}/discard"), &json!({}))
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["status"], "discarded");
    assert_eq!(
        w.list_ids(&format!("queue={CATALOG}&kind=rejected")).await,
        sorted([reserve_b2.id]),
        "a discarded failure leaves the default listing"
    );
    assert_eq!(
        w.list_ids("status=discarded").await,
        sorted([reserve_b1.id])
    );
    let r = w
        .post(&format!("/ops/failures/{id}/retry"), &json!({}))
        .await?;
    assert_eq!(r.status(), 409, "a discarded failure is not retried");
    let r = w
        .post(&format!("/ops/failures/{id}/restore"), &json!({}))
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["status"], "parked");
    let r = w
        .post(&format!("/ops/failures/{id}/restore"), &json!({}))
        .await?;
    assert_eq!(r.status(), 409);
    let missing = w.get("/ops/failures/no-such-message").await?;
    assert_eq!(missing.status(), 404);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_wrong_or_missing_operator_token_is_401(pool: PgPool) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let url = format!("{}/ops/failures/groups", w.url);
    let check = |r: reqwest::Response| {
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "a problem"
        );
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    };
    check(w.http.get(&url).send().await?);
    check(w.http.get(&url).bearer_auth("wrong").send().await?);
    check(
        w.http
            .get(&url)
            .bearer_auth(format!("{}x", crate::helpers::TOKEN))
            .send()
            .await?,
    );
    check(
        w.http
            .post(format!("{}/ops/failures/x/retry", w.url))
            .header("authorization", crate::helpers::TOKEN)
            .send()
            .await?,
    );
    let ok = w
        .http
        .get(&url)
        .bearer_auth(crate::helpers::TOKEN)
        .send()
        .await?;
    assert_eq!(ok.status(), 200);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn parked_failures_are_gauged_by_group(pool: PgPool) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    let failing = w.failing(PAYMENTS);
    let charge = w.charge(Uuid::now_v7(), "tok_gauge").await?;
    w.wait_for_rows(1).await;
    failing.stop().await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/metrics", listener.local_addr()?);
    // Built here, not in the task: building it installs the process's recorder, which must be
    // in place before the gauges below are set.
    let metrics = service_kit::metrics::router();
    tokio::spawn(async move { axum::serve(listener, metrics).await });
    let line = r#"summit_parked_failures{queue="payments.commands",type="payments.charge",kind="rejected"}"#;
    let mut previous = std::collections::BTreeSet::new();
    ops::metrics::refresh(&w.pool, &mut previous).await?;
    let body = reqwest::get(&url).await?.text().await?;
    assert!(body.contains(&format!("{line} 1")), "{body}");

    // Discarded: the group empties and reads 0.
    let r = w
        .post(&format!("/ops/failures/{}/discard", charge.id), &json!({}))
        .await?;
    assert_eq!(r.status(), 200);
    ops::metrics::refresh(&w.pool, &mut previous).await?;
    let body = reqwest::get(&url).await?.text().await?;
    assert!(body.contains(&format!("{line} 0")), "{body}");
    Ok(())
}
