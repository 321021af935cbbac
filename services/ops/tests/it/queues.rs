//! `GET /ops/queues` without the management API: depths and consumers still come (through the
//! bus), rates are null and the answer says why.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{PAYMENTS, World, eventually};

#[sqlx::test(migrations = false)]
async fn queues_degrade_to_the_bus_without_the_management_api(pool: PgPool) -> anyhow::Result<()> {
    let w = World::start(pool).await?;
    w.charge(Uuid::now_v7(), "tok_queued").await?;
    let queues: Vec<String> = vec![PAYMENTS.to_owned(), "no.such-queue".to_owned()];
    let nowhere = ops::queues::Management::from_settings(
        "amqp://guest:guest@127.0.0.1:5672/x",
        Some("http://guest:guest@127.0.0.1:9"),
    )
    .map(Arc::new);
    // Ops' dead-letter consumers register in the background: wait for them, not a while.
    let answer = eventually(
        "the .dlq consumer registered",
        Duration::from_secs(20),
        || async {
            let answer = ops::queues::overview(&w.pool, &w.bus, &queues, nowhere.as_deref())
                .await
                .ok()?;
            (answer.queues[0].dead_letter_consumers == Some(1)).then_some(answer)
        },
    )
    .await;
    assert!(
        answer
            .rates_note
            .as_deref()
            .unwrap()
            .contains("did not answer")
    );
    let payments = &answer.queues[0];
    assert_eq!(payments.depth, Some(1));
    assert_eq!(payments.consumers, Some(0));
    assert_eq!(payments.rates, None);
    assert_eq!(payments.error, None);
    let missing = &answer.queues[1];
    assert_eq!(missing.depth, None);
    assert!(
        missing
            .error
            .as_deref()
            .unwrap()
            .contains("no queue no.such-queue")
    );

    // Over HTTP (with the management API of the test's broker, when it answers).
    let answer: Value = w.get_json("/ops/queues").await;
    assert_eq!(
        answer["queues"].as_array().unwrap().len(),
        ops::WORK_QUEUES.len()
    );
    Ok(())
}
