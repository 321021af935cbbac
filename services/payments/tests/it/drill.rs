//! The seeds' "pending" case with a real kill: the payments binary is SIGKILLed while the
//! gateway holds its call (the charge made, the answer not yet sent), then started again.
//! The charge command, never acknowledged, comes back; the same idempotency key gets the
//! first answer; the payment ends `completed` and the gateway counted one charge.

use std::sync::Arc;
use std::time::Duration;

use bus::{Bus, BusConfig, Outgoing};
use contracts::Contract;
use contracts::payments::Charge;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PAID, World, eventually, shared_redis_url, start_payments};

const MINUTE: Duration = Duration::from_secs(60);

#[sqlx::test(migrations = false)]
async fn a_payments_process_killed_mid_call_settles_once_after_restart(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let vhost = testkit::Vhost::create().await?;
    let bus = Arc::new(
        Bus::connect(
            &BusConfig::new(vhost.url(), format!("payments-drill-{}", vhost.name())),
            payments::topology(),
        )
        .await?,
    );
    let prefix = format!("it:{}", uuid::Uuid::now_v7());
    let env = world.process_env(&vhost.url(), &shared_redis_url(), &prefix)?;

    let (raw, charge) = world.charge(PAID).await?;
    let code = charge.order_id.to_string();
    // The gateway will make the charge and hold its answer.
    world
        .sim
        .faults(json!({ "timeout_rate": 1.0, "seed": 3 }))
        .await?;
    let mut first = start_payments(&env).await?;
    bus.publisher()
        .publish(&Outgoing::envelope(&raw, Charge::DESTINATION))
        .await?;
    eventually("the gateway to make the charge", MINUTE, || async {
        Ok(world.sim.charges(&code).await? == 1)
    })
    .await?;
    assert_eq!(world.status(charge.order_id).await?, "processing");

    first.kill().await?;
    world.sim.clear_faults().await?;

    let mut second = start_payments(&env).await?;
    eventually("the payment to complete", MINUTE, || async {
        Ok(world.status(charge.order_id).await? == "completed")
    })
    .await?;
    assert_eq!(world.sim.charges(&code).await?, 1, "charged once");
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentCompleted"]
    );
    second.kill().await?;
    bus.close().await;
    Ok(())
}
