//! The basics from the command line: groups, a listing by tenant and by text, one shown, one
//! retried, the rest by filter, a wrong token.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::harness::{QUEUE, TOKEN, dead_letter, start, summitctl};

#[sqlx::test(migrations = false)]
async fn failures_are_grouped_listed_shown_and_retried_from_the_command_line(
    pool: PgPool,
) -> anyhow::Result<()> {
    let ops = start(&pool).await?;
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let first = dead_letter(&ops, a, "tok_cli_one").await?;
    let second = dead_letter(&ops, b, "tok_cli_two").await?;
    let start = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM failures")
            .fetch_one(&pool)
            .await?;
        if n == 2 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never parked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The default: groups, one line for both.
    let (code, out, err) = summitctl(&ops.url, TOKEN, &["failures"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("payments.commands"), "{out}");
    assert!(out.contains("card processor refused"), "{out}");
    assert!(!out.contains("at step 3"), "the first line only: {out}");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("payments.commands"))
            .count(),
        1,
        "{out}"
    );

    // A list filtered by tenant, as JSON.
    let (code, out, err) = summitctl(
        &ops.url,
        TOKEN,
        &["failures", "list", "--tenant", &a.to_string(), "--json"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let items: Value = serde_json::from_str(&out)?;
    assert_eq!(items.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(items[0]["message_id"], first.id.to_string());

    // A list by body text, as a table.
    let (code, out, _) = summitctl(
        &ops.url,
        TOKEN,
        &["failures", "list", "--grep", "tok_cli_two"],
    )
    .await;
    assert_eq!(code, 0);
    assert!(out.contains(&b.to_string()), "{out}");
    assert!(!out.contains(&a.to_string()), "{out}");

    // One, whole.
    let id = first.id.to_string();
    let (code, out, err) = summitctl(&ops.url, TOKEN, &["failures", "show", &id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("x-error-kind"), "{out}");
    assert!(out.contains("\"payment_token\": \"tok_cli_one\""), "{out}");

    // Retry: back on its queue, the same id.
    let (code, out, err) = summitctl(&ops.url, TOKEN, &["failures", "retry", &id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("message_id={id}")), "{out}");
    let back = ops.bus.take(QUEUE, 10).await?;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message_id.as_deref(), Some(id.as_str()));
    let (code, _, err) = summitctl(&ops.url, TOKEN, &["failures", "retry", &id]).await;
    assert_eq!(code, 1, "retrying it again is refused (409)");
    assert!(err.contains("409"), "{err}");

    // The rest by filter, at a rate: the tenant's one goes back.
    let (code, out, err) = summitctl(
        &ops.url,
        TOKEN,
        &[
            "failures",
            "retry",
            "--tenant",
            &b.to_string(),
            "--rate",
            "20",
            "--background",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("matched=1"), "handed to ops: {out}");
    let start = Instant::now();
    let back = loop {
        let taken = ops.bus.take(QUEUE, 10).await?;
        if !taken.is_empty() {
            break taken;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        back[0].message_id.as_deref(),
        Some(second.id.to_string().as_str())
    );
    let (code, _, err) = summitctl(&ops.url, TOKEN, &["failures", "retry"]).await;
    assert_eq!(code, 2, "no id and no filter is a usage error");
    assert!(err.contains("at least one filter"), "{err}");

    // A wrong token: exit code 1, the 401 said.
    let (code, _, err) = summitctl(&ops.url, "wrong", &["failures"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_bulk_retry_stops_after_ten_failures_in_a_row(pool: PgPool) -> anyhow::Result<()> {
    let ops = start(&pool).await?;
    let tenant = Uuid::now_v7();
    for n in 0..12 {
        dead_letter(&ops, tenant, &format!("tok_nowhere_{n}")).await?;
    }
    let start = Instant::now();
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM failures")
        .fetch_one(&pool)
        .await?
        < 12
    {
        assert!(start.elapsed() < Duration::from_secs(20), "never parked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Their queue is gone: the broker returns every retry (mandatory), ops answers 502.
    sqlx::query("UPDATE failures SET queue = 'no.such-queue'")
        .execute(&pool)
        .await?;
    let (code, out, err) = summitctl(
        &ops.url,
        TOKEN,
        &[
            "failures",
            "retry",
            "--tenant",
            &tenant.to_string(),
            "--rate",
            "100",
        ],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("retried=0 skipped=0 failed=10 matched=12 stopped"),
        "{out}"
    );
    assert!(err.contains("10 failures in a row"), "{err}");
    assert!(err.contains("502"), "each failure is named: {err}");
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM failures WHERE status = 'parked'")
        .fetch_one(&pool)
        .await?;
    assert_eq!(parked, 12, "nothing marked retried");
    Ok(())
}
