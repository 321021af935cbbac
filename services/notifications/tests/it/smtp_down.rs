//! SMTP away (a TCP proxy of the test's own in front of the sink, taken down): mail retries with
//! backoff, then dead-letters with the reason and NotificationFailed; webhooks for the same
//! events go out meanwhile; when SMTP returns, what was waiting goes out once, and a replayed
//! dead letter too.

use std::time::Duration;

use reqwest::Method;
use resilience::Backoff;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{
    MAILDEV_SMTP, Receiver, World, address, config, eventually, mails_to, order, wait_for_mails,
};

#[sqlx::test(migrations = false)]
async fn mail_retries_while_smtp_is_down_dead_letters_and_goes_out_once_when_it_returns(
    pool: PgPool,
) -> anyhow::Result<()> {
    let proxy = testkit::TcpProxy::start(MAILDEV_SMTP.parse()?).await?;
    let mut config = config();
    config.smtp_url = format!("smtp://127.0.0.1:{}", proxy.port());
    config.email_attempts = 5;
    config.email_backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let world = World::start(pool, config).await?;
    let store = Uuid::now_v7();
    let key = world.store(store, "Loja", &address("owner")).await?;
    let receiver = Receiver::start().await?;
    let created = world
        .send_json(
            Method::POST,
            "/admin/webhooks",
            &key,
            &json!({"url": receiver.url, "event_types": ["checkout.OrderPlaced"]}),
        )
        .await?;
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);

    proxy.down();
    let (doomed, waiting) = (address("doomed"), address("waiting"));
    let first = world.publish(store, order(store, &doomed, "Café")).await?;
    // Nothing else slows: the webhook of the same event is delivered while SMTP is away.
    world.wait_status(first.id, "webhook", "sent").await;
    world.wait_status(first.id, "email", "dead").await;
    let (attempts, last_error): (i32, String) = sqlx::query_as(
        "SELECT attempts, last_error FROM deliveries WHERE event_id = $1 AND channel = 'email'",
    )
    .bind(first.id)
    .fetch_one(&world.pool)
    .await?;
    assert_eq!(attempts, 5, "every attempt is logged");
    assert!(last_error.contains("SMTP"), "{last_error}");
    let failed = eventually("NotificationFailed", Duration::from_secs(20), || async {
        let failed = world.seen.failed();
        failed.into_iter().find(|f| f.recipient == doomed)
    })
    .await;
    assert_eq!(failed.channel, "email");
    assert!(failed.reason.contains("SMTP"), "{}", failed.reason);
    let letters = eventually("the dead letter", Duration::from_secs(20), || async {
        let letters = world
            .bus
            .peek_dead_letters(notifications::queues::SEND_EMAIL, 50)
            .await
            .ok()?;
        (!letters.is_empty()).then_some(letters)
    })
    .await;
    assert!(
        letters
            .iter()
            .all(|l| l.error_kind.as_deref() == Some("retries-exhausted")),
        "{letters:?}"
    );
    assert!(
        letters
            .iter()
            .any(|l| l.error.as_deref().is_some_and(|e| e.contains("SMTP"))),
        "{letters:?}"
    );

    let second = world.publish(store, order(store, &waiting, "Chá")).await?;
    let pool = world.pool.clone();
    eventually("a failed attempt", Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            let failures: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                 WHERE d.event_id = $1 AND d.channel = 'email' AND NOT a.ok",
            )
            .bind(second.id)
            .fetch_one(&pool)
            .await
            .ok()?;
            (failures >= 1).then_some(())
        }
    })
    .await;
    assert!(mails_to(&waiting).await?.is_empty());

    proxy.up();
    world.wait_status(second.id, "email", "sent").await;
    assert_eq!(wait_for_mails(&waiting, 1).await.len(), 1);

    // The dead letters replayed (as `summitctl dlq replay` does): sent once now.
    let replayed = world
        .bus
        .replay_dead_letters(notifications::queues::SEND_EMAIL, 50)
        .await?;
    assert!(replayed >= 1);
    world.wait_status(first.id, "email", "sent").await;
    assert_eq!(wait_for_mails(&doomed, 1).await.len(), 1);
    // A second replay of nothing, and the mails stay one each.
    world
        .bus
        .replay_dead_letters(notifications::queues::SEND_EMAIL, 50)
        .await?;
    assert_eq!(mails_to(&doomed).await?.len(), 1);
    assert_eq!(mails_to(&waiting).await?.len(), 1);
    assert_eq!(receiver.requests().len(), 2, "one webhook per event");
    Ok(())
}
