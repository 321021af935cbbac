//! `summitctl queues` says what `rabbitmqctl list_queues` says, for the test's own vhost, and
//! adds the parked failures and the rates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bus::{ConsumerConfig, Handler, Incoming, Outcome, Outgoing};
use contracts::Contract;
use contracts::payments::Charge;
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::harness::{CATALOG, QUEUE, TOKEN, charge, dead_letter, eventually, start, summitctl};

struct Acking;

impl Handler for Acking {
    async fn handle(&self, _: Incoming) -> Outcome {
        Outcome::Done
    }
}

/// `name -> (messages, consumers)` as rabbitmqctl lists them for `vhost`.
async fn rabbitmqctl(vhost: &str) -> BTreeMap<String, (u64, u64)> {
    let out = tokio::process::Command::new("rabbitmqctl")
        .args([
            "list_queues",
            "-q",
            "-p",
            vhost,
            "name",
            "messages",
            "consumers",
        ])
        .output()
        .await
        .expect("rabbitmqctl (the RabbitMQ server's own tool) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next()?.to_owned();
            let messages = fields.next()?.parse().ok()?;
            let consumers = fields.next()?.parse().ok()?;
            Some((name, (messages, consumers)))
        })
        .collect()
}

#[sqlx::test(migrations = false)]
async fn queues_match_rabbitmqctl_and_count_parked_failures(pool: PgPool) -> anyhow::Result<()> {
    let ops = start(&pool).await?;
    let stop = CancellationToken::new();
    let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(pool.clone()));
    let (bus, token) = (ops.bus.clone(), stop.clone());
    tokio::spawn(async move {
        bus.consume(
            CATALOG,
            Arc::new(Acking),
            retries,
            ConsumerConfig::default(),
            token,
        )
        .await
    });
    let _stop = stop.drop_guard();
    for n in 0..3 {
        let raw = charge(Uuid::now_v7(), &format!("tok_waiting_{n}"));
        ops.bus
            .publisher()
            .publish(&Outgoing::envelope(&raw, Charge::DESTINATION).to_queue(QUEUE))
            .await?;
    }
    dead_letter(&ops, Uuid::now_v7(), "tok_dead_1").await?;
    dead_letter(&ops, Uuid::now_v7(), "tok_dead_2").await?;
    let name = ops.vhost.name().to_owned();
    // Settled: both letters parked (acked off the .dlq), the catalog consumer registered.
    let listed = eventually("the queues settled", Duration::from_secs(30), || async {
        let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM failures")
            .fetch_one(&pool)
            .await
            .ok()?;
        let listed = rabbitmqctl(&name).await;
        let settled = parked == 2
            && listed.get(&format!("{QUEUE}.dlq")) == Some(&(0, 1))
            && listed.get(CATALOG) == Some(&(0, 1));
        settled.then_some(listed)
    })
    .await;
    assert_eq!(listed.get(QUEUE), Some(&(3, 0)), "{listed:?}");

    let (code, out, err) = summitctl(&ops.url, TOKEN, &["queues", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(&out)?;
    let queues = answer["queues"].as_array().unwrap();
    let mut ours = BTreeMap::new();
    for q in queues {
        let as_u64 = |v: &Value| v.as_u64().unwrap();
        ours.insert(
            q["queue"].as_str().unwrap().to_owned(),
            (as_u64(&q["depth"]), as_u64(&q["consumers"])),
        );
        ours.insert(
            q["dead_letter_queue"].as_str().unwrap().to_owned(),
            (
                as_u64(&q["dead_letters"]),
                as_u64(&q["dead_letter_consumers"]),
            ),
        );
    }
    assert_eq!(ours, listed, "summitctl queues and rabbitmqctl agree");
    let parked = |queue: &str| {
        queues
            .iter()
            .find(|q| q["queue"] == queue)
            .map(|q| q["parked"].clone())
            .unwrap()
    };
    assert_eq!(parked(QUEUE), 2);
    assert_eq!(parked(CATALOG), 0);
    if answer["rates_note"].is_null() {
        assert!(
            queues
                .iter()
                .all(|q| q["rates"]["publish_per_s"].is_number()),
            "{answer}"
        );
    }

    // The table: one line per work queue.
    let (code, out, err) = summitctl(&ops.url, TOKEN, &["queues"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains(QUEUE)).count(),
        1,
        "{out}"
    );
    assert!(out.contains("no consumer"), "{out}");
    Ok(())
}
