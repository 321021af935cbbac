use std::time::Duration;

use bus::{ConsumerConfig, Outcome, Outgoing, PublishError};
use contracts::Destination;

use crate::harness::{Harness, QUEUE, Recorder, event};

#[tokio::test]
async fn published_events_are_consumed_and_acked() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = Recorder::new(|_| Outcome::Done);
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());

    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(h.publish_event().await?);
    }
    handler
        .wait_until(Duration::from_secs(10), |c| c.len() >= 20)
        .await?;
    consuming.stop().await?;

    let mut seen: Vec<_> = handler.calls().iter().map(|c| c.message_id).collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every message once, none other");
    assert!(handler.calls().iter().all(|c| c.attempt == 1));
    assert_eq!(
        h.ready_count(QUEUE).await?,
        0,
        "acked messages leave the queue"
    );
    assert_eq!(h.ready_count(&format!("{QUEUE}.dlq")).await?, 0);
    Ok(())
}

#[tokio::test]
async fn an_unroutable_publish_is_an_error_not_silence() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let nowhere = Destination::Command {
        routing_key: "nobody.listens-here",
    };
    let result = h
        .bus
        .publisher()
        .publish(&Outgoing::envelope(&event().into_raw(), nowhere))
        .await;
    assert!(
        matches!(result, Err(PublishError::Unroutable { .. })),
        "got {result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_finishes_in_flight_messages_before_returning() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let handler = std::sync::Arc::new(Slow::default());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let bus = h.bus.clone();
    let token = shutdown.clone();
    let task = tokio::spawn({
        let handler = handler.clone();
        async move {
            bus.consume(
                QUEUE,
                handler,
                std::sync::Arc::new(crate::harness::NoRetries),
                ConsumerConfig::default(),
                token,
            )
            .await
        }
    });
    for _ in 0..5 {
        h.publish_event().await?;
    }
    // Wait until the handlers are running, then ask to stop.
    let started = std::time::Instant::now();
    while handler.started.load(std::sync::atomic::Ordering::SeqCst) < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "handlers never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    task.await??;
    assert_eq!(
        handler.finished.load(std::sync::atomic::Ordering::SeqCst),
        5
    );
    assert_eq!(
        h.ready_count(QUEUE).await?,
        0,
        "finished messages were acked, not requeued"
    );
    Ok(())
}

#[derive(Default)]
struct Slow {
    started: std::sync::atomic::AtomicUsize,
    finished: std::sync::atomic::AtomicUsize,
}

impl bus::Handler for Slow {
    async fn handle(&self, _: bus::Incoming) -> Outcome {
        use std::sync::atomic::Ordering::SeqCst;
        self.started.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.finished.fetch_add(1, SeqCst);
        Outcome::Done
    }
}

/// An event is publish/subscribe: a fanout exchange nobody has subscribed to yet (as
/// `notifications.events` is today) takes the event and drops it — not an error, so an outbox
/// holding such events never stalls. Commands stay mandatory (the test above).
#[tokio::test]
async fn an_event_nobody_subscribes_to_is_published_to_no_one() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let unheard = Destination::Event {
        exchange: contracts::exchanges::NOTIFICATIONS_EVENTS,
    };
    h.bus
        .publisher()
        .publish(&Outgoing::envelope(&event().into_raw(), unheard))
        .await?;
    Ok(())
}

/// lapin hands a `basic.return` to whichever confirm completes next, not to the publish it
/// belongs to: with routed messages (acked late, after the quorum queue's fsync) and
/// unroutable ones (returned and acked at once) interleaved in flight, an unroutable message
/// could read as delivered — lost, with the outbox row marked sent — and a delivered one as
/// unroutable. Every result must name its own message, batch after batch.
#[tokio::test]
async fn each_publish_in_a_mixed_batch_gets_its_own_verdict() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let nowhere = Destination::Command {
        routing_key: "nobody.listens-here",
    };
    let mut routed = 0;
    for round in 0..20 {
        let batch: Vec<Outgoing> = (0..100)
            .map(|i| {
                let destination = if (i + round) % 3 == 0 {
                    nowhere
                } else {
                    <contracts::catalog::StockReleased as contracts::Contract>::DESTINATION
                };
                let mut message = Outgoing::envelope(&event().into_raw(), destination);
                // Events are mandatory too here, so a lost return would show on either side.
                message.mandatory = true;
                message
            })
            .collect();
        let results = h.bus.publisher().publish_all(&batch).await;
        for (i, (message, result)) in batch.iter().zip(&results).enumerate() {
            let unroutable = message.routing_key == "nobody.listens-here";
            match result {
                Ok(()) => {
                    assert!(
                        !unroutable,
                        "round {round}, message {i}: an unroutable publish read as delivered"
                    );
                    routed += 1;
                }
                Err(PublishError::Unroutable { routing_key, .. }) => {
                    assert!(
                        unroutable,
                        "round {round}, message {i}: a delivered publish read as unroutable"
                    );
                    assert_eq!(routing_key, "nobody.listens-here");
                }
                Err(other) => panic!("round {round}, message {i}: {other}"),
            }
        }
    }
    assert_eq!(
        h.ready_count(QUEUE).await?,
        routed,
        "every publish read as delivered is in the queue"
    );
    Ok(())
}

