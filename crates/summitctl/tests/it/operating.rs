//! Issue 13's "done when", from the command line against a real broker and ops: messages of
//! several kinds and tenants fail in real consumers and are parked; an operator sees them
//! grouped, filters by tenant and by body text, shows one, edits and retries one (processed
//! once), bulk-retries a group at a set rate (the rate holds), interrupts a bulk retry and
//! resumes it, discards and restores one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bus::{ConsumerConfig, Handler, Incoming, Outcome, Outgoing};
use chrono::{DateTime, Utc};
use contracts::catalog::{ReserveStock, StockLine};
use contracts::payments::Charge;
use contracts::{Contract, Envelope, Message, RawEnvelope};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::harness::{
    CATALOG, Ops, QUEUE, TOKEN, charge, command, eventually, start, summitctl, summitctl_with,
};

/// Payments as it might fail: a token it does not know is refused for good; while the card
/// processor is "down" (until `fixed`), outage charges are refused too. What it does process,
/// it processes once (the inbox), recording the token it charged.
struct Payments {
    pool: PgPool,
    fixed: Arc<AtomicBool>,
}

impl Handler for Payments {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let Message::Charge(charge) = &incoming.message else {
            return Outcome::Reject("not a charge".into());
        };
        if charge.payment_token == "tok_typo" {
            return Outcome::Reject("unknown card token\ntok_typo".into());
        }
        if charge.payment_token.starts_with("tok_outage") && !self.fixed.load(Ordering::SeqCst) {
            return Outcome::Reject("card processor down".into());
        }
        let applied = async {
            let mut tx = self.pool.begin().await?;
            if outbox::inbox::record(&mut tx, incoming.envelope.id, "it.charge").await? {
                sqlx::query("INSERT INTO charged (message_id, token) VALUES ($1, $2)")
                    .bind(incoming.envelope.id)
                    .bind(&charge.payment_token)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        match applied.await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Unavailable(error.to_string()),
        }
    }
}

/// Catalog refusing every reservation.
struct Catalog;

impl Handler for Catalog {
    async fn handle(&self, _: Incoming) -> Outcome {
        Outcome::Reject("no such warehouse".into())
    }
}

fn consume<H: Handler>(ops: &Ops, pool: &PgPool, queue: &str, handler: H) -> CancellationToken {
    let stop = CancellationToken::new();
    let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(pool.clone()));
    let (bus, queue, token) = (ops.bus.clone(), queue.to_owned(), stop.clone());
    tokio::spawn(async move {
        bus.consume(
            &queue,
            Arc::new(handler),
            retries,
            ConsumerConfig::default(),
            token,
        )
        .await
    });
    stop
}

async fn send(ops: &Ops, queue: &str, raw: &RawEnvelope, body: Option<&[u8]>) {
    let destination = if queue == QUEUE {
        Charge::DESTINATION
    } else {
        ReserveStock::DESTINATION
    };
    let mut out = Outgoing::envelope(raw, destination).to_queue(queue);
    if let Some(body) = body {
        out.body = body.to_vec();
    }
    ops.bus.publisher().publish(&out).await.unwrap();
}

fn reserve(tenant: Uuid) -> RawEnvelope {
    Envelope::new(
        Some(tenant),
        ReserveStock {
            order_id: Uuid::now_v7(),
            store_id: tenant,
            lines: vec![StockLine {
                product_id: Uuid::now_v7(),
                quantity: 1,
            }],
        },
    )
    .into_raw()
}

