use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, Outgoing};
use contracts::payments::{Charge, Customer};
use contracts::{Contract, Envelope, RawEnvelope};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOKEN: &str = "it-summitctl-token";
const QUEUE: &str = "payments.commands";

struct Ops {
    url: String,
    bus: Arc<Bus>,
    shutdown: CancellationToken,
    _vhost: testkit::Vhost,
}

impl Drop for Ops {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(pool: &PgPool) -> anyhow::Result<Ops> {
    ops::migrator().run(pool).await?;
    let vhost = testkit::Vhost::create().await?;
    let queues = vec![QUEUE.to_owned()];
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("summitctl-it-{}", vhost.name())),
            ops::topology(&queues),
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    let parking = Arc::new(ops::parking::Parking::new(pool.clone()));
    let (consumer_bus, stop) = (bus.clone(), shutdown.clone());
    tokio::spawn(async move {
        consumer_bus
            .consume_dead_letters(
                &format!("{QUEUE}.dlq"),
                parking,
                ops::consumer_config(),
                stop,
            )
            .await
    });
    let slot = service_kit::BusSlot::default();
    slot.set(bus.clone()).ok().unwrap();
    let router = ops::router(ops::http::Api {
        pool: pool.clone(),
        bus: slot,
        token: TOKEN.to_owned().into(),
        default_rate_per_s: 10.0,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Ok(Ops {
        url,
        bus,
        shutdown,
        _vhost: vhost,
    })
}

/// A charge dead-lettered as the bus's consumer runtime leaves it in `Q.dlq`.
async fn dead_letter(ops: &Ops, tenant: Uuid, token: &str) -> anyhow::Result<RawEnvelope> {
    let raw = Envelope::new(
        Some(tenant),
        Charge {
            order_id: Uuid::now_v7(),
            store_id: tenant,
            amount_minor: 500,
            currency: "BRL".into(),
            customer: Customer {
                email: "bia@example.com".into(),
                name: None,
            },
            payment_token: token.to_owned(),
        },
    )
    .into_raw();
    let mut out = Outgoing::envelope(&raw, Charge::DESTINATION).to_queue(&format!("{QUEUE}.dlq"));
    for (k, v) in [
        ("x-error", "card processor refused\nat step 3"),
        ("x-error-kind", "rejected"),
        ("x-attempts", "1"),
    ] {
        out.headers.insert(k.to_owned(), v.to_owned());
    }
    ops.bus.publisher().publish(&out).await?;
    Ok(raw)
}

/// Runs `summitctl args…` against `url` with `token`: exit code, stdout, stderr.
async fn summitctl(url: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_summitctl"))
        .args(args)
        .env("OPS_URL", url)
        .env("OPS_TOKEN", token)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("matched=1"), "{out}");
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
    assert_eq!(code, 1, "no id and no filter is refused");
    assert!(err.contains("at least one filter"), "{err}");

    // A wrong token: exit code 1, the 401 said.
    let (code, _, err) = summitctl(&ops.url, "wrong", &["failures"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
    Ok(())
}
