//! Notifications over real servers: a database per test (`#[sqlx::test]`), a RabbitMQ vhost
//! per test, the shared maildev sink (read over its HTTP API; each test mails addresses of its
//! own, so tests never see each other's mail), and webhook receivers that are small axum
//! servers of the test's own.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use bus::{Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing, QueueSpec};
use contracts::catalog::{StoreCreated, StoreUpdated};
use contracts::checkout::{OrderLine, OrderPlaced};
use contracts::{Contract, Envelope, Message, RawEnvelope, exchanges};
use notifications::NotificationsConfig;
use serde_json::Value;
use service_kit::admin_key::AdminKey;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Where the shared sink listens (deploy/local/servers.sh starts it).
pub const MAILDEV_HTTP: &str = "http://127.0.0.1:1080";
pub const MAILDEV_SMTP: &str = "127.0.0.1:2525";

/// Polls `check` until it gives a value or `limit` passes (then fails with `what`).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An address of this test's own at the sink.
pub fn address(who: &str) -> String {
    format!("{who}-{}@example.com", Uuid::new_v4().simple())
}

/// The mails maildev holds for `to`.
pub async fn mails_to(to: &str) -> anyhow::Result<Vec<Value>> {
    let all: Vec<Value> = reqwest::get(format!("{MAILDEV_HTTP}/api/email"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(all
        .into_iter()
        .filter(|mail| {
            mail["to"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| t["address"].as_str() == Some(to))
        })
        .collect())
}

/// Waits until `to` has at least `n` mails, and returns them.
pub async fn wait_for_mails(to: &str, n: usize) -> Vec<Value> {
    eventually(
        &format!("{n} mail(s) to {to}"),
        Duration::from_secs(20),
        || async move {
            let mails = mails_to(to).await.ok()?;
            (mails.len() >= n).then_some(mails)
        },
    )
    .await
}

/// A mail's header, whatever case maildev keeps it in.
pub fn header<'a>(mail: &'a Value, name: &str) -> Option<&'a str> {
    mail["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Keeps every notifications event it sees (a queue of the test's own on
/// `notifications.events`).
#[derive(Default)]
pub struct Seen {
    pub events: Mutex<Vec<Message>>,
}

impl Handler for Seen {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(incoming.message);
        Outcome::Done
    }
}

impl Seen {
    pub fn failed(&self) -> Vec<contracts::notifications::NotificationFailed> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(|m| match m {
                Message::NotificationFailed(f) => Some(f.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn sent(&self) -> Vec<contracts::notifications::NotificationSent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(|m| match m {
                Message::NotificationSent(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Notifications running in-process against this test's database and vhost.
pub struct World {
    /// Superuser pool, for assertions behind the service's back.
    pub pool: PgPool,
    /// The service's own pool: a plain role, so row-level security is in force.
    pub app_pool: PgPool,
    pub bus: Arc<Bus>,
    /// The merchant API's base URL.
    pub url: String,
    pub http: reqwest::Client,
    pub seen: Arc<Seen>,
    pub shutdown: CancellationToken,
    _vhost: testkit::Vhost,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Fast retries; `SMTP_URL` at the shared sink unless the test says otherwise.
pub fn config() -> NotificationsConfig {
    NotificationsConfig {
        smtp_url: format!("smtp://{MAILDEV_SMTP}"),
        ..NotificationsConfig::fast()
    }
}

impl World {
    pub async fn start(pool: PgPool, config: NotificationsConfig) -> anyhow::Result<Self> {
        Self::start_through(pool, config, None).await
    }

    /// [`World::start`] with the service's own pool reaching Postgres through 127.0.0.1:`port`
    /// (a fault proxy of the test's own) when given.
    pub async fn start_through(
        pool: PgPool,
        config: NotificationsConfig,
        database_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        notifications::migrator().run(&pool).await?;
        let app_pool = app_pool_at(&pool, database_port).await?;
        let vhost = testkit::Vhost::create().await?;
        let topology = notifications::topology().queue(
            QueueSpec::new("it.notifications-events").events_from(exchanges::NOTIFICATIONS_EVENTS),
        );
        let bus = Arc::new(
            Bus::connect(
                &BusConfig::new(vhost.url(), format!("notifications-it-{}", vhost.name())),
                topology,
            )
            .await?,
        );
        let shutdown = CancellationToken::new();
        let relay = outbox::Relay::new(
            app_pool.clone(),
            bus.publisher().clone(),
            outbox::RelayConfig::default(),
        );
        tokio::spawn(relay.run(shutdown.clone()));
        let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(app_pool.clone()));
        let senders = notifications::Senders::new(&app_pool, &config)?;
        let intake = |queue: &'static str| {
            (
                queue,
                Arc::new(notifications::intake::Intake::new(app_pool.clone(), queue)),
            )
        };
        for (queue, handler) in [
            intake(notifications::queues::CATALOG_EVENTS),
            intake(notifications::queues::CHECKOUT_EVENTS),
            intake(notifications::queues::PAYMENTS_EVENTS),
        ] {
            spawn_consumer(
                &bus,
                &retries,
                &shutdown,
                queue,
                handler,
                config.intake_consumer(),
            );
        }
        spawn_consumer(
            &bus,
            &retries,
            &shutdown,
            notifications::queues::SEND_EMAIL,
            senders.email.clone(),
            config.email_consumer(),
        );
        spawn_consumer(
            &bus,
            &retries,
            &shutdown,
            notifications::queues::SEND_WEBHOOK,
            senders.webhooks.clone(),
            config.webhook_consumer(),
        );
        let seen = Arc::new(Seen::default());
        spawn_consumer(
            &bus,
            &retries,
            &shutdown,
            "it.notifications-events",
            seen.clone(),
            ConsumerConfig::default(),
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let router = notifications::router(app_pool.clone(), &config);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Ok(Self {
            pool,
            app_pool,
            bus,
            url,
            http: reqwest::Client::new(),
            seen,
            shutdown,
            _vhost: vhost,
        })
    }

    /// Publishes `payload` as its producer would, in an envelope; returns the envelope.
    pub async fn publish<P: Contract>(
        &self,
        store: Uuid,
        payload: P,
    ) -> anyhow::Result<RawEnvelope> {
        let raw = Envelope::new(Some(store), payload).into_raw();
        self.publish_raw(&raw, P::DESTINATION).await?;
        Ok(raw)
    }

    /// Publishes an envelope again, the same id: a redelivery as the broker or a relay makes.
    pub async fn publish_raw(
        &self,
        raw: &RawEnvelope,
        destination: contracts::Destination,
    ) -> anyhow::Result<()> {
        self.bus
            .publisher()
            .publish(&Outgoing::envelope(raw, destination))
            .await?;
        Ok(())
    }

    /// A store as catalog announces it; returns its admin key.
    pub async fn store(&self, id: Uuid, name: &str, contact: &str) -> anyhow::Result<String> {
        let key = AdminKey::generate();
        self.publish(
            id,
            StoreCreated {
                store_id: id,
                slug: format!("loja-{}", id.simple()),
                name: name.to_owned(),
                contact_email: contact.to_owned(),
                temporary_domain: format!("loja-{}.summit.localhost", id.simple()),
                admin_key_hash: key.hash(),
                language: None,
                version: 1,
            },
        )
        .await?;
        let key = key.expose().to_owned();
        // Known once the admin key answers.
        eventually("the store to be known", Duration::from_secs(20), || {
            let key = key.clone();
            async move {
                let r = self.get("/admin/settings", &key).await.ok()?;
                (r.status() == StatusCode::OK).then_some(())
            }
        })
        .await;
        Ok(key)
    }

    /// The store's logo and name as a StoreUpdated (version 2) says.
    pub async fn update_store(
        &self,
        id: Uuid,
        name: &str,
        key: &str,
        logo_url: &str,
    ) -> anyhow::Result<()> {
        self.publish(
            id,
            StoreUpdated {
                store_id: id,
                slug: format!("loja-{}", id.simple()),
                name: name.to_owned(),
                temporary_domain: format!("loja-{}.summit.localhost", id.simple()),
                custom_domain: None,
                logo_url: Some(logo_url.to_owned()),
                admin_key_hash: service_kit::admin_key::hash(key),
                language: None,
                version: 2,
            },
        )
        .await?;
        let pool = self.pool.clone();
        let logo = logo_url.to_owned();
        eventually("the store's update", Duration::from_secs(20), || {
            let (pool, logo) = (pool.clone(), logo.clone());
            async move {
                let got: Option<String> =
                    sqlx::query_scalar("SELECT logo_url FROM stores WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&pool)
                        .await
                        .ok()??;
                (got.as_deref() == Some(logo.as_str())).then_some(())
            }
        })
        .await;
        Ok(())
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
    }

    /// The delivery log's rows for an event: (channel, template, status).
    pub async fn deliveries_of(
        &self,
        event: Uuid,
    ) -> anyhow::Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT channel, template, status FROM deliveries WHERE event_id = $1 ORDER BY id",
        )
        .bind(event)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Waits until the event's delivery on `channel` has `status`.
    pub async fn wait_status(&self, event: Uuid, channel: &str, status: &str) {
        let pool = self.pool.clone();
        eventually(
            &format!("{channel} delivery of {event} to be {status}"),
            Duration::from_secs(30),
            || {
                let pool = pool.clone();
                async move {
                    let got: Vec<String> = sqlx::query_scalar(
                        "SELECT status FROM deliveries WHERE event_id = $1 AND channel = $2",
                    )
                    .bind(event)
                    .bind(channel)
                    .fetch_all(&pool)
                    .await
                    .ok()?;
                    (!got.is_empty() && got.iter().all(|s| s == status)).then_some(())
                }
            },
        )
        .await;
    }
}

fn spawn_consumer<H: Handler>(
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

/// An order of one line, to `customer`.
pub fn order(store: Uuid, customer: &str, product: &str) -> OrderPlaced {
    OrderPlaced {
        order_id: Uuid::now_v7(),
        store_id: store,
        customer_email: customer.to_owned(),
        lines: vec![OrderLine {
            product_id: Uuid::now_v7(),
            name: product.to_owned(),
            quantity: 2,
            unit_price_minor: 2_490,
        }],
        total_minor: 4_980,
        currency: "BRL".into(),
    }
}

/// A pool that runs as a plain (non-superuser, non-owner) role, as the service does in
/// production: row-level security is in force for everything it does.
/// Through 127.0.0.1:`port` (a fault proxy) when given.
pub async fn app_pool_at(pool: &PgPool, port: Option<u16>) -> anyhow::Result<PgPool> {
    use sqlx::Executor;
    pool.execute(
        "DO $$ BEGIN
             CREATE ROLE notifications_it_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$",
    )
    .await?;
    pool.execute(
        "GRANT USAGE ON SCHEMA public TO notifications_it_app;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO notifications_it_app;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO notifications_it_app;",
    )
    .await?;
    let mut options = (*pool.connect_options()).clone();
    if let Some(port) = port {
        options = options.host("127.0.0.1").port(port);
    }
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("SET ROLE notifications_it_app").await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?)
}

/// What a webhook receiver got: headers and body of each request.
pub type Received = Arc<Mutex<Vec<(BTreeMap<String, String>, Vec<u8>)>>>;

/// A webhook receiver of the test's own on 127.0.0.1: records every request and answers
/// `status()` (changeable while it runs).
pub struct Receiver {
    pub url: String,
    pub received: Received,
    pub status: Arc<Mutex<StatusCode>>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let received: Received = Arc::default();
        let status = Arc::new(Mutex::new(StatusCode::OK));
        let app = {
            let (received, status) = (received.clone(), status.clone());
            axum::Router::new().route(
                "/hooks",
                axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let (received, status) = (received.clone(), status.clone());
                    async move {
                        let headers = headers
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().to_owned(),
                                    v.to_str().unwrap_or_default().to_owned(),
                                )
                            })
                            .collect();
                        received
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((headers, body.to_vec()));
                        let code = *status
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        (code, "received by the test")
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self {
            url,
            received,
            status,
        })
    }

    pub fn requests(&self) -> Vec<(BTreeMap<String, String>, Vec<u8>)> {
        self.received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub fn answer(&self, code: StatusCode) {
        *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = code;
    }
}
