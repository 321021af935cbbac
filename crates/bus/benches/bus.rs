//! `make bench-bus`: publishing throughput and latency on the local broker, one logfmt line
//! per figure, and the ratio of the project's publisher to the strongest plain-lapin publisher
//! measured in the same run:
//!
//! `bus what=<publish_lapin|publish_summit> messages=N per_s=… p50_ms=… p99_ms=…`
//! `bus what=publish_ratio summit_per_s=… lapin_per_s=… ratio=…`
//!
//! - publish_lapin: the baseline — plain lapin on a connection of its own, confirms,
//!   persistent, mandatory, a sliding window of 100 confirms in flight (a new publish as soon
//!   as any confirm returns, never waiting for a whole window).
//! - publish_summit: the project's `Publisher::publish` (confirm timeout, blocked-connection
//!   check, mandatory) called by 100 concurrent callers sharing one publisher — the same
//!   sliding window.
//!
//! Each is run three times, alternating, and the best run of each is reported, so a passing
//! hiccup of the machine does not decide the ratio. All 1 KiB persistent messages into a quorum
//! queue in a vhost of the bench's own. Figures are printed, never judged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, Outgoing, QueueSpec, Topology};
use contracts::catalog::StockReleased;
use contracts::{Contract, Envelope};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};

const QUEUE: &str = "bench.catalog-events";
const MESSAGES: usize = 20_000;
const IN_FLIGHT: usize = 100;
const ROUNDS: usize = 3;

struct Figure {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn figure(messages: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Figure {
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Figure {
        per_s: messages as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn print(what: &str, messages: usize, f: &Figure) {
    println!(
        "bus what={what} messages={messages} per_s={:.0} p50_ms={:.2} p99_ms={:.2}",
        f.per_s, f.p50_ms, f.p99_ms
    );
}

/// A 1 KiB envelope (the payload padded through an unknown field, which consumers ignore).
fn message() -> Outgoing {
    let mut raw = Envelope::new(
        None,
        StockReleased {
            order_id: uuid::Uuid::now_v7(),
            store_id: uuid::Uuid::now_v7(),
        },
    )
    .into_raw();
    let size = raw.to_vec().len();
    raw.payload["padding"] =
        serde_json::Value::from("x".repeat(1024usize.saturating_sub(size + 14)));
    Outgoing::envelope(&raw, StockReleased::DESTINATION)
}

/// The strongest plain-lapin publisher with the same durability: one channel in confirm mode,
/// 100 confirms kept in flight with a sliding window.
async fn publish_lapin(url: &str, messages: &[Outgoing]) -> anyhow::Result<Figure> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut latencies = Vec::with_capacity(messages.len());
    let mut in_flight = FuturesUnordered::new();
    let start = Instant::now();
    for m in messages {
        if in_flight.len() >= IN_FLIGHT
            && let Some(done) = in_flight.next().await
        {
            latencies.push(done?);
        }
        let sent = Instant::now();
        let confirm = channel
            .basic_publish(
                m.exchange.as_str().into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &m.body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?;
        in_flight.push(async move {
            let confirmation = confirm.await?;
            anyhow::ensure!(
                matches!(confirmation, Confirmation::Ack(None)),
                "not confirmed"
            );
            anyhow::Ok(sent.elapsed())
        });
    }
    while let Some(done) = in_flight.next().await {
        latencies.push(done?);
    }
    let elapsed = start.elapsed();
    connection.close(200, "bench done".into()).await?;
    Ok(figure(messages.len(), elapsed, latencies))
}

/// The project's publisher, shared by 100 concurrent callers.
async fn publish_summit(bus: &Bus, messages: &[Outgoing]) -> anyhow::Result<Figure> {
    let publisher = bus.publisher();
    let start = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures_util::stream::iter(messages)
        .map(|m| async move {
            let sent = Instant::now();
            publisher.publish(m).await?;
            anyhow::Ok(sent.elapsed())
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let latencies = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok(figure(messages.len(), elapsed, latencies))
}

async fn drain(bus: &Bus) -> anyhow::Result<()> {
    while !bus.take(QUEUE, 5_000).await?.is_empty() {}
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--test") {
        return Ok(()); // built by `cargo test --all-targets`, measured only by `make bench-bus`
    }
    let vhost = testkit::Vhost::create().await?;
    let config = BusConfig::new(vhost.url(), "bench-bus");
    let topology = Topology::new().queue(QueueSpec::new(QUEUE).events_from("catalog.events"));
    let bus = Arc::new(Bus::connect(&config, topology).await?);
    eprintln!("bench-bus: {MESSAGES} × 1 KiB messages into quorum queue {QUEUE}, best of {ROUNDS}");

    let messages: Vec<Outgoing> = (0..MESSAGES)
        .map(|_| {
            let mut m = message();
            // The baseline and the project publish the same messages the same way: mandatory.
            m.mandatory = true;
            m
        })
        .collect();
    let mut lapin_best: Option<Figure> = None;
    let mut summit_best: Option<Figure> = None;
    for _ in 0..ROUNDS {
        let lapin = publish_lapin(&vhost.url(), &messages).await?;
        drain(&bus).await?;
        let summit = publish_summit(&bus, &messages).await?;
        drain(&bus).await?;
        if lapin_best.as_ref().is_none_or(|b| lapin.per_s > b.per_s) {
            lapin_best = Some(lapin);
        }
        if summit_best.as_ref().is_none_or(|b| summit.per_s > b.per_s) {
            summit_best = Some(summit);
        }
    }
    let (Some(lapin), Some(summit)) = (lapin_best, summit_best) else {
        anyhow::bail!("no rounds ran");
    };
    print("publish_lapin", MESSAGES, &lapin);
    print("publish_summit", MESSAGES, &summit);
    println!(
        "bus what=publish_ratio summit_per_s={:.0} lapin_per_s={:.0} ratio={:.2}",
        summit.per_s,
        lapin.per_s,
        summit.per_s / lapin.per_s
    );
    bus.close().await;
    Ok(())
}
