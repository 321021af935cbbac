//! The Stripe adapter against the simulator's `/v1` shape over HTTP (succeeded, declined,
//! idempotent replay, void by refund, lookups, a wrong key, an outage), and one store configured
//! with `provider: stripe` charged and voided end to end.

use payments::charges::Handled;
use payments::gateway::{ChargeRequest, ChargeStatus, Gateway, GatewayError, Stripe};
use payments::payment::Status;
use payments::settings::{GatewaySettings, Provider};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Sim, World};

const KEY: &str = "sk_test_51StoreStripeKey";

fn stripe(sim: &Sim, key: &str) -> anyhow::Result<Stripe> {
    Ok(Stripe::new(
        sim.url.clone(),
        SecretString::from(key.to_owned()),
    )?)
}

fn request(payment_method: &str) -> ChargeRequest {
    let order = Uuid::now_v7();
    ChargeRequest {
        code: order.to_string(),
        amount_minor: 12_345,
        currency: "BRL".into(),
        customer_name: "Maria Silva".into(),
        customer_email: "maria@example.com".into(),
        card_token: SecretString::from(payment_method.to_owned()),
        idempotency_key: payments::gateway::charge_key(order),
    }
}

#[tokio::test]
async fn pm_card_visa_succeeds_once_and_is_found_by_order_or_id() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = stripe(&sim, KEY)?;
    let charge = request("pm_card_visa");
    let paid = gateway.charge(&charge).await?;
    assert_eq!(paid.status, ChargeStatus::Paid);
    assert_eq!(paid.status.ours(), Status::Completed);
    assert!(paid.charge_id.starts_with("pi_"), "{paid:?}");
    assert_eq!(sim.accounts(&charge.code).await?, [KEY]);

    // The same key: the first answer again, no second charge.
    let again = gateway.charge(&charge).await?;
    assert_eq!(again, paid);
    assert_eq!(sim.charges(&charge.code).await?, 1);
    // Another key for the same order is another intent (so the count above can move).
    let other_key = ChargeRequest {
        idempotency_key: "another-key".into(),
        ..charge.clone()
    };
    gateway.charge(&other_key).await?;
    assert_eq!(sim.charges(&charge.code).await?, 2);

    let by_id = gateway.intent(&paid.charge_id).await?;
    assert_eq!(by_id, paid);
    let single = request("pm_card_visa");
    let made = gateway.charge(&single).await?;
    let found = gateway.find_by_code(&single.code).await?;
    assert_eq!(found, Some(made));
    assert_eq!(
        gateway.find_by_code(&Uuid::now_v7().to_string()).await?,
        None
    );
    // Another account does not see this account's intents.
    let stranger = stripe(&sim, "sk_test_51SomeoneElse")?;
    assert_eq!(stranger.find_by_code(&single.code).await?, None);
    Ok(())
}

#[tokio::test]
async fn pm_card_charge_declined_is_a_decline_not_an_error() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = stripe(&sim, KEY)?;
    let charge = request("pm_card_chargeDeclined");
    let declined = gateway.charge(&charge).await?;
    assert_eq!(declined.status, ChargeStatus::NotAuthorized);
    assert_eq!(declined.status.ours(), Status::Declined);
    assert_eq!(declined.response_code.as_deref(), Some("generic_decline"));
    assert_eq!(gateway.charge(&charge).await?, declined, "replayed");
    assert_eq!(sim.charges(&charge.code).await?, 1);
    let found = gateway.find_by_code(&charge.code).await?;
    assert_eq!(found.map(|c| c.status.ours()), Some(Status::Declined));
    Ok(())
}

