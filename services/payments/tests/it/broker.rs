//! The consumer over a real broker (a vhost of its own): charge commands published to
//! `payments.commands`, one of them delivered twice, and the events the outbox relay
//! publishes to `payments.events`, read back from a queue the test binds there.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing, QueueSpec};
use contracts::exchanges;
use contracts::payments::Charge;
use contracts::{Contract, Message};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::helpers::{DECLINED, PAID, World};

/// Keeps the kind and order of every payment event it sees.
#[derive(Default)]
struct Collector {
    seen: Mutex<Vec<(String, uuid::Uuid)>>,
}

impl Handler for Collector {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let order = match &incoming.message {
            Message::PaymentCompleted(e) => e.payment.order_id,
            Message::PaymentDeclined(e) => e.payment.order_id,
            _ => uuid::Uuid::nil(),
        };
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((incoming.message.kind().to_owned(), order));
        Outcome::Done
    }
}

#[sqlx::test(migrations = false)]
async fn charges_over_the_broker_are_made_once_and_announced_once(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let vhost = testkit::Vhost::create().await?;
    let topology = payments::topology()
        .queue(QueueSpec::new("it.payments-events").events_from(exchanges::PAYMENTS_EVENTS));
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("payments-it-{}", vhost.name())),
            topology,
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    let relay = outbox::Relay::new(
        world.app_pool.clone(),
        bus.publisher().clone(),
        outbox::RelayConfig::default(),
    );
    tokio::spawn(relay.run(shutdown.clone()));
    let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(world.app_pool.clone()));
    {
        let (bus, retries, token) = (bus.clone(), retries.clone(), shutdown.clone());
        let handler = world.payments.clone();
        tokio::spawn(async move {
            bus.consume(
                "payments.commands",
                handler,
                retries,
                ConsumerConfig::default(),
                token,
            )
            .await
        });
    }
    let collector = Arc::new(Collector::default());
    {
        let (bus, retries, token) = (bus.clone(), retries.clone(), shutdown.clone());
        let handler = collector.clone();
        tokio::spawn(async move {
            bus.consume(
                "it.payments-events",
                handler,
                retries,
                ConsumerConfig::default(),
                token,
            )
            .await
        });
    }

    let (paid_raw, paid) = world.charge(PAID).await?;
    let (declined_raw, declined) = world.charge(DECLINED).await?;
    // The paid charge is delivered twice (a publisher retry after a lost confirm).
    for raw in [&paid_raw, &paid_raw, &declined_raw] {
        bus.publisher()
            .publish(&Outgoing::envelope(raw, Charge::DESTINATION))
            .await?;
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = collector
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len();
        if seen >= 2 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "events seen: {seen}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The duplicate was consumed too (the queue is empty) and changed nothing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while vhost.queue_info("payments.commands").await?["messages"].as_i64() != Some(0) {
        anyhow::ensure!(Instant::now() < deadline, "commands still queued");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(world.status(paid.order_id).await?, "completed");
    assert_eq!(world.status(declined.order_id).await?, "declined");
    assert_eq!(world.sim.charges(&paid.order_id.to_string()).await?, 1);
    let mut seen = collector
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("payments.PaymentCompleted".to_owned(), paid.order_id),
            ("payments.PaymentDeclined".to_owned(), declined.order_id),
        ]
    );
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&world.pool)
            .await?;
    assert_eq!(unpublished, 0);
    shutdown.cancel();
    bus.close().await;
    Ok(())
}
