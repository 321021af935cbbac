//! Per-store gateway settings over HTTP (`PUT/GET /admin/gateway`, the router on port 0, real
//! Postgres with row-level security in force), and charges routed by them to the simulator.

use payments::charges::Handled;
use payments::payment::Status;
use payments::settings::{GatewaySettings, Provider, Sealer};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::admin::store;
use crate::helpers::{PAID, World};

const SECRET: &str = "sk_test_store0wn5ecretW9xz";

#[sqlx::test(migrations = false)]
async fn a_store_sets_its_gateway_and_sees_only_the_last_four(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let key = store(&world, world.store).await?;
    let other = Uuid::now_v7();
    let other_key = store(&world, other).await?;
    let url = world.serve().await?;
    let http = reqwest::Client::new();
    let get = |key: &str| {
        http.get(format!("{url}/admin/gateway"))
            .bearer_auth(key)
            .send()
    };
    let put = |key: &str, body: String| {
        http.put(format!("{url}/admin/gateway"))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    // Not customised: the platform's pagar.me account.
    let default: Value = get(&key).await?.json().await?;
    assert_eq!(default["provider"], "pagarme");
    assert_eq!(default["customised"], false);
    assert!(default["secret_key_last4"].is_null());

    let body =
        json!({"provider": "pagarme", "secret_key": SECRET, "public_key": "pk_test_store0wn"});
    let saved = put(&key, body.to_string()).await?;
    assert_eq!(saved.status(), StatusCode::OK);
    let saved = saved.text().await?;
    assert!(!saved.contains(SECRET), "the secret is not echoed: {saved}");
    let shown: Value = get(&key).await?.json().await?;
    assert_eq!(shown["provider"], "pagarme");
    assert_eq!(shown["public_key"], "pk_test_store0wn");
    assert_eq!(shown["secret_key_last4"], "W9xz");
    assert_eq!(shown["customised"], true);
    assert!(!shown.to_string().contains(SECRET));

    // At rest: sealed; neither the bytes nor the row's text hold the secret.
    let (sealed, row_text): (Vec<u8>, String) =
        sqlx::query_as("SELECT secret_key_sealed, g::text FROM gateway_settings g")
            .fetch_one(&world.pool)
            .await?;
    assert!(sealed.len() > SECRET.len());
    assert!(!sealed.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    assert!(!sealed.windows(8).any(|w| w == b"sk_test_"));
    assert!(!row_text.contains(SECRET));
    let secret_hex: String = SECRET.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(!row_text.contains(&secret_hex), "not even as hex");
    // …and it opens, for this store only.
    let opened = payments::settings::load(&world.app_pool, &world.sealer, world.store).await?;
    assert_eq!(
        opened.map(|s| secrecy::ExposeSecret::expose_secret(&s.secret_key).to_owned()),
        Some(SECRET.to_owned())
    );

    // Another store sees its own settings (the default), then its own Stripe account.
    let theirs: Value = get(&other_key).await?.json().await?;
    assert_eq!(theirs["customised"], false);
    let stripe = json!({"provider": "stripe", "secret_key": "sk_test_51OtherStore7777", "public_key": "pk_test_51OtherStore"});
    assert_eq!(
        put(&other_key, stripe.to_string()).await?.status(),
        StatusCode::OK
    );
    let theirs: Value = get(&other_key).await?.json().await?;
    assert_eq!(theirs["provider"], "stripe");
    assert_eq!(theirs["secret_key_last4"], "7777");
    let mine: Value = get(&key).await?.json().await?;
    assert_eq!(mine, shown, "one store's PUT leaves another's alone");
    // Row-level security: the service's role, acting as no store, sees no settings at all.
    let visible: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway_settings")
        .fetch_one(&world.app_pool)
        .await?;
    assert_eq!(visible, 0);

    // Bad input: 422 problem+json naming the field, and nothing changes.
    let before: Vec<u8> =
        sqlx::query_scalar("SELECT secret_key_sealed FROM gateway_settings WHERE store_id = $1")
            .bind(world.store)
            .fetch_one(&world.pool)
            .await?;
    let bad = [
        (json!({"provider": "pagarme", "secret_key": "sk_test_new1111", "public_key": "pk_test_x1234567", "colour": "red"}).to_string(), "colour"),
        (json!({"provider": "pagarme", "secret_key": "pk_test_new1111", "public_key": "pk_test_x1234567"}).to_string(), "secret_key"),
        (json!({"provider": "stripe", "secret_key": "sk_new111111", "public_key": "pk_test_x1234567"}).to_string(), "secret_key"),
        (json!({"provider": "stripe", "secret_key": "sk_live_new111111", "public_key": "pk_test_x1234567"}).to_string(), "public_key"),
        (json!({"provider": "paypal", "secret_key": "sk_test_new1111", "public_key": "pk_test_x1234567"}).to_string(), "provider"),
        (json!({"provider": "pagarme", "secret_key": "sk_test_new1111"}).to_string(), "public_key"),
        (json!({"provider": "pagarme", "secret_key": "sk_test new1111", "public_key": "pk_test_x1234567"}).to_string(), "secret_key"),
        ("not json".to_owned(), "body"),
    ];
    for (body, field) in bad {
        let refused = put(&key, body.clone()).await?;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let content_type = refused
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/problem+json", "{body}");
        let problem: Value = refused.json().await?;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        assert!(!problem.to_string().contains("new1111"), "{problem}");
    }
    let after: Vec<u8> =
        sqlx::query_scalar("SELECT secret_key_sealed FROM gateway_settings WHERE store_id = $1")
            .bind(world.store)
            .fetch_one(&world.pool)
            .await?;
    assert_eq!(before, after);
    assert_eq!(get(&key).await?.json::<Value>().await?, shown);

    // No key, or an unknown one: 401, and nothing is written.
    let nobody = http
        .put(format!("{url}/admin/gateway"))
        .body(body.to_string())
        .send()
        .await?;
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        put("not_a_key", body.to_string()).await?.status(),
        StatusCode::UNAUTHORIZED
    );
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM gateway_settings")
        .fetch_one(&world.pool)
        .await?;
    assert_eq!(rows, 2);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_store_with_its_own_pagarme_key_is_charged_with_that_key(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    let own = GatewaySettings {
        provider: Provider::PagarMe,
        public_key: "pk_test_store0wn".into(),
        secret_key: SecretString::from(SECRET.to_owned()),
    };
    payments::settings::save(&world.app_pool, &world.sealer, world.store, &own).await?;

    let (raw, command) = world.charge(PAID).await?;
    let handled = world.payments.charge(Some(&raw), &command).await?;
    assert_eq!(handled, Handled::Moved(Status::Completed));
    let code = command.order_id.to_string();
    assert_eq!(world.sim.accounts(&code).await?, [SECRET]);

    // A store without settings: the platform's account.
    let platform_store = Uuid::now_v7();
    let token = world.sim.token(PAID).await?;
    let (raw, command) = world.charge_with(platform_store, token);
    let handled = world.payments.charge(Some(&raw), &command).await?;
    assert_eq!(handled, Handled::Moved(Status::Completed));
    assert_eq!(
        world.sim.accounts(&command.order_id.to_string()).await?,
        ["sk_test_summit"]
    );

    // Settings sealed under a key this process does not have: never the platform's account
    // instead; the charge waits (pending_offline) with nothing charged.
    let stranger = Uuid::now_v7();
    let other_sealer = Sealer::new(&SecretString::from("42".repeat(32)))?;
    payments::settings::save(&world.app_pool, &other_sealer, stranger, &own).await?;
    let token = world.sim.token(PAID).await?;
    let (raw, command) = world.charge_with(stranger, token);
    let handled = world.payments.charge(Some(&raw), &command).await?;
    assert_eq!(handled, Handled::Moved(Status::PendingOffline));
    assert_eq!(world.sim.charges(&command.order_id.to_string()).await?, 0);
    Ok(())
}

/// A store's own account has its own circuit breaker: a gateway refusing that store's key opens
/// its circuit (counted for readiness) while the platform's account keeps charging.
#[sqlx::test(migrations = false)]
async fn a_store_account_s_circuit_is_its_own(pool: PgPool) -> anyhow::Result<()> {
    let world = World::new(pool).await?;
    // Stripe at an address nothing listens on: every call is a connect error.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let nowhere = closed.local_addr()?;
    drop(closed);
    let mut config = crate::helpers::fast_config();
    config.stripe_base_url = format!("http://{nowhere}");
    let accounts = std::sync::Arc::new(payments::accounts::StoreAccounts::new(
        world.app_pool.clone(),
        world.sealer.clone(),
        &config,
    ));
    let service =
        payments::charges::Payments::new(world.app_pool.clone(), world.sim.pagarme()?, &config)
            .with_store_accounts(accounts.clone());
    let own = GatewaySettings {
        provider: Provider::Stripe,
        public_key: "pk_test_51StoreStripe".into(),
        secret_key: SecretString::from("sk_test_51StoreStripeKey".to_owned()),
    };
    payments::settings::save(&world.app_pool, &world.sealer, world.store, &own).await?;
    assert_eq!(accounts.open_circuits(), 0);
    for _ in 0..3 {
        let (raw, command) = world.charge_with(world.store, "pm_card_visa".into());
        assert_eq!(
            service.charge(Some(&raw), &command).await?,
            Handled::Moved(Status::PendingOffline)
        );
    }
    assert_eq!(accounts.open_circuits(), 1);
    assert!(
        service
            .policy()
            .breaker()
            .is_some_and(|b| b.state() != resilience::BreakerState::Open),
        "the platform's circuit stays closed"
    );
    let token = world.sim.token(PAID).await?;
    let (raw, command) = world.charge_with(Uuid::now_v7(), token);
    assert_eq!(
        service.charge(Some(&raw), &command).await?,
        Handled::Moved(Status::Completed)
    );
    Ok(())
}

/// Key rotation. Settings sealed under key A; the process restarts with
/// `GATEWAY_SETTINGS_KEY` = B and `GATEWAY_SETTINGS_PREVIOUS_KEYS` = A: `GET /admin/gateway`
/// still shows them, the secret still opens, and the `payments.reseal` job (under its advisory
/// lock, as the service's non-superuser role) seals the row again under B. With B alone, a row
/// still under A is reported by readiness (a fingerprint and a count, never a key), left as it
/// is by the job, and refused — not opened with B — when charging.
#[sqlx::test(migrations = false)]
async fn a_rotated_key_still_reads_old_rows_and_the_job_reseals_them(
    pool: PgPool,
) -> anyhow::Result<()> {
    use std::sync::Arc;

    let world = World::new(pool).await?;
    let key = store(&world, world.store).await?;
    let (a_hex, b_hex) = ("a1".repeat(32), "b2".repeat(32));
    let a = Arc::new(Sealer::new(&SecretString::from(a_hex.clone()))?);
    let http = reqwest::Client::new();

    let under_a = world.serve_with(a.clone()).await?;
    let body =
        json!({"provider": "pagarme", "secret_key": SECRET, "public_key": "pk_test_store0wn"});
    let saved = http
        .put(format!("{under_a}/admin/gateway"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await?;
    assert_eq!(saved.status(), StatusCode::OK);
    let row = || async {
        sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT key_id, secret_key_sealed FROM gateway_settings WHERE store_id = $1",
        )
        .bind(world.store)
        .fetch_one(&world.pool)
        .await
    };
    let (key_id, sealed_under_a) = row().await?;
    assert_eq!(key_id, a.key_id());

    // Restarted with B current and A previous, as the environment gives them.
    let config = payments::PaymentsConfig {
        gateway_settings_key: SecretString::from(b_hex.clone()),
        gateway_settings_previous_keys: Some(SecretString::from(a_hex.clone())),
        ..crate::helpers::fast_config()
    };
    let rotated = Arc::new(Sealer::from_config(&config)?);
    assert_ne!(rotated.key_id(), a.key_id());
    let under_b = world.serve_with(rotated.clone()).await?;
    let shown: Value = http
        .get(format!("{under_b}/admin/gateway"))
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(shown["secret_key_last4"], "W9xz");
    assert_eq!(shown["customised"], true);
    let opened = payments::settings::load(&world.app_pool, &rotated, world.store).await?;
    assert_eq!(
        opened.map(|s| secrecy::ExposeSecret::expose_secret(&s.secret_key).to_owned()),
        Some(SECRET.to_owned()),
        "a row under the previous key still opens"
    );
    assert_eq!(
        payments::settings::unreadable(&world.app_pool, &rotated).await,
        Ok(())
    );

    let job = payments::reseal_job(rotated.clone());
    assert_eq!(
        job.run_once(&world.app_pool).await?,
        Some(1),
        "one row re-sealed"
    );
    let (key_id, sealed_under_b) = row().await?;
    assert_eq!(key_id, rotated.key_id(), "the row's fingerprint is B's");
    assert_ne!(sealed_under_b, sealed_under_a);
    assert_eq!(
        job.run_once(&world.app_pool).await?,
        Some(0),
        "nothing left"
    );

    // B alone (A dropped from the environment): the re-sealed row opens with B.
    let only_b = Arc::new(Sealer::new(&SecretString::from(b_hex.clone()))?);
    let opened = payments::settings::load(&world.app_pool, &only_b, world.store).await?;
    assert!(opened.is_some());

    // Another store's row still under A (saved by a replica not yet rotated).
    let stranger = Uuid::now_v7();
    let own = GatewaySettings {
        provider: Provider::PagarMe,
        public_key: "pk_test_stranger".into(),
        secret_key: SecretString::from("sk_test_strangerKey1".to_owned()),
    };
    payments::settings::save(&world.app_pool, &a, stranger, &own).await?;
    let reason = payments::settings::unreadable(&world.app_pool, &only_b)
        .await
        .expect_err("readiness reports the unreadable row");
    assert!(
        reason.starts_with("1 store gateway setting(s)") && reason.contains(a.key_id()),
        "{reason}"
    );
    assert!(!reason.contains(&a_hex) && !reason.contains(&b_hex));
    assert_eq!(
        payments::reseal_job(only_b.clone())
            .run_once(&world.app_pool)
            .await?,
        Some(0),
        "a row under an unknown key is left as it is"
    );
    let (stranger_key,): (String,) =
        sqlx::query_as("SELECT key_id FROM gateway_settings WHERE store_id = $1")
            .bind(stranger)
            .fetch_one(&world.pool)
            .await?;
    assert_eq!(stranger_key, a.key_id());
    let refused = payments::settings::load(&world.app_pool, &only_b, stranger)
        .await
        .expect_err("never opened with another key")
        .to_string();
    assert!(
        refused.contains(a.key_id()) && !refused.contains(&a_hex),
        "{refused}"
    );
    Ok(())
}

/// A malformed `GATEWAY_SETTINGS_PREVIOUS_KEYS` stops the real binary at start with an error
/// naming the variable and the entry's position — no panic, and no key in its output.
#[tokio::test]
async fn a_malformed_previous_key_stops_the_service_without_printing_keys() -> anyhow::Result<()> {
    let good = "c3".repeat(32);
    let bad = format!("{}zz", "d4".repeat(31));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_payments"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/nothing")
        .env("GATEWAY_SETTINGS_KEY", &good)
        .env("GATEWAY_SETTINGS_PREVIOUS_KEYS", format!("{good},{bad}"))
        .kill_on_drop(true)
        .output()
        .await?;
    assert!(!output.status.success());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("GATEWAY_SETTINGS_PREVIOUS_KEYS") && printed.contains("entry 2"),
        "{printed}"
    );
    assert!(!printed.contains("panicked"), "{printed}");
    assert!(
        !printed.contains(&good) && !printed.contains("d4d4d4"),
        "{printed}"
    );
    Ok(())
}
