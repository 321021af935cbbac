//! The saga over a real broker (a vhost of its own): the order placed while no broker is
//! connected, then checkout's relay and consumers, and the peers played by the test — catalog answering `catalog.commands`, payments answering
//! `payments.commands`. Each peer starts late, as after an outage: the commands wait in their
//! queues, and the orders move on when the peer returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{
    Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing, Publisher, QueueSpec,
};
use contracts::catalog::StockReserved;
use contracts::payments::{PaymentCompleted, PaymentFacts};
use contracts::{Contract, Envelope, Message};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{App, spawn};

/// A peer that answers each command with one reply, published to its events exchange.
struct Peer {
    publisher: Publisher,
}

impl Handler for Peer {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let raw = &incoming.envelope;
        let reply = match incoming.message {
            Message::ReserveStock(c) => Envelope::new(
                c.store_id.into(),
                StockReserved {
                    order_id: c.order_id,
                    store_id: c.store_id,
                    lines: c.lines,
                },
            )
            .caused_by(raw)
            .into_raw(),
            Message::Charge(c) => Envelope::new(
                c.store_id.into(),
                PaymentCompleted {
                    payment: PaymentFacts {
                        payment_id: Uuid::now_v7(),
                        order_id: c.order_id,
                        store_id: c.store_id,
                        amount_minor: c.amount_minor,
                        currency: c.currency,
                    },
                },
            )
            .caused_by(raw)
            .into_raw(),
            // Commit, release, void: nothing to answer.
            _ => return Outcome::Done,
        };
        let destination = match reply.kind.as_str() {
            "catalog.StockReserved" => StockReserved::DESTINATION,
            _ => PaymentCompleted::DESTINATION,
        };
        match self
            .publisher
            .publish(&Outgoing::envelope(&reply, destination))
            .await
        {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }
}

/// Checkout's relay and saga consumers on a broker at `url`, and the peers the test starts.
struct Saga {
    bus: Arc<Bus>,
    retries: Arc<dyn bus::RetryQueue>,
    shutdown: CancellationToken,
}

impl Saga {
    async fn start(app: &App, url: &str, name: &str) -> anyhow::Result<Self> {
        let bus = Arc::new(Bus::connect(&BusConfig::new(url, name), topology()).await?);
        let saga = Self {
            retries: Arc::new(outbox::Retries::new(app.app_pool.clone())),
            shutdown: CancellationToken::new(),
            bus,
        };
        let relay = outbox::Relay::new(
            app.app_pool.clone(),
            saga.bus.publisher().clone(),
            outbox::RelayConfig::default(),
        );
        tokio::spawn(relay.run(saga.shutdown.clone()));
        saga.consume(
            "checkout.catalog-events",
            Arc::new(checkout::saga::CatalogEvents::new(app.app_pool.clone())),
        );
        saga.consume(
            "checkout.payments-events",
            Arc::new(checkout::saga::PaymentsEvents::new(app.app_pool.clone())),
        );
        Ok(saga)
    }

    fn consume(&self, queue: &'static str, handler: Arc<dyn HandlerBox>) {
        let (bus, retries, token) = (
            self.bus.clone(),
            self.retries.clone(),
            self.shutdown.clone(),
        );
        tokio::spawn(async move { handler.run(bus, queue, retries, token).await });
    }

    /// A peer (catalog or payments, played by the test) answering `queue`'s commands.
    fn peer(&self, queue: &'static str) {
        self.consume(
            queue,
            Arc::new(Peer {
                publisher: self.bus.publisher().clone(),
            }),
        );
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.bus.close().await;
    }
}

/// Checkout's queues and the peers' command queues.
fn topology() -> bus::Topology {
    checkout::topology()
        .queue(
            QueueSpec::new("catalog.commands")
                .command("catalog.reserve-stock")
                .command("catalog.release-stock")
                .command("catalog.commit-stock"),
        )
        .queue(
            QueueSpec::new("payments.commands")
                .command("payments.charge")
                .command("payments.void"),
        )
}

async fn wait_for(app: &App, placed: &Value, status: &str) -> anyhow::Result<Value> {
    wait_within(app, placed, status, Duration::from_secs(30)).await
}

