//! Ops running in-process on this test's database and vhost, with a "failing service": the
//! bus's consumer runtime on a work queue whose handler rejects every message, so dead letters
//! take the real path (the runtime's dead-letter publish, RabbitMQ's at-least-once move into
//! `Q.dlq` with `x-death`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, ConsumerConfig, Handler, Incoming, Outcome, Outgoing};
use contracts::catalog::{ReserveStock, StockLine};
use contracts::payments::{Charge, Customer};
use contracts::{Contract, Envelope, RawEnvelope};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const TOKEN: &str = "it-operator-token";
pub const PAYMENTS: &str = "payments.commands";
pub const CATALOG: &str = "catalog.commands";

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

/// Rejects every message: the error's first line names the queue, the second the message.
pub struct Rejecting;

impl Handler for Rejecting {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        Outcome::Reject(format!(
            "{} refused it\nmessage {}",
            incoming.queue, incoming.envelope.id
        ))
    }
}

/// A consumer of the test's own; stops (and finishes in-flight work) on drop of `stop`.
pub struct Failing {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), bus::BusError>>,
}

impl Failing {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

pub struct World {
    pub pool: PgPool,
    pub bus: Arc<Bus>,
    pub url: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    _vhost: testkit::Vhost,
}

impl Drop for World {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl World {
    pub async fn start(pool: PgPool) -> anyhow::Result<Self> {
        ops::migrator().run(&pool).await?;
        let vhost = testkit::Vhost::create().await?;
        let queues: Vec<String> = ops::WORK_QUEUES.iter().map(|q| (*q).to_owned()).collect();
        let bus = Arc::new(
            Bus::connect(
                &BusConfig::new(vhost.url(), format!("ops-it-{}", vhost.name())),
                ops::topology(&queues),
            )
            .await?,
        );
        let shutdown = CancellationToken::new();
        let parking = Arc::new(ops::parking::Parking::new(pool.clone()));
        for queue in &queues {
            let (bus, parking, stop) = (bus.clone(), parking.clone(), shutdown.clone());
            let dlq = bus::topology::dead_letter_queue(queue);
            tokio::spawn(async move {
                bus.consume_dead_letters(&dlq, parking, ops::consumer_config(), stop)
                    .await
            });
        }
        let slot = service_kit::BusSlot::default();
        slot.set(bus.clone()).ok().unwrap();
        let router = ops::router(ops::http::Api {
            pool: pool.clone(),
            bus: slot,
            token: TOKEN.to_owned().into(),
            default_rate_per_s: 10.0,
            queues: queues.clone(),
            management: ops::queues::Management::from_settings(&vhost.url(), None).map(Arc::new),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Ok(Self {
            pool,
            bus,
            url,
            http: reqwest::Client::new(),
            shutdown,
            _vhost: vhost,
        })
    }

    /// A service whose handler rejects everything on `queue`.
    pub fn failing(&self, queue: &str) -> Failing {
        let shutdown = CancellationToken::new();
        let retries: Arc<dyn bus::RetryQueue> = Arc::new(outbox::Retries::new(self.pool.clone()));
        let (bus, queue, stop) = (self.bus.clone(), queue.to_owned(), shutdown.clone());
        let task = tokio::spawn(async move {
            bus.consume(
                &queue,
                Arc::new(Rejecting),
                retries,
                ConsumerConfig::default(),
                stop,
            )
            .await
        });
        Failing { shutdown, task }
    }

    /// Publishes `raw` straight to `queue`, with extra string headers.
    pub async fn send(
        &self,
        queue: &str,
        raw: &RawEnvelope,
        destination: contracts::Destination,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let mut out = Outgoing::envelope(raw, destination).to_queue(queue);
        for (k, v) in headers {
            out.headers.insert((*k).to_owned(), (*v).to_owned());
        }
        self.bus.publisher().publish(&out).await?;
        Ok(())
    }

    /// A `payments.charge` command for `tenant` whose card token is `token`; returns its id.
    pub async fn charge(&self, tenant: Uuid, token: &str) -> anyhow::Result<RawEnvelope> {
        let raw = Envelope::new(
            Some(tenant),
            Charge {
                order_id: Uuid::now_v7(),
                store_id: tenant,
                amount_minor: 1990,
                currency: "BRL".into(),
                customer: Customer {
                    email: "ana@example.com".into(),
                    name: Some("Ana".into()),
                },
                payment_token: token.to_owned(),
            },
        )
        .into_raw();
        self.send(PAYMENTS, &raw, Charge::DESTINATION, &[]).await?;
        Ok(raw)
    }

    /// A `catalog.reserve-stock` command for `tenant`.
    pub async fn reserve(&self, tenant: Uuid) -> anyhow::Result<RawEnvelope> {
        let raw = Envelope::new(
            Some(tenant),
            ReserveStock {
                order_id: Uuid::now_v7(),
                store_id: tenant,
                lines: vec![StockLine {
                    product_id: Uuid::now_v7(),
                    quantity: 2,
                }],
            },
        )
        .into_raw();
        self.send(CATALOG, &raw, ReserveStock::DESTINATION, &[])
            .await?;
        Ok(raw)
    }

    /// Waits until the store holds `n` rows.
    pub async fn wait_for_rows(&self, n: i64) {
        let pool = self.pool.clone();
        eventually(&format!("{n} parked rows"), Duration::from_secs(20), || {
            let pool = pool.clone();
            async move {
                let count: i64 = sqlx::query_scalar("SELECT count(*) FROM failures")
                    .fetch_one(&pool)
                    .await
                    .ok()?;
                (count >= n).then_some(())
            }
        })
        .await;
    }

    /// Waits until `message_id`'s row satisfies `check`; returns it (as `GET` shows it).
    pub async fn wait_for(
        &self,
        message_id: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(what, Duration::from_secs(20), || async {
            let r = self
                .get(&format!("/ops/failures/{message_id}"))
                .await
                .ok()?;
            if r.status() != 200 {
                return None;
            }
            let v: Value = r.json().await.ok()?;
            check(&v).then_some(v)
        })
        .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
    }

    /// The message ids of a listing.
    pub async fn list_ids(&self, query: &str) -> Vec<String> {
        let page = self.get_json(&format!("/ops/failures?{query}")).await;
        let mut ids: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["message_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    }
}

pub fn sorted(ids: impl IntoIterator<Item = Uuid>) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    v.sort();
    v
}

/// Header text as the bus's `take` renders it.
pub fn header<'a>(headers: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    headers.get(name).map(String::as_str)
}
