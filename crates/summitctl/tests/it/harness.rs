//! Ops in-process on the test's own database and vhost (its API on a port of its own, its
//! dead-letter consumers parking into the test's store), and `summitctl` run as the real binary
//! against it.

use std::sync::Arc;

use bus::{Bus, BusConfig, Outgoing};
use contracts::payments::{Charge, Customer};
use contracts::{Contract, Envelope, RawEnvelope};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const TOKEN: &str = "it-summitctl-token";
pub const QUEUE: &str = "payments.commands";
pub const CATALOG: &str = "catalog.commands";

pub struct Ops {
    pub url: String,
    pub bus: Arc<Bus>,
    pub shutdown: CancellationToken,
    pub vhost: testkit::Vhost,
}

impl Drop for Ops {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Ops draining the `.dlq` of `payments.commands` and `catalog.commands`.
pub async fn start(pool: &PgPool) -> anyhow::Result<Ops> {
    ops::migrator().run(pool).await?;
    let vhost = testkit::Vhost::create().await?;
    let queues = vec![QUEUE.to_owned(), CATALOG.to_owned()];
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("summitctl-it-{}", vhost.name())),
            ops::topology(&queues),
        )
        .await?,
    );
    let shutdown = CancellationToken::new();
    let parking = Arc::new(ops::parking::Parking::new(pool.clone()));
    for queue in &queues {
        let (consumer_bus, parking, stop) = (bus.clone(), parking.clone(), shutdown.clone());
        let dlq = bus::topology::dead_letter_queue(queue);
        tokio::spawn(async move {
            consumer_bus
                .consume_dead_letters(&dlq, parking, ops::consumer_config(), stop)
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
    Ok(Ops {
        url,
        bus,
        shutdown,
        vhost,
    })
}

/// A charge for `tenant` paid with `token`.
pub fn charge(tenant: Uuid, token: &str) -> RawEnvelope {
    Envelope::new(
        Some(tenant),
        Charge {
            order_id: Uuid::now_v7(),
            store_id: tenant,
            amount_minor: 500,
            currency: "BRL".into(),
            customer: Customer {
                email: "bia@example.com".into(),
                name: None,
            },
            payment_token: token.to_owned(),
        },
    )
    .into_raw()
}

/// A charge dead-lettered as the bus's consumer runtime leaves it in `Q.dlq`.
pub async fn dead_letter(ops: &Ops, tenant: Uuid, token: &str) -> anyhow::Result<RawEnvelope> {
    let raw = charge(tenant, token);
    let mut out = Outgoing::envelope(&raw, Charge::DESTINATION).to_queue(&format!("{QUEUE}.dlq"));
    for (k, v) in [
        ("x-error", "card processor refused\nat step 3"),
        ("x-error-kind", "rejected"),
        ("x-attempts", "1"),
    ] {
        out.headers.insert(k.to_owned(), v.to_owned());
    }
    ops.bus.publisher().publish(&out).await?;
    Ok(raw)
}

/// Runs `summitctl args…` against `url` with `token`: exit code, stdout, stderr.
pub async fn summitctl(url: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    summitctl_with(url, token, args, &[]).await
}

/// [`summitctl`] with extra environment (`EDITOR`, …). Its stdin is empty, never a terminal.
pub async fn summitctl_with(
    url: &str,
    token: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let out = command(url, token, args, env).output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn command(
    url: &str,
    token: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_summitctl"));
    command
        .args(args)
        .env("OPS_URL", url)
        .env("OPS_TOKEN", token)
        .env_remove("EDITOR")
        .env_remove("VISUAL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Polls `check` until it gives a value or `limit` passes (then fails with `what`).
pub async fn eventually<T, F, Fut>(what: &str, limit: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