#[tokio::test]
async fn a_void_refunds_a_succeeded_intent_once() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let gateway = stripe(&sim, KEY)?;
    let charge = request("pm_card_visa");
    let paid = gateway.charge(&charge).await?;
    let key = payments::gateway::void_key(Uuid::now_v7());
    let voided = gateway.cancel(&paid.charge_id, &key).await?;
    assert_eq!(voided.status, ChargeStatus::Refunded);
    assert_eq!(voided.status.ours(), Status::Voided);
    assert_eq!(voided.charge_id, paid.charge_id);
    // The same void again (a redelivered command): the same answer.
    assert_eq!(gateway.cancel(&paid.charge_id, &key).await?, voided);
    // A second refund under another key is refused: it was refunded once.
    let twice = gateway.cancel(&paid.charge_id, "another-void").await;
    assert!(
        matches!(twice, Err(GatewayError::Status { status: 400, .. })),
        "{twice:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_key_and_an_outage_are_errors_with_their_status() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let wrong = stripe(&sim, "pk_test_not_a_secret")?;
    let charge = request("pm_card_visa");
    let refused = wrong.charge(&charge).await;
    assert!(
        matches!(refused, Err(GatewayError::Status { status: 401, .. })),
        "{refused:?}"
    );
    assert_eq!(sim.charges(&charge.code).await?, 0);
    sim.faults(json!({"outage": true})).await?;
    let down = stripe(&sim, KEY)?.charge(&charge).await;
    assert!(
        matches!(down, Err(GatewayError::Status { status: 503, .. })),
        "{down:?}"
    );
    sim.clear_faults().await?;
    assert_eq!(
        stripe(&sim, KEY)?.charge(&charge).await?.status,
        ChargeStatus::Paid
    );
    assert_eq!(sim.charges(&charge.code).await?, 1);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_store_on_stripe_is_charged_and_voided_through_its_own_account(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let own = GatewaySettings {
        provider: Provider::Stripe,
        public_key: "pk_test_51StoreStripe".into(),
        secret_key: SecretString::from(KEY.to_owned()),
    };
    payments::settings::save(&world.app_pool, &world.sealer, world.store, &own).await?;

    let (raw, command) = world.charge_with(world.store, "pm_card_visa".into());
    let handled = world.payments.charge(Some(&raw), &command).await?;
    assert_eq!(handled, Handled::Moved(Status::Completed));
    let code = command.order_id.to_string();
    assert_eq!(sim_accounts(&world, &code).await?, [KEY]);
    let (gateway, charge_id): (String, String) =
        sqlx::query_as("SELECT gateway, gateway_charge_id FROM payments WHERE order_id = $1")
            .bind(command.order_id)
            .fetch_one(&world.pool)
            .await?;
    assert_eq!(gateway, "stripe");
    assert!(charge_id.starts_with("pi_"), "{charge_id}");
    // Redelivered: nothing new at Stripe.
    let raw_again = contracts::Envelope::new(Some(world.store), command.clone()).into_raw();
    world.payments.charge(Some(&raw_again), &command).await?;
    assert_eq!(world.sim.charges(&code).await?, 1);

    let void = contracts::payments::Void {
        order_id: command.order_id,
        store_id: world.store,
        reason: "expired".into(),
    };
    let raw_void = contracts::Envelope::new(Some(world.store), void.clone()).into_raw();
    assert_eq!(
        world.payments.void(Some(&raw_void), &void).await?,
        Handled::Moved(Status::Voided)
    );
    assert_eq!(world.status(command.order_id).await?, "voided");

    let (raw, declined) = world.charge_with(world.store, "pm_card_chargeDeclined".into());
    assert_eq!(
        world.payments.charge(Some(&raw), &declined).await?,
        Handled::Moved(Status::Declined)
    );
    assert_eq!(
        world.events(declined.order_id).await?,
        ["payments.PaymentDeclined"]
    );
    Ok(())
}

async fn sim_accounts(world: &World, code: &str) -> anyhow::Result<Vec<String>> {
    world.sim.accounts(code).await
}

/// A Stripe store's charge whose answer was lost, and one made during an outage: both wait as
/// `pending_offline`; the settle job finds the first by its order (search) and makes the
/// second with the same key — one intent each.
#[sqlx::test(migrations = false)]
async fn a_stripe_store_s_unsettled_charges_are_settled_through_its_account(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let own = GatewaySettings {
        provider: Provider::Stripe,
        public_key: "pk_test_51StoreStripe".into(),
        secret_key: SecretString::from(KEY.to_owned()),
    };
    payments::settings::save(&world.app_pool, &world.sealer, world.store, &own).await?;

    world
        .sim
        .faults(json!({ "timeout_rate": 1.0, "seed": 1 }))
        .await?;
    let (raw, lost) = world.charge_with(world.store, "pm_card_visa".into());
    assert_eq!(
        world.payments.charge(Some(&raw), &lost).await?,
        Handled::Moved(Status::PendingOffline)
    );
    assert_eq!(world.sim.charges(&lost.order_id.to_string()).await?, 1);

    world.sim.faults(json!({ "outage": true })).await?;
    let (raw, absent) = world.charge_with(world.store, "pm_card_visa".into());
    assert_eq!(
        world.payments.charge(Some(&raw), &absent).await?,
        Handled::Moved(Status::GatewayError)
    );
    assert_eq!(world.sim.charges(&absent.order_id.to_string()).await?, 0);

    world.sim.clear_faults().await?;
    assert_eq!(world.payments.settle_unsettled().await?, 2);
    for order in [lost.order_id, absent.order_id] {
        assert_eq!(world.status(order).await?, "completed");
        assert_eq!(sim_accounts(&world, &order.to_string()).await?, [KEY]);
    }
    Ok(())
}