/// The broker stops answering on open connections without closing them (a hung peer, a
/// half-open TCP connection; also what a node restarted after `kill -9` was seen to do while
/// it recovered its quorum queues): a publish times out instead of waiting forever, the bus
/// replaces both connections, publishes go through again and the consumer, subscribed anew,
/// receives. lapin's own recovery noticed nothing here: its connection still said "connected".
#[tokio::test]
async fn a_silent_broker_connection_is_replaced_and_consumers_follow() -> anyhow::Result<()> {
    let vhost = testkit::Vhost::create().await?;
    let proxy = testkit::TcpProxy::start("127.0.0.1:5672".parse()?).await?;
    let url = format!(
        "amqp://guest:guest@127.0.0.1:{}/{}",
        proxy.port(),
        vhost.name()
    );
    let mut config = bus::BusConfig::new(url, format!("bus-test-{}", vhost.name()));
    config.confirm_timeout = Duration::from_secs(2);
    let topology =
        bus::Topology::new().queue(bus::QueueSpec::new(QUEUE).events_from("catalog.events"));
    let bus = std::sync::Arc::new(bus::Bus::connect(&config, topology).await?);
    let handler = Recorder::new(|_| Outcome::Done);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let consuming = tokio::spawn({
        let (bus, handler, shutdown) = (bus.clone(), handler.clone(), shutdown.clone());
        async move {
            bus.consume(
                QUEUE,
                handler,
                std::sync::Arc::new(crate::harness::NoRetries),
                ConsumerConfig::default(),
                shutdown,
            )
            .await
        }
    });
    let message = || {
        Outgoing::envelope(
            &event().into_raw(),
            <contracts::catalog::StockReleased as contracts::Contract>::DESTINATION,
        )
    };
    bus.publisher().publish(&message()).await?;
    handler
        .wait_until(Duration::from_secs(10), |c| c.len() == 1)
        .await?;

    proxy.freeze();
    let silent = bus.publisher().publish(&message()).await;
    assert!(
        matches!(silent, Err(PublishError::Timeout(_))),
        "a silent broker is a timeout, not a wait: {silent:?}"
    );
    let start = std::time::Instant::now();
    let mut after = vec![loop {
        let sent = message();
        match bus.publisher().publish(&sent).await {
            Ok(()) => break sent.message_id,
            Err(error) => anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "still not replaced: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }];
    assert!(bus.is_connected());
    for _ in 0..20 {
        let sent = message();
        bus.publisher().publish(&sent).await?;
        after.push(sent.message_id);
    }
    // The broker still holds the old, silent subscription until its heartbeat gives up on it,
    // so it shares the new messages between both: those sent to the old one come back (unacked)
    // when it is closed. What must hold now is that the new subscription receives.
    handler
        .wait_until(Duration::from_secs(20), |c| {
            after
                .iter()
                .any(|id| c.iter().any(|call| call.message_id.to_string() == *id))
        })
        .await?;
    shutdown.cancel();
    consuming.await??;
    Ok(())
}

/// A consumer publishes how many messages wait in its queue (its lag) on `/metrics`.
#[tokio::test]
async fn a_consumer_publishes_the_depth_of_its_queue() -> anyhow::Result<()> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    // Each test runs in a process of its own (nextest): the global recorder is this test's.
    let _ = ::metrics::set_global_recorder(recorder);
    let h = Harness::start().await?;
    let held = std::sync::Arc::new(Held::default());
    let consuming = h.consume(
        held.clone(),
        ConsumerConfig {
            prefetch: 1,
            depth_every: Duration::from_millis(50),
            ..ConsumerConfig::default()
        },
    );
    for _ in 0..5 {
        h.publish_event().await?;
    }
    // One message is with the handler (held), four wait.
    let expected = format!("summit_queue_depth{{queue=\"{QUEUE}\"}} 4");
    let started = std::time::Instant::now();
    while !metrics.render().contains(&expected) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {expected} in {}",
            metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    held.release.add_permits(5);
    consuming.stop().await?;
    Ok(())
}

/// A handler that holds each delivery until the test releases it.
struct Held {
    release: tokio::sync::Semaphore,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            release: tokio::sync::Semaphore::new(0),
        }
    }
}

impl bus::Handler for Held {
    async fn handle(&self, _: bus::Incoming) -> Outcome {
        match self.release.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => return Outcome::Retry("closed".into()),
        }
        Outcome::Done
    }
}
