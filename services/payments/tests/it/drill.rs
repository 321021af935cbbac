//! The seeds' "pending" case with a real kill: the payments binary is SIGKILLed while the
//! gateway holds its call (the charge made, the answer not yet sent), then started again.
//! The charge command, never acknowledged, comes back; the same idempotency key gets the
//! first answer; the payment ends `completed` and the gateway counted one charge.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Bus, BusConfig, Outgoing};
use contracts::Contract;
use contracts::payments::Charge;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PAID, World};

fn start(
    database_url: &str,
    amqp_url: &str,
    gateway: &str,
) -> anyhow::Result<tokio::process::Child> {
    Ok(tokio::process::Command::new(env!("CARGO_BIN_EXE_payments"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("DATABASE_URL", database_url)
        .env("AMQP_URL", amqp_url)
        .env("PAGARME_BASE_URL", gateway)
        .env("PAGARME_SECRET_KEY", "sk_test_drill")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?)
}

async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await? {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_payments_process_killed_mid_call_settles_once_after_restart(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let admin = std::env::var("DATABASE_URL")?;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let database = world
        .pool
        .connect_options()
        .get_database()
        .unwrap_or_default()
        .to_owned();
    let database_url = format!("{base}/{database}");
    let vhost = testkit::Vhost::create().await?;
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("payments-drill-{}", vhost.name())),
            payments::topology(),
        )
        .await?,
    );
    let gateway = world.sim.base();

    let (raw, charge) = world.charge(PAID).await?;
    let code = charge.order_id.to_string();
    // The gateway will make the charge and hold its answer.
    world
        .sim
        .faults(json!({ "timeout_rate": 1.0, "seed": 3 }))
        .await?;
    let mut first = start(&database_url, &vhost.url(), &gateway)?;
    bus.publisher()
        .publish(&Outgoing::envelope(&raw, Charge::DESTINATION))
        .await?;
    eventually("the gateway to make the charge", || async {
        Ok(world.sim.charges(&code).await? == 1)
    })
    .await?;
    assert_eq!(world.status(charge.order_id).await?, "processing");

    first.start_kill()?;
    first.wait().await?;
    world.sim.clear_faults().await?;

    let mut second = start(&database_url, &vhost.url(), &gateway)?;
    eventually("the payment to complete", || async {
        Ok(world.status(charge.order_id).await? == "completed")
    })
    .await?;
    assert_eq!(world.sim.charges(&code).await?, 1, "charged once");
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentCompleted"]
    );
    second.start_kill()?;
    second.wait().await?;
    bus.close().await;
    Ok(())
}
