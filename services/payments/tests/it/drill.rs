//! Drills with the real `payments` binary as OS processes.
//!
//! - The seeds' "pending" case with a real kill: the payments binary is SIGKILLed while the
//!   gateway holds its call (the charge made, the answer not yet sent), then started again.
//!   The charge command, never acknowledged, comes back; the same idempotency key gets the
//!   first answer; the payment ends `completed` and the gateway counted one charge.
//! - A 10-second gateway outage while charges keep coming, one of two processes killed and
//!   started again in the middle of it: when the gateway returns, the periodic settle job alone
//!   (nothing in the test calls it) settles every payment, each charged once.

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

#[sqlx::test(migrations = false)]
async fn a_ten_second_outage_is_settled_by_the_settle_job_alone(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let vhost = testkit::Vhost::create().await?;
    let bus = Bus::connect(
        &BusConfig::new(vhost.url(), format!("payments-drill-{}", vhost.name())),
        payments::topology(),
    )
    .await?;
    let prefix = format!("it:{}", uuid::Uuid::now_v7());
    let mut env = world.process_env(&vhost.url(), &shared_redis_url(), &prefix)?;
    // Short enough for a test, the same mechanisms as production's defaults.
    env.extend([
        ("PAYMENTS_SETTLE_EVERY_MS", "500".to_owned()),
        ("PAYMENTS_SETTLE_AFTER_MS", "1000".to_owned()),
        ("GATEWAY_BREAKER_OPEN_MS", "1000".to_owned()),
        ("GATEWAY_TIMEOUT_MS", "1000".to_owned()),
        ("GATEWAY_ATTEMPTS", "2".to_owned()),
    ]);
    let mut processes = vec![start_payments(&env).await?, start_payments(&env).await?];

    // Cards tokenized ahead: tokenization is the gateway too, and it is away.
    let mut commands = Vec::new();
    for _ in 0..25 {
        commands.push(world.charge(PAID).await?);
    }
    world.sim.faults(json!({ "outage": true })).await?;
    let outage = Duration::from_secs(10);
    let began = std::time::Instant::now();
    // Twenty charges, one every 500 ms, while one of the two processes is killed and replaced
    // mid-outage beside them (its restart's time, long on a loaded machine, never thins the
    // stream); the outage lasts 10 s, or until the last charge is in.
    let (orders, restarted) = tokio::join!(
        async {
            let mut orders = Vec::new();
            for (raw, charge) in commands.drain(..20) {
                bus.publisher()
                    .publish(&Outgoing::envelope(&raw, Charge::DESTINATION))
                    .await?;
                orders.push(charge.order_id);
                tokio::time::sleep(Duration::from_millis(500)).await; // pacing
            }
            anyhow::Ok(orders)
        },
        async {
            tokio::time::sleep(outage / 2).await; // mid-outage
            processes[0].kill().await?;
            processes[0] = start_payments(&env).await?;
            anyhow::Ok(())
        }
    );
    let orders = orders?;
    restarted?;
    if let Some(rest) = outage.checked_sub(began.elapsed()) {
        tokio::time::sleep(rest).await; // the rest of the outage
    }
    // Everything that arrived in the outage waits, and nothing was charged.
    eventually("every payment recorded", MINUTE, || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payments
             WHERE order_id = ANY($1) AND status IN ('pending_offline', 'gateway_error')",
        )
        .bind(&orders)
        .fetch_one(&world.pool)
        .await?;
        Ok(waiting as usize == orders.len())
    })
    .await?;
    world.sim.clear_faults().await?;

    eventually("every payment settled", MINUTE, || async {
        let completed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM payments WHERE order_id = ANY($1) AND status = 'completed'",
        )
        .bind(&orders)
        .fetch_one(&world.pool)
        .await?;
        Ok(completed as usize == orders.len())
    })
    .await?;
    for order in &orders {
        assert_eq!(world.sim.charges(&order.to_string()).await?, 1, "{order}");
        assert_eq!(
            world.events(*order).await?,
            [
                "payments.PaymentPendingOffline",
                "payments.PaymentCompleted"
            ],
            "{order}"
        );
    }
    for process in &mut processes {
        process.kill().await?;
    }
    bus.close().await;
    Ok(())
}