/// Polls the shopper's view until `status`, for at most `limit`.
async fn wait_within(
    app: &App,
    placed: &Value,
    status: &str,
    limit: Duration,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let view = app.status(placed).await?;
        if view["status"] == status {
            return Ok(view);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "still {} waiting for {status}",
            view["status"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ready(vhost: &testkit::Vhost, queue: &str, messages: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = vhost.queue_info(queue).await?;
        if info["messages"].as_i64() == Some(messages) {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{queue}: {info}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[sqlx::test(migrations = false)]
async fn orders_wait_for_the_broker_and_peers_that_are_away_and_move_on_when_they_return(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let shop = app.shop("broker").await?;
    let mug = app.product(&shop, "Caneca", 500, "BRL").await?;
    // The broker is away (nothing connected yet): the order still commits, its messages wait
    // in the outbox.
    let placed = app.place(&shop, &[(mug, 2)]).await?;
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&app.pool)
            .await?;
    assert_eq!(
        unpublished, 2,
        "OrderPlaced and catalog.reserve-stock wait in the outbox"
    );

    let vhost = testkit::Vhost::create().await?;
    let saga = Saga::start(&app, &vhost.url(), &format!("checkout-it-{}", vhost.name())).await?;

    // The broker is back; catalog and payments are both still away: the reservation waits.
    ready(&vhost, "catalog.commands", 1).await?;
    assert_eq!(app.status(&placed).await?["status"], "pending");

    // Catalog returns: the reservation is answered, the charge waits for payments.
    saga.peer("catalog.commands");
    wait_for(&app, &placed, "reserved").await?;
    ready(&vhost, "payments.commands", 1).await?;

    // Payments returns: charged once, confirmed, stock committed.
    saga.peer("payments.commands");
    let view = wait_for(&app, &placed, "confirmed").await?;
    let timeline: Vec<&str> = view["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(timeline, ["pending", "reserved", "confirmed"]);
    let kinds = app.kinds().await?;
    assert_eq!(kinds.iter().filter(|k| *k == "payments.charge").count(), 1);
    assert!(kinds.contains(&"catalog.commit-stock".to_owned()));
    saga.stop().await;
    Ok(())
}

/// The broker node (a node of the test's own) stops for 3 s and starts again while orders are
/// placed and the saga runs, with both peers answering throughout: every order ends
/// `confirmed`, charged once, its stock committed once, its timeline without a repeat.
#[sqlx::test(migrations = false)]
async fn a_broker_restart_mid_saga_confirms_every_order_once(pool: PgPool) -> anyhow::Result<()> {
    let node = testkit::BrokerNode::start().await?;
    let app = spawn(pool).await?;
    let shop = app.shop("restart").await?;
    let mug = app.product(&shop, "Caneca", 500, "BRL").await?;
    let saga = Saga::start(&app, &node.url(), "checkout-restart-it").await?;
    saga.peer("catalog.commands");
    saga.peer("payments.commands");

    let mut placed = Vec::new();
    for _ in 0..20 {
        placed.push(app.place(&shop, &[(mug, 1)]).await?);
    }
    wait_for(&app, &placed[0], "confirmed").await?;
    node.ctl(&["stop_app"]).await?;
    for _ in 0..20 {
        placed.push(app.place(&shop, &[(mug, 1)]).await?);
    }
    // The outage itself, not a wait for anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    node.ctl(&["start_app"]).await?;

    for order in &placed {
        let view = wait_within(&app, order, "confirmed", Duration::from_secs(90)).await?;
        let timeline: Vec<&str> = view["timeline"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["status"].as_str())
            .collect();
        assert_eq!(timeline, ["pending", "reserved", "confirmed"], "{view}");
    }
    let kinds = app.kinds().await?;
    let charges: std::collections::HashSet<String> = app
        .outbox()
        .await?
        .into_iter()
        .filter(|(kind, _)| kind == "payments.charge")
        .map(|(_, payload)| payload["order_id"].to_string())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "payments.charge").count(),
        placed.len(),
        "one charge command per order"
    );
    assert_eq!(charges.len(), placed.len());
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "catalog.commit-stock")
            .count(),
        placed.len()
    );
    saga.stop().await;
    Ok(())
}

/// Runs a consumer of any handler type (the bus takes each handler as its own type).
trait HandlerBox: Send + Sync + 'static {
    fn run(
        self: Arc<Self>,
        bus: Arc<Bus>,
        queue: &'static str,
        retries: Arc<dyn bus::RetryQueue>,
        token: CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

impl<H: Handler> HandlerBox for H {
    fn run(
        self: Arc<Self>,
        bus: Arc<Bus>,
        queue: &'static str,
        retries: Arc<dyn bus::RetryQueue>,
        token: CancellationToken,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move {
            if let Err(error) = bus
                .consume(queue, self, retries, ConsumerConfig::default(), token)
                .await
            {
                tracing::warn!(%error, queue, "test consumer stopped");
            }
        })
    }
}
