//! The database away in the moment between SMTP accepting a mail and the log recording it
//! `sent` (found by the platform's `postgres_path` drill: one mail went twice). The sender
//! keeps trying the record while its lease holds, so the mail is not sent again.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use testkit::{FaultMode, FaultProxy};
use uuid::Uuid;

use crate::helpers::{MAILDEV_SMTP, World, address, config, mails_to, order};

#[sqlx::test(migrations = false)]
async fn a_mail_accepted_while_the_database_blinks_is_recorded_not_sent_again(
    pool: PgPool,
) -> anyhow::Result<()> {
    let postgres = FaultProxy::start("127.0.0.1:5432".parse()?).await?;
    // SMTP's answers come late, so the test sees the mail at the sink before the sender
    // hears that it was accepted.
    let smtp = FaultProxy::start(MAILDEV_SMTP.parse()?).await?;
    let mut config = config();
    config.smtp_url = format!("smtp://127.0.0.1:{}", smtp.port());
    config.smtp_timeout = Duration::from_secs(10);
    let world = World::start_through(pool, config, Some(postgres.port())).await?;
    let store = Uuid::now_v7();
    world.store(store, "Loja", &address("owner")).await?;

    let to = address("blink");
    smtp.set(FaultMode::Latency(300));
    let placed = world.publish(store, order(store, &to, "Café")).await?;
    let start = Instant::now();
    while mails_to(&to).await?.is_empty() {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "no mail at the sink"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The sink has the mail; the sender has not heard 250 yet. The database goes away.
    postgres.set(FaultMode::Down);
    smtp.set(FaultMode::Pass);
    tokio::time::sleep(Duration::from_millis(1500)).await; // the outage's duration
    postgres.set(FaultMode::Pass);

    world.wait_status(placed.id, "email", "sent").await;
    assert_eq!(mails_to(&to).await?.len(), 1, "sent once, recorded once");
    let attempts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.event_id = $1 AND d.channel = 'email'",
    )
    .bind(placed.id)
    .fetch_one(&world.pool)
    .await?;
    assert_eq!(attempts, 1, "one attempt in the log");
    Ok(())
}
