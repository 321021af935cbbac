//! The `payments.commands` handlers and the settle job against real Postgres and the
//! simulator over HTTP: each test card, redeliveries, a gateway that is away, a lost answer,
//! voids, and the database's own guard on status moves.

use payments::charges::Handled;
use payments::payment::Status;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{DECLINED, PAID, PROCESSING, Sim, World};

#[sqlx::test(migrations = false)]
async fn the_approved_card_completes_and_announces_it(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(PAID).await?;
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Moved(Status::Completed));
    assert_eq!(world.status(charge.order_id).await?, "completed");
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentCompleted"]
    );
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    let (token, charge_id): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT card_token, gateway_charge_id FROM payments WHERE order_id = $1")
            .bind(charge.order_id)
            .fetch_one(&world.pool)
            .await?;
    assert_eq!(token, None, "the card token leaves with the settlement");
    assert!(charge_id.is_some_and(|id| id.starts_with("ch_")));
    let history: Vec<(Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT a.from_status, a.to_status, a.response_code FROM payment_attempts a
         JOIN payments p ON p.id = a.payment_id WHERE p.order_id = $1 ORDER BY a.id",
    )
    .bind(charge.order_id)
    .fetch_all(&world.pool)
    .await?;
    assert_eq!(
        history,
        [
            (None, "processing".into(), None),
            (
                Some("processing".into()),
                "completed".into(),
                Some("00".into())
            ),
        ]
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_refused_card_is_declined(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(DECLINED).await?;
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Moved(Status::Declined));
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentDeclined"]
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_slow_card_stays_processing_until_the_settle_job_finds_it_paid(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(PROCESSING).await?;
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Stayed(Status::Processing));
    assert!(world.events(charge.order_id).await?.is_empty());

    assert_eq!(world.payments.settle_unsettled().await?, 1);
    assert_eq!(world.status(charge.order_id).await?, "completed");
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentCompleted"]
    );
    assert_eq!(world.payments.settle_unsettled().await?, 0, "nothing left");
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_redelivered_charge_charges_once(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(PAID).await?;
    // Two deliveries of one message at once, then a third after it settled, then the same
    // command under a new message id (a second checkout send).
    let (first, second) = tokio::join!(
        world.payments.charge(Some(&raw), &charge),
        world.payments.charge(Some(&raw), &charge),
    );
    let mut outcomes = [first?, second?];
    outcomes.sort_by_key(|h| format!("{h:?}"));
    assert_eq!(
        outcomes,
        [Handled::Duplicate, Handled::Moved(Status::Completed)],
    );
    assert_eq!(
        world.payments.charge(Some(&raw), &charge).await?,
        Handled::Duplicate
    );
    let again = contracts::Envelope::new(Some(world.store), charge.clone()).into_raw();
    assert_eq!(
        world.payments.charge(Some(&again), &charge).await?,
        Handled::AlreadySettled(Status::Completed)
    );
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentCompleted"]
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn an_unreachable_gateway_leaves_the_payment_pending_offline_until_settled(
    pool: PgPool,
) -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let target = sim.url.trim_start_matches("http://").parse()?;
    let proxy = testkit::TcpProxy::start(target).await?;
    let gateway = payments::gateway::PagarMe::new(
        format!("http://127.0.0.1:{}/core/v5", proxy.port()),
        secrecy::SecretString::from("sk_test_summit".to_owned()),
    )?;
    let world = World::with_gateway(pool, sim, gateway).await?;
    let (raw, charge) = world.charge(PAID).await?;

    proxy.down();
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Moved(Status::PendingOffline));
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentPendingOffline"]
    );
    // Still away: the settle job leaves it pending, and announces nothing new.
    assert_eq!(world.payments.settle_unsettled().await?, 0);
    assert_eq!(world.status(charge.order_id).await?, "pending_offline");

    proxy.up();
    assert_eq!(world.payments.settle_unsettled().await?, 1);
    assert_eq!(world.status(charge.order_id).await?, "completed");
    assert_eq!(
        world.events(charge.order_id).await?,
        [
            "payments.PaymentPendingOffline",
            "payments.PaymentCompleted"
        ]
    );
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_charge_whose_answer_was_lost_is_settled_without_charging_again(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(PAID).await?;
    // The gateway charges, and the answer never comes: every attempt times out.
    world
        .sim
        .faults(json!({ "timeout_rate": 1.0, "seed": 1 }))
        .await?;
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Moved(Status::PendingOffline));
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);

    world.sim.clear_faults().await?;
    assert_eq!(world.payments.settle_unsettled().await?, 1);
    assert_eq!(world.status(charge.order_id).await?, "completed");
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn server_errors_after_every_retry_are_a_gateway_error_settled_later(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(PAID).await?;
    world.sim.faults(json!({ "error_rate": 1.0 })).await?;
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Moved(Status::GatewayError));
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentPendingOffline"]
    );
    world.sim.clear_faults().await?;
    assert_eq!(world.payments.settle_unsettled().await?, 1);
    assert_eq!(world.status(charge.order_id).await?, "completed");
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_request_the_gateway_refuses_is_an_error(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, mut charge) = world.charge(PAID).await?;
    charge.payment_token = "token_never_issued".into();
    let handled = world.payments.charge(Some(&raw), &charge).await?;
    assert_eq!(handled, Handled::Moved(Status::Error));
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentFailed"]
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_void_cancels_the_capture_once(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let (raw, charge) = world.charge(PAID).await?;
    world.payments.charge(Some(&raw), &charge).await?;
    let void = contracts::payments::Void {
        order_id: charge.order_id,
        store_id: world.store,
        reason: "expired".into(),
    };
    let raw_void = contracts::Envelope::new(Some(world.store), void.clone()).into_raw();
    assert_eq!(
        world.payments.void(Some(&raw_void), &void).await?,
        Handled::Moved(Status::Voided)
    );
    assert_eq!(
        world.payments.void(Some(&raw_void), &void).await?,
        Handled::Duplicate
    );
    let again = contracts::Envelope::new(Some(world.store), void.clone()).into_raw();
    assert_eq!(
        world.payments.void(Some(&again), &void).await?,
        Handled::AlreadySettled(Status::Voided)
    );
    assert_eq!(
        world.events(charge.order_id).await?,
        ["payments.PaymentCompleted", "payments.PaymentVoided"]
    );

    let unknown = contracts::payments::Void {
        order_id: Uuid::now_v7(),
        ..void
    };
    assert_eq!(
        world.payments.void(None, &unknown).await?,
        Handled::NothingToVoid
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_database_refuses_every_move_the_state_machine_refuses(
    pool: PgPool,
) -> anyhow::Result<()> {
    payments::migrator().run(&pool).await?;
    let store = Uuid::now_v7();
    for from in Status::ALL {
        for to in Status::ALL {
            let order = Uuid::now_v7();
            let mut tx = payments::db::begin_for(&pool, store).await?;
            sqlx::query(
                "INSERT INTO payments (id, store_id, order_id, status, amount_minor, currency,
                                       customer_name, customer_email, idempotency_key)
                 VALUES ($1, $2, $1, $3, 100, 'BRL', 'M', 'm@example.com', $1::text)",
            )
            .bind(order)
            .bind(store)
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
            let moved = sqlx::query("UPDATE payments SET status = $2 WHERE id = $1")
                .bind(order)
                .bind(to.as_str())
                .execute(&mut *tx)
                .await;
            let allowed = from == to || from.can_move_to(to);
            assert_eq!(moved.is_ok(), allowed, "{from} → {to}: {moved:?}");
            tx.rollback().await?;
        }
    }
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn an_open_circuit_leaves_charges_pending_offline_without_calling_the_gateway(
    pool: PgPool,
) -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    // The circuit stays open far longer than the test runs.
    let config = payments::PaymentsConfig {
        breaker_open_for: std::time::Duration::from_secs(600),
        ..crate::helpers::fast_config()
    };
    let world = World::with_config(pool, sim, gateway, config).await?;
    let mut commands = Vec::new();
    for _ in 0..4 {
        commands.push(world.charge(PAID).await?);
    }
    let (raw, charge) = commands.pop().ok_or_else(|| anyhow::anyhow!("four"))?;
    world.sim.faults(json!({ "outage": true })).await?;
    // Two attempts per charge; the breaker opens after five failures in a row.
    let mut outcomes = Vec::new();
    for (raw, charge) in &commands {
        outcomes.push(world.payments.charge(Some(raw), charge).await?);
    }
    assert_eq!(
        outcomes,
        [
            Handled::Moved(Status::GatewayError),
            Handled::Moved(Status::GatewayError),
            Handled::Moved(Status::PendingOffline),
        ]
    );
    assert!(!world.payments.policy().is_ready(), "the circuit is open");
    world.sim.clear_faults().await?;
    assert_eq!(
        world.payments.charge(Some(&raw), &charge).await?,
        Handled::Moved(Status::PendingOffline),
        "an open circuit sends nothing"
    );
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 0);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn an_outage_ends_with_every_payment_settled_once(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let mut commands = Vec::new();
    for _ in 0..6 {
        commands.push(world.charge(PAID).await?);
    }
    world.sim.faults(json!({ "outage": true })).await?;
    for (raw, charge) in &commands {
        let handled = world.payments.charge(Some(raw), charge).await?;
        assert!(
            matches!(
                handled,
                Handled::Moved(Status::GatewayError | Status::PendingOffline)
            ),
            "{handled:?}"
        );
    }
    world.sim.clear_faults().await?;
    // The circuit opened during the outage; the settle job runs until it has let the trial
    // call through and settled everything.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        world.payments.settle_unsettled().await?;
        let completed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM payments WHERE status = 'completed'")
                .fetch_one(&world.pool)
                .await?;
        if completed == commands.len() as i64 {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "completed {completed} of {}",
            commands.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (_, charge) in &commands {
        assert_eq!(world.status(charge.order_id).await?, "completed");
        assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
        assert_eq!(
            world.events(charge.order_id).await?,
            [
                "payments.PaymentPendingOffline",
                "payments.PaymentCompleted"
            ]
        );
    }
    Ok(())
}

/// A void overtakes the charge while the gateway still holds the call (the saga gave up on
/// the order): it finds no charge at the gateway yet, so the payment is voided at once. When
/// the gateway's late approval arrives, the payment stays voided and that charge is cancelled
/// with the void's key — the shopper keeps no debit for a cancelled order.
#[sqlx::test(migrations = false)]
async fn a_void_that_overtakes_the_charge_call_cancels_the_late_charge(
    pool: PgPool,
) -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = sim.pagarme()?;
    let config = payments::PaymentsConfig {
        timeout: std::time::Duration::from_secs(10),
        ..crate::helpers::fast_config()
    };
    let world = World::with_config(pool, sim, gateway, config).await?;
    let (raw, charge) = world.charge(PAID).await?;
    // The charge is made 3 s after the call arrives; lookups and cancels answer at once.
    world.sim.faults(json!({"charge_latency_ms": 3000})).await?;
    let call = tokio::spawn({
        let payments = world.payments.clone();
        let charge = charge.clone();
        async move { payments.charge(Some(&raw), &charge).await }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while world.status(charge.order_id).await.ok().as_deref() != Some("processing") {
        anyhow::ensure!(std::time::Instant::now() < deadline, "never processing");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let void = contracts::payments::Void {
        order_id: charge.order_id,
        store_id: world.store,
        reason: "expired".into(),
    };
    assert_eq!(
        world.payments.void(None, &void).await?,
        Handled::Moved(Status::Voided),
        "voided at once: the gateway has made no charge yet"
    );
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 0);
    assert_eq!(
        call.await??,
        Handled::Stayed(Status::Voided),
        "the late approval does not bring the payment back"
    );
    assert_eq!(world.status(charge.order_id).await?, "voided");

    let at_gateway = payments::gateway::Gateway::find_by_code(
        &world.sim.pagarme()?,
        &charge.order_id.to_string(),
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("the gateway made no charge"))?;
    assert_eq!(
        at_gateway.status.ours(),
        Status::Voided,
        "the late charge was cancelled: {:?}",
        at_gateway.status
    );
    assert_eq!(world.sim.charges(&charge.order_id.to_string()).await?, 1);
    Ok(())
}