async fn count(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn status(pool: &PgPool, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM failures WHERE message_id = $1")
        .bind(id.to_string())
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn ok(ops: &Ops, args: &[&str]) -> String {
    let (code, out, err) = summitctl(&ops.url, TOKEN, args).await;
    assert_eq!(code, 0, "summitctl {args:?}: {err}");
    out
}

fn ids_of(json: &str) -> Vec<String> {
    let items: Value = serde_json::from_str(json).unwrap();
    let mut ids: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["message_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[Uuid]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    v.sort();
    v
}

#[sqlx::test(migrations = false)]
async fn an_operator_goes_from_first_sight_of_failures_to_replay(
    pool: PgPool,
) -> anyhow::Result<()> {
    let ops = start(&pool).await?;
    sqlx::query("CREATE TABLE charged (message_id uuid NOT NULL, token text NOT NULL)")
        .execute(&pool)
        .await?;
    let fixed = Arc::new(AtomicBool::new(false));
    let payments = consume(
        &ops,
        &pool,
        QUEUE,
        Payments {
            pool: pool.clone(),
            fixed: fixed.clone(),
        },
    );
    let catalog = consume(&ops, &pool, CATALOG, Catalog);

    // Several kinds and tenants fail: one charge with a typo (a), five during an outage (a and
    // b), three reservations (b), one body nobody can read.
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let typo = charge(a, "tok_typo");
    send(&ops, QUEUE, &typo, None).await;
    let mut outage = Vec::new();
    for n in 0..5 {
        let raw = charge(if n % 2 == 0 { a } else { b }, &format!("tok_outage_{n}"));
        send(&ops, QUEUE, &raw, None).await;
        outage.push(raw.id);
    }
    let mut reserves = Vec::new();
    for _ in 0..3 {
        let raw = reserve(b);
        send(&ops, CATALOG, &raw, None).await;
        reserves.push(raw.id);
    }
    let mut unreadable = reserve(b);
    unreadable.id = Uuid::now_v7();
    send(&ops, CATALOG, &unreadable, Some(b"{not json")).await;
    eventually("ten parked", Duration::from_secs(30), || async {
        (count(&pool, "SELECT count(*) FROM failures").await == 10).then_some(())
    })
    .await;
    // Catalog stays down: what is retried to it waits in its queue.
    catalog.cancel();

    // First sight: four groups, not ten lines.
    let out = ok(&ops, &["failures"]).await;
    assert!(out.contains("card processor down"), "{out}");
    assert!(out.contains("unknown card token"), "{out}");
    assert!(!out.contains("\ntok_typo"), "first lines only: {out}");
    let groups: Value = serde_json::from_str(&ok(&ops, &["failures", "groups", "--json"]).await)?;
    let groups = groups.as_array().unwrap().clone();
    assert_eq!(groups.len(), 4, "{groups:?}");
    let group = |error: &str| -> String {
        let g = groups
            .iter()
            .find(|g| g["error"] == error)
            .unwrap_or_else(|| panic!("no group {error}: {groups:?}"));
        g["id"].as_str().unwrap().to_owned()
    };
    let outage_group = group("card processor down");
    let catalog_group = group("no such warehouse");
    let outage_row = groups.iter().find(|g| g["id"] == outage_group).unwrap();
    assert_eq!(outage_row["count"], 5);
    assert_eq!(outage_row["tenants"].as_array().unwrap().len(), 2);
    assert!(
        out.contains(&outage_group),
        "the table shows group ids: {out}"
    );

    // Filters: by tenant, by body text.
    let out = ok(
        &ops,
        &[
            "failures",
            "list",
            "--tenant",
            &b.to_string(),
            "--type",
            "payments.charge",
            "--json",
        ],
    )
    .await;
    assert_eq!(ids_of(&out), sorted(&[outage[1], outage[3]]));
    let out = ok(&ops, &["failures", "list", "--grep", "TOK_TYPO", "--json"]).await;
    assert_eq!(ids_of(&out), sorted(&[typo.id]));

    // Show one.
    let typo_id = typo.id.to_string();
    let out = ok(&ops, &["failures", "show", &typo_id]).await;
    assert!(out.contains("\"payment_token\": \"tok_typo\""), "{out}");
    assert!(out.contains("x-error-kind"), "{out}");

    // Edit: an edit that breaks the contract is refused, nothing changes, the file is kept.
    let (code, _, err) = summitctl_with(
        &ops.url,
        TOKEN,
        &["failures", "edit", &typo_id],
        &[("EDITOR", "sed -i 's/: 500,/: true,/'")],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("422"), "{err}");
    assert!(err.contains("does not match the contract"), "{err}");
    assert!(err.contains("kept in"), "{err}");
    assert_eq!(status(&pool, typo.id).await, "parked");
    assert_eq!(count(&pool, "SELECT count(*) FROM edits").await, 0);
    let (code, _, err) = summitctl_with(
        &ops.url,
        TOKEN,
        &["failures", "edit", &typo_id],
        &[("EDITOR", "true")],
    )
    .await;
    assert_eq!(code, 1, "an unchanged file sends nothing");
    assert!(err.contains("unchanged"), "{err}");

    // An edit that keeps it: retried under the same id, charged once with the fixed token.
    let (code, out, err) = summitctl_with(
        &ops.url,
        TOKEN,
        &["failures", "edit", &typo_id],
        &[("EDITOR", "sed -i s/tok_typo/tok_fixed/")],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("edited and retried message_id={typo_id}")),
        "{out}"
    );
    let charged: Vec<(Uuid, String)> = eventually(
        "the edited charge processed",
        Duration::from_secs(20),
        || async {
            let rows: Vec<(Uuid, String)> =
                sqlx::query_as("SELECT message_id, token FROM charged WHERE message_id = $1")
                    .bind(typo.id)
                    .fetch_all(&pool)
                    .await
                    .ok()?;
            (!rows.is_empty()).then_some(rows)
        },
    )
    .await;
    assert_eq!(charged, vec![(typo.id, "tok_fixed".to_owned())], "once");
    assert_eq!(status(&pool, typo.id).await, "retried");
    let out = ok(&ops, &["failures", "show", &typo_id]).await;
    assert!(out.contains("the original:"), "{out}");
    assert!(
        out.contains("tok_typo"),
        "the audit keeps the original: {out}"
    );

    // The outage is over: the group goes back at 4/s, and the rate holds.
    fixed.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let out = ok(
        &ops,
        &["failures", "retry", "--group", &outage_group, "--rate", "4"],
    )
    .await;
    let took = started.elapsed();
    assert!(
        out.contains("retried=5 skipped=0 failed=0 matched=5"),
        "{out}"
    );
    assert!(took >= Duration::from_secs(1), "5 at 4/s took {took:?}");
    let times: Vec<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT retried_at FROM failures WHERE message_id = ANY($1) ORDER BY retried_at",
    )
    .bind(outage.iter().map(Uuid::to_string).collect::<Vec<_>>())
    .fetch_all(&pool)
    .await?;
    assert_eq!(times.len(), 5);
    // The broker saw them spread too: 1 s nominal, less the first request's own latency at
    // most (loosely: a loaded machine only makes the first one later).
    assert!(
        times[4] - times[0] >= chrono::Duration::milliseconds(750),
        "spread {}",
        times[4] - times[0]
    );
    eventually(
        "the outage charges processed",
        Duration::from_secs(20),
        || async { (count(&pool, "SELECT count(*) FROM charged").await == 6).then_some(()) },
    )
    .await;
    let out = ok(&ops, &["failures", "retry", "--group", &outage_group]).await;
    assert!(out.contains("matched=0"), "run again: nothing left: {out}");

    // A bulk retry interrupted (Ctrl-C) exits 130; running it again resumes.
    let child = command(
        &ops.url,
        TOKEN,
        &[
            "failures",
            "retry",
            "--group",
            &catalog_group,
            "--rate",
            "0.5",
        ],
        &[],
    )
    .spawn()?;
    eventually("the first reservation retried", Duration::from_secs(20), || async {
        (count(&pool, "SELECT count(*) FROM failures WHERE status = 'retried' AND queue = 'catalog.commands'").await >= 1)
            .then_some(())
    })
    .await;
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await?;
    assert!(killed.success());
    let interrupted = child.wait_with_output().await?;
    let out = String::from_utf8_lossy(&interrupted.stdout);
    assert_eq!(interrupted.status.code(), Some(130), "{out}");
    assert!(out.contains("interrupted"), "{out}");
    let left = count(&pool, "SELECT count(*) FROM failures WHERE status = 'parked' AND queue = 'catalog.commands' AND error_kind = 'rejected'").await;
    assert!((1..=2).contains(&left), "{left} left");
    let out = ok(
        &ops,
        &[
            "failures",
            "retry",
            "--group",
            &catalog_group,
            "--rate",
            "50",
        ],
    )
    .await;
    assert!(
        out.contains(&format!("retried={left} skipped=0 failed=0")),
        "{out}"
    );
    for id in &reserves {
        assert_eq!(status(&pool, *id).await, "retried");
    }
    eventually(
        "each reservation back once",
        Duration::from_secs(10),
        || async { (ops.bus.depth(CATALOG).await.ok()? == 3).then_some(()) },
    )
    .await;

    // Discard (asks first; off a terminal, only with --yes) and restore.
    let unreadable_id = unreadable.id.to_string();
    let (code, _, err) = summitctl(&ops.url, TOKEN, &["failures", "discard", &unreadable_id]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(status(&pool, unreadable.id).await, "parked");
    let out = ok(&ops, &["failures", "discard", &unreadable_id, "--yes"]).await;
    assert!(out.contains("status=discarded"), "{out}");
    let out = ok(
        &ops,
        &["failures", "list", "--status", "discarded", "--json"],
    )
    .await;
    assert_eq!(ids_of(&out), sorted(&[unreadable.id]));
    assert!(
        !ok(&ops, &["failures"]).await.contains("malformed"),
        "archived"
    );
    let out = ok(&ops, &["failures", "restore", &unreadable_id]).await;
    assert!(out.contains("status=parked"), "{out}");
    let (code, _, err) = summitctl(&ops.url, TOKEN, &["failures", "restore", &unreadable_id]).await;
    assert_eq!(code, 1, "restoring a parked one is refused: {err}");
    let out = ok(
        &ops,
        &["failures", "discard", "--kind", "malformed", "--yes"],
    )
    .await;
    assert!(out.contains("discarded=1"), "{out}");

    payments.cancel();
    Ok(())
}
