//! `make bench-notifications`: OrderPlaced events published to `checkout.events` and carried
//! through notifications in-process (intake, the delivery log, the send commands through the
//! outbox relay, SMTP to the local maildev, a signed POST to a local receiver), one logfmt line
//! per channel:
//!
//! `notifications what=<email|webhook> events=N per_s=… p50_ms=… p99_ms=…`
//!
//! Latency is from the event's `occurred_at` (set just before it is published) to the
//! delivery's `sent_at` (the log's commit); `per_s` is events over the time from the first
//! publish to the last delivery recorded. A database, a vhost and addresses of the bench's own
//! (its mails are deleted from the sink afterwards). Figures only, never judged.

use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, BusConfig, ConsumerConfig, Handler, Outgoing};
use contracts::catalog::StoreCreated;
use contracts::checkout::{OrderLine, OrderPlaced};
use contracts::{Contract, Envelope};
use notifications::NotificationsConfig;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const EVENTS: usize = 300;
const MAILDEV_HTTP: &str = "http://127.0.0.1:1080";

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

fn consume<H: Handler>(
    bus: &Arc<Bus>,
    retries: &Arc<dyn bus::RetryQueue>,
    shutdown: &CancellationToken,
    queue: &'static str,
    handler: Arc<H>,
    config: ConsumerConfig,
) {
    let (bus, retries, token) = (bus.clone(), retries.clone(), shutdown.clone());
    tokio::spawn(async move { bus.consume(queue, handler, retries, config, token).await });
}

async fn publish<P: Contract>(bus: &Bus, store: Uuid, payload: P) -> anyhow::Result<()> {
    let raw = Envelope::new(Some(store), payload).into_raw();
    bus.publisher()
        .publish(&Outgoing::envelope(&raw, P::DESTINATION))
        .await?;
    Ok(())
}

async fn run(pool: PgPool) -> anyhow::Result<()> {
    let config = NotificationsConfig {
        smtp_url: std::env::var("SMTP_URL").unwrap_or_else(|_| "smtp://127.0.0.1:2525".into()),
        webhook_allow_private: true,
        ..NotificationsConfig::default()
    };
    let vhost = testkit::Vhost::create().await?;
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("notifications-bench-{}", vhost.name())),
            notifications::topology(),
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(
        outbox::Relay::new(
            pool.clone(),
            bus.publisher().clone(),
            outbox::RelayConfig::default(),
        )
        .run(shutdown.clone()),
    );
    let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(pool.clone()));
    let senders = notifications::Senders::new(&pool, &config)?;
    for queue in [
        notifications::queues::CATALOG_EVENTS,
        notifications::queues::CHECKOUT_EVENTS,
    ] {
        consume(
            &bus,
            &retries,
            &shutdown,
            queue,
            Arc::new(notifications::intake::Intake::new(pool.clone(), queue)),
            config.intake_consumer(),
        );
    }
    consume(
        &bus,
        &retries,
        &shutdown,
        notifications::queues::SEND_EMAIL,
        senders.email.clone(),
        config.email_consumer(),
    );
    consume(
        &bus,
        &retries,
        &shutdown,
        notifications::queues::SEND_WEBHOOK,
        senders.webhooks.clone(),
        config.webhook_consumer(),
    );

    // The merchant's receiver.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hooks", listener.local_addr()?);
    let app = axum::Router::new().route("/hooks", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store = Uuid::now_v7();
    let tag = Uuid::new_v4().simple().to_string();
    publish(
        &bus,
        store,
        StoreCreated {
            store_id: store,
            slug: format!("bench-{tag}"),
            name: "Bench".into(),
            contact_email: format!("bench-owner-{tag}@example.com"),
            temporary_domain: format!("bench-{tag}.summit.localhost"),
            admin_key_hash: service_kit::admin_key::AdminKey::generate().hash(),
            language: None,
            version: 1,
        },
    )
    .await?;
    let known = Instant::now();
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM stores WHERE id = $1")
        .bind(store)
        .fetch_one(&pool)
        .await?
        == 0
    {
        anyhow::ensure!(known.elapsed() < Duration::from_secs(30), "store not known");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tx = service_kit::tenant::begin_for(&pool, store).await?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, store_id, url, event_types, secret)
         VALUES ($1, $2, $3, ARRAY['checkout.OrderPlaced'], $4)",
    )
    .bind(Uuid::now_v7())
    .bind(store)
    .bind(&hook)
    .bind(notifications::signature::generate_secret())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let started = Instant::now();
    for i in 0..EVENTS {
        publish(
            &bus,
            store,
            OrderPlaced {
                order_id: Uuid::now_v7(),
                store_id: store,
                customer_email: format!("bench-{tag}-{i}@example.com"),
                lines: vec![OrderLine {
                    product_id: Uuid::now_v7(),
                    name: "Café".into(),
                    quantity: 1,
                    unit_price_minor: 2_490,
                }],
                total_minor: 2_490,
                currency: "BRL".into(),
            },
        )
        .await?;
    }
    loop {
        let sent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries WHERE event_type = 'checkout.OrderPlaced'
               AND status = 'sent'",
        )
        .fetch_one(&pool)
        .await?;
        if sent as usize >= EVENTS * 2 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "only {sent} of {} deliveries recorded",
            EVENTS * 2
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for channel in ["email", "webhook"] {
        let mut latencies: Vec<f64> = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM sent_at - event_at)::float8 * 1000 FROM deliveries
             WHERE channel = $1 AND event_type = 'checkout.OrderPlaced'",
        )
        .bind(channel)
        .fetch_all(&pool)
        .await?;
        let span: f64 = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM max(sent_at) - min(event_at))::float8 FROM deliveries
             WHERE channel = $1 AND event_type = 'checkout.OrderPlaced'",
        )
        .bind(channel)
        .fetch_one(&pool)
        .await?;
        latencies.sort_by(f64::total_cmp);
        println!(
            "notifications what={channel} events={EVENTS} per_s={:.0} p50_ms={:.1} p99_ms={:.1}",
            EVENTS as f64 / span.max(f64::EPSILON),
            pct(&latencies, 0.50),
            pct(&latencies, 0.99)
        );
    }
    shutdown.cancel();

    // The bench's mails leave the shared sink; nobody else's.
    let http = reqwest::Client::new();
    let mails: Vec<serde_json::Value> = http
        .get(format!("{MAILDEV_HTTP}/api/email"))
        .send()
        .await?
        .json()
        .await?;
    for mail in mails {
        let ours = mail["to"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|to| to["address"].as_str().is_some_and(|a| a.contains(&tag)));
        if let (true, Some(id)) = (ours, mail["id"].as_str()) {
            let _ = http
                .delete(format!("{MAILDEV_HTTP}/api/email/{id}"))
                .send()
                .await;
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--test") {
        return Ok(()); // built by `cargo test --all-targets`, measured only by `make bench-notifications`
    }
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://summit:summit@127.0.0.1:5432/postgres".into());
    let database = format!("bench_notifications_{}", Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&mut admin)
        .await?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&format!("{base}/{database}"))
        .await?;
    notifications::migrator().run(&pool).await?;
    let result = run(pool.clone()).await;
    pool.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {database} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await?;
    result
}
