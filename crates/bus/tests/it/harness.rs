//! A test's own vhost, bus and recording handler.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bus::{
    Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing, Peeked, QueueSpec, Retry,
    RetryQueue, ScheduleError, Topology,
};
use contracts::catalog::StockReleased;
use contracts::{Contract, Envelope};
use testkit::Vhost;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const QUEUE: &str = "test.catalog-events";

pub struct Harness {
    /// Kept so the vhost lives (and is deleted) with the test.
    _vhost: Vhost,
    pub bus: Arc<Bus>,
}

impl Harness {
    pub async fn start() -> anyhow::Result<Self> {
        let vhost = Vhost::create().await?;
        let config = BusConfig::new(vhost.url(), format!("bus-test-{}", vhost.name()));
        let topology = Topology::new().queue(QueueSpec::new(QUEUE).events_from("catalog.events"));
        let bus = Arc::new(Bus::connect(&config, topology).await?);
        Ok(Self { _vhost: vhost, bus })
    }

    /// A harness around a bus the test connected itself (on `vhost`, with QUEUE declared).
    pub fn from_parts(vhost: Vhost, bus: Arc<Bus>) -> Self {
        Self { _vhost: vhost, bus }
    }

    /// Starts consuming QUEUE with `handler`; the returned token stops it.
    pub fn consume<H: Handler>(&self, handler: Arc<H>, config: ConsumerConfig) -> Consuming {
        let shutdown = CancellationToken::new();
        let bus = self.bus.clone();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            bus.consume(QUEUE, handler, Arc::new(NoRetries), config, token)
                .await
        });
        Consuming { shutdown, task }
    }

    /// Publishes a fresh StockReleased event; returns its envelope id.
    pub async fn publish_event(&self) -> anyhow::Result<Uuid> {
        let envelope = event();
        let id = envelope.id;
        self.bus
            .publisher()
            .publish(&Outgoing::envelope(
                &envelope.into_raw(),
                StockReleased::DESTINATION,
            ))
            .await?;
        Ok(id)
    }

    /// Takes every message currently in `queue` (without a consumer).
    pub async fn drain(&self, queue: &str) -> anyhow::Result<Vec<Peeked>> {
        Ok(self.bus.take(queue, usize::MAX).await?)
    }

    pub async fn ready_count(&self, queue: &str) -> anyhow::Result<u32> {
        Ok(self.bus.depth(queue).await?)
    }
}

/// The bus's own tests exercise no retries (those live with the retry store, in the outbox
/// crate's tests): a retry here is a failure to schedule, which puts the message back and
/// pauses the consumer — a test that retried by mistake would stall and fail.
pub struct NoRetries;

impl RetryQueue for NoRetries {
    fn schedule(
        &self,
        _: Retry,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ScheduleError>> + Send + '_>>
    {
        Box::pin(async { Err("the bus tests schedule no retries".into()) })
    }
}

pub fn event() -> Envelope<StockReleased> {
    Envelope::new(
        None,
        StockReleased {
            order_id: Uuid::now_v7(),
            store_id: Uuid::now_v7(),
        },
    )
}

pub struct Consuming {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bus::BusError>>,
}

impl Consuming {
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}

/// One handler call: which message, which attempt, when.
#[derive(Debug, Clone)]
pub struct Call {
    pub message_id: Uuid,
    pub attempt: u32,
}

/// A handler that answers `script(call number for this message)` and records every call.
pub struct Recorder<F> {
    pub calls: Mutex<Vec<Call>>,
    script: F,
}

impl<F: Fn(u32) -> Outcome + Send + Sync + 'static> Recorder<F> {
    pub fn new(script: F) -> Arc<Self> {
        Arc::new(Self {
            calls: Mutex::new(Vec::new()),
            script,
        })
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn calls_for(&self, id: Uuid) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.message_id == id)
            .collect()
    }

    /// Waits until `done(calls)` holds, or fails after `limit`.
    pub async fn wait_until(
        &self,
        limit: Duration,
        done: impl Fn(&[Call]) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(&self.calls()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!(
            "condition not met within {limit:?}; calls: {:?}",
            self.calls().len()
        )
    }
}

impl<F: Fn(u32) -> Outcome + Send + Sync + 'static> Handler for Recorder<F> {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let outcome = (self.script)(incoming.attempt);
        self.calls.lock().unwrap().push(Call {
            message_id: incoming.envelope.id,
            attempt: incoming.attempt,
        });
        outcome
    }
}
