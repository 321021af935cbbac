use std::time::Duration;

use bus::{ConsumerConfig, Outcome, Outgoing};
use contracts::Contract;
use contracts::catalog::StockReleased;
use lapin::types::{AMQPValue, FieldTable};
use resilience::{Backoff, Jitter};

use crate::harness::{Harness, QUEUE, Recorder, event};

fn dlq() -> String {
    format!("{QUEUE}.dlq")
}

fn header<'a>(table: &'a FieldTable, name: &str) -> Option<&'a AMQPValue> {
    table.inner().get(name)
}

fn text(value: Option<&AMQPValue>) -> String {
    match value {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("not a string header: {other:?}"),
    }
}

async fn wait_for_dead_letters(h: &Harness, count: u32) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while h.ready_count(&dlq()).await? < count {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(15),
            "dead letters never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_message_that_always_fails_is_dead_lettered_after_the_cap() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let doomed = event();
    let doomed_id = doomed.id;
    let handler = Recorder::new(move |_| Outcome::Retry("database down".into()));
    let good = Recorder::new(|_| Outcome::Done);
    // One handler that fails only the doomed message.
    let mixed = std::sync::Arc::new(Mixed {
        doomed: doomed_id,
        bad: handler.clone(),
        good: good.clone(),
    });
    let config = ConsumerConfig {
        max_attempts: 3,
        backoff: Backoff {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
            jitter: Jitter::Full,
        },
        ..ConsumerConfig::default()
    };
    let consuming = h.consume(mixed, config);
    h.bus
        .publisher()
        .publish(&Outgoing::envelope(
            &doomed.into_raw(),
            StockReleased::DESTINATION,
        ))
        .await?;
    let mut good_ids = Vec::new();
    for _ in 0..5 {
        good_ids.push(h.publish_event().await?);
    }
    wait_for_dead_letters(&h, 1).await?;
    good.wait_until(Duration::from_secs(5), |c| c.len() >= 5)
        .await?;
    consuming.stop().await?;

    assert_eq!(
        handler
            .calls_for(doomed_id)
            .iter()
            .map(|c| c.attempt)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let mut seen: Vec<_> = good.calls().iter().map(|c| c.message_id).collect();
    seen.sort();
    good_ids.sort();
    assert_eq!(seen, good_ids, "the others are processed once each");

    let dead = h.drain(&dlq()).await?;
    assert_eq!(dead.len(), 1, "exactly the doomed message is dead-lettered");
    let props = &dead[0].delivery.properties;
    assert_eq!(
        props.message_id().as_ref().map(|s| s.to_string()),
        Some(doomed_id.to_string())
    );
    let table = props.headers().clone().expect("headers");
    assert_eq!(text(header(&table, "x-error")), "database down");
    assert_eq!(text(header(&table, "x-error-kind")), "retries-exhausted");
    assert_eq!(
        header(&table, "x-attempts"),
        Some(&AMQPValue::LongLongInt(3))
    );
    assert!(
        header(&table, "x-death").is_some(),
        "RabbitMQ's own x-death is there"
    );
    assert_eq!(h.ready_count(QUEUE).await?, 0);
    Ok(())
}

struct Mixed<F, G> {
    doomed: uuid::Uuid,
    bad: std::sync::Arc<Recorder<F>>,
    good: std::sync::Arc<Recorder<G>>,
}

impl<F, G> bus::Handler for Mixed<F, G>
where
    F: Fn(u32) -> Outcome + Send + Sync + 'static,
    G: Fn(u32) -> Outcome + Send + Sync + 'static,
{
    async fn handle(&self, incoming: bus::Incoming) -> Outcome {
        if incoming.envelope.id == self.doomed {
            bus::Handler::handle(&*self.bad, incoming).await
        } else {
            bus::Handler::handle(&*self.good, incoming).await
        }
    }
}

#[tokio::test]
async fn malformed_and_unknown_messages_are_dead_lettered_at_once_and_the_queue_flows()
-> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    let publisher = h.bus.publisher();

    let mut malformed = Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION);
    malformed.body = b"{this is not json".to_vec();
    publisher.publish(&malformed).await?;

    let mut unknown = event().into_raw();
    unknown.kind = "test.Bogus".into();
    publisher
        .publish(&Outgoing::envelope(&unknown, StockReleased::DESTINATION))
        .await?;

    let good = h.publish_event().await?;
    handler
        .wait_until(Duration::from_secs(5), |c| {
            c.iter().any(|c| c.message_id == good)
        })
        .await?;
    wait_for_dead_letters(&h, 2).await?;
    consuming.stop().await?;

    assert_eq!(
        handler.calls().len(),
        1,
        "the handler never saw the bad messages"
    );
    let mut kinds: Vec<(String, String)> = h
        .drain(&dlq())
        .await?
        .iter()
        .map(|m| {
            let table = m.delivery.properties.headers().clone().unwrap();
            (
                text(header(&table, "x-error-kind")),
                text(header(&table, "x-error")),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds.len(), 2);
    assert_eq!(kinds[0].0, "malformed");
    assert!(kinds[0].1.contains("malformed"), "{}", kinds[0].1);
    assert_eq!(kinds[1].0, "unknown-type");
    assert!(kinds[1].1.contains("test.Bogus"), "{}", kinds[1].1);
    Ok(())
}

#[tokio::test]
async fn a_permanent_rejection_is_dead_lettered_without_retries() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = Recorder::new(|_| Outcome::Reject("order does not exist".into()));
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    h.publish_event().await?;
    wait_for_dead_letters(&h, 1).await?;
    consuming.stop().await?;
    assert_eq!(handler.calls().len(), 1);
    let dead = h.drain(&dlq()).await?;
    let table = dead[0].delivery.properties.headers().clone().unwrap();
    assert_eq!(text(header(&table, "x-error-kind")), "rejected");
    assert_eq!(text(header(&table, "x-error")), "order does not exist");
    Ok(())
}

#[tokio::test]
async fn operators_can_peek_at_and_replay_dead_letters() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    // The handler is "broken" until the operator fixes it, then succeeds.
    let fixed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let switch = fixed.clone();
    let handler = Recorder::new(move |_| {
        if switch.load(std::sync::atomic::Ordering::SeqCst) {
            Outcome::Done
        } else {
            Outcome::Reject("template missing".into())
        }
    });
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    let id = h.publish_event().await?;
    wait_for_dead_letters(&h, 1).await?;

    let letters = h.bus.peek_dead_letters(QUEUE, 10).await?;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].message_id, Some(id.to_string()));
    assert_eq!(letters[0].error.as_deref(), Some("template missing"));
    assert_eq!(letters[0].error_kind.as_deref(), Some("rejected"));
    wait_for_dead_letters(&h, 1).await?; // peeking leaves it in place
    assert_eq!(
        h.bus.peek_dead_letters(QUEUE, 10).await?,
        letters,
        "and peeking again sees it"
    );

    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(h.bus.replay_dead_letters(QUEUE, 10).await?, 1);
    handler
        .wait_until(Duration::from_secs(10), |c| {
            c.iter().filter(|c| c.message_id == id).count() == 2
        })
        .await?;
    consuming.stop().await?;
    let calls = handler.calls_for(id);
    assert_eq!(calls[1].attempt, 1, "a replayed message starts again");
    assert_eq!(
        h.ready_count(&dlq()).await?,
        0,
        "replayed letters leave the dead-letter queue"
    );
    assert_eq!(h.ready_count(QUEUE).await?, 0);
    Ok(())
}
