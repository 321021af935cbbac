use std::time::Duration;

use bus::{ConsumerConfig, Outcome, Outgoing};
use contracts::Contract;
use contracts::catalog::StockReleased;

use crate::harness::{Harness, QUEUE, Recorder, event};

fn dlq() -> String {
    format!("{QUEUE}.dlq")
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
            (
                m.header("x-error-kind").unwrap_or_default().to_owned(),
                m.header("x-error").unwrap_or_default().to_owned(),
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

/// A body over the consumer's limit is dead-lettered unparsed, with the size in its reason;
/// one at the limit is still decoded (and, here, dead-lettered as malformed: it is padding).
#[tokio::test]
async fn a_body_over_the_size_limit_is_dead_lettered_unread_and_the_queue_flows()
-> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());
    let publisher = h.bus.publisher();

    let mut huge = Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION);
    huge.body = vec![b' '; bus::consumer::MAX_BODY_BYTES + 1];
    publisher.publish(&huge).await?;
    let mut at_limit = Outgoing::envelope(&event().into_raw(), StockReleased::DESTINATION);
    at_limit.body = vec![b' '; bus::consumer::MAX_BODY_BYTES];
    publisher.publish(&at_limit).await?;

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
        "the handler saw only the good one"
    );
    let mut letters: Vec<(String, String, usize)> = h
        .drain(&dlq())
        .await?
        .iter()
        .map(|m| {
            (
                m.header("x-error-kind").unwrap_or_default().to_owned(),
                m.header("x-error").unwrap_or_default().to_owned(),
                m.body.len(),
            )
        })
        .collect();
    letters.sort();
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].0, "malformed");
    assert_eq!(letters[0].2, bus::consumer::MAX_BODY_BYTES);
    assert_eq!(letters[1].0, "too-large");
    let size = (bus::consumer::MAX_BODY_BYTES + 1).to_string();
    assert!(letters[1].1.contains(&size), "{}", letters[1].1);
    assert_eq!(
        letters[1].2,
        bus::consumer::MAX_BODY_BYTES + 1,
        "kept whole"
    );
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
    assert_eq!(dead[0].header("x-error-kind"), Some("rejected"));
    assert_eq!(dead[0].header("x-error"), Some("order does not exist"));
    assert!(
        dead[0].header("x-death").is_some(),
        "RabbitMQ's own x-death is there"
    );
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

#[tokio::test]
async fn queue_stats_tell_depth_and_consumers_and_a_missing_queue() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    h.publish_event().await?;
    h.publish_event().await?;
    let stats = h.bus.queue_stats(QUEUE).await?.unwrap();
    assert_eq!((stats.messages, stats.consumers), (2, 0));
    assert_eq!(h.bus.queue_stats("no.such-queue").await?, None);
    // The bus is still usable after the broker closed the channel of the failed declare.
    assert_eq!(h.bus.queue_stats(&dlq()).await?.unwrap().messages, 0);
    Ok(())
}
