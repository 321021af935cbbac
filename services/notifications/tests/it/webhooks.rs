//! Webhooks to real HTTP receivers of the test's own: signed as the Standard Webhooks
//! specification says (checked here by a verifier written from the specification, not the
//! service's code), one delivery per (event, endpoint) under duplicates, rotation, a failing
//! endpoint retried then disabled with a mail to its merchant, and the SSRF refusals.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use contracts::Contract;
use contracts::checkout::OrderPlaced;
use hmac::{KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{Receiver, World, address, config, eventually, order, wait_for_mails};

/// The specification's verification: the secret's bytes are the base64 after `whsec_`; the
/// signed content is `id.timestamp.body`; the header lists `v1,<base64>` signatures separated
/// by spaces, any one of which may match; the timestamp must be recent.
fn verify(secret: &str, headers: &BTreeMap<String, String>, body: &[u8]) -> Result<(), String> {
    let id = headers.get("webhook-id").ok_or("no webhook-id")?;
    let timestamp = headers
        .get("webhook-timestamp")
        .ok_or("no webhook-timestamp")?;
    let signatures = headers
        .get("webhook-signature")
        .ok_or("no webhook-signature")?;
    let sent: i64 = timestamp.parse().map_err(|_| "timestamp not an integer")?;
    if (chrono::Utc::now().timestamp() - sent).abs() > 300 {
        return Err("timestamp too far from now".into());
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("not a whsec_ secret")?)
        .map_err(|e| e.to_string())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    signatures
        .split(' ')
        .filter_map(|s| s.split_once(','))
        .any(|(version, signature)| version == "v1" && signature == expected)
        .then_some(())
        .ok_or_else(|| format!("no signature matches in {signatures:?}"))
}

async fn endpoint(world: &World, key: &str, url: &str, types: &[&str]) -> anyhow::Result<Value> {
    let created = world
        .send_json(
            Method::POST,
            "/admin/webhooks",
            key,
            &json!({"url": url, "event_types": types}),
        )
        .await?;
    assert_eq!(created.status(), StatusCode::CREATED);
    Ok(created.json().await?)
}

#[sqlx::test(migrations = false)]
async fn deliveries_are_signed_by_the_spec_once_per_event_and_endpoint(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let store = Uuid::now_v7();
    let key = world.store(store, "Loja", &address("owner")).await?;
    let (one, two) = (Receiver::start().await?, Receiver::start().await?);
    let first = endpoint(&world, &key, &one.url, &["checkout.OrderPlaced"]).await?;
    let secret = first["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let second = endpoint(&world, &key, &two.url, &["checkout.OrderConfirmed"]).await?;
    // The secret is shown once: never in a listing.
    let listed: Value = world.get("/admin/webhooks", &key).await?.json().await?;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains("whsec_"));

    let placed = order(store, &address("eva"), "Café");
    let raw = world.publish(store, placed.clone()).await?;
    world.publish_raw(&raw, OrderPlaced::DESTINATION).await?;
    world.wait_status(raw.id, "webhook", "sent").await;
    world.wait_status(raw.id, "email", "sent").await;
    world.publish_raw(&raw, OrderPlaced::DESTINATION).await?;

    let requests = eventually("the delivery", Duration::from_secs(20), || async {
        let r = one.requests();
        (!r.is_empty()).then_some(r)
    })
    .await;
    let (headers, body) = &requests[0];
    verify(&secret, headers, body).map_err(anyhow::Error::msg)?;
    assert_eq!(headers["webhook-id"], format!("msg_{}", raw.id.simple()));
    assert_eq!(headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(body)?;
    assert_eq!(body["type"], "checkout.OrderPlaced");
    assert_eq!(body["data"]["order_id"], placed.order_id.to_string());
    // A tampered body does not verify: the verifier can fail.
    assert!(verify(&secret, headers, b"{\"type\":\"forged\"}").is_err());
    assert!(two.requests().is_empty(), "not subscribed to OrderPlaced");

    // Rotation: the new secret signs, and the old one too for a while.
    let endpoint_id = first["id"].as_str().unwrap();
    let rotated: Value = world
        .http
        .post(format!(
            "{}/admin/webhooks/{endpoint_id}/rotate-secret",
            world.url
        ))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let next = world
        .publish(store, order(store, &address("fabio"), "Chá"))
        .await?;
    world.wait_status(next.id, "webhook", "sent").await;
    let all = one.requests();
    assert_eq!(all.len(), 2, "one delivery per event, duplicates included");
    let (headers, body) = &all[1];
    verify(new_secret, headers, body).map_err(anyhow::Error::msg)?;
    verify(&secret, headers, body).map_err(anyhow::Error::msg)?;

    // The log lists the delivery with its attempt.
    let deliveries: Value = world
        .get(
            &format!("/admin/deliveries?endpoint={endpoint_id}&status=sent"),
            &key,
        )
        .await?
        .json()
        .await?;
    let items = deliveries["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["attempts"][0]["status_code"], 200);
    assert_eq!(
        items[0]["attempts"][0]["response_excerpt"],
        "received by the test"
    );
    assert_eq!(second["event_types"], json!(["checkout.OrderConfirmed"]));
    assert!(two.requests().is_empty(), "still nothing it subscribed to");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_failing_endpoint_is_retried_then_disabled_and_its_merchant_told(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut config = config();
    config.webhook_disable_after = Duration::ZERO;
    config.webhook_disable_min_failures = 3;
    config.webhook_attempts = 5;
    let world = World::start(pool, config).await?;
    let store = Uuid::now_v7();
    let owner = address("owner");
    let key = world.store(store, "Loja", &owner).await?;
    let receiver = Receiver::start().await?;
    receiver.answer(StatusCode::INTERNAL_SERVER_ERROR);
    let created = endpoint(&world, &key, &receiver.url, &["checkout.OrderPlaced"]).await?;
    let id = created["id"].as_str().unwrap().to_owned();

    let raw = world
        .publish(store, order(store, &address("gil"), "Café"))
        .await?;
    world.wait_status(raw.id, "webhook", "dead").await;
    let endpoint: Value = world
        .get(&format!("/admin/webhooks/{id}"), &key)
        .await?
        .json()
        .await?;
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("attempts in a row"),
        "{endpoint}"
    );
    assert_eq!(
        receiver.requests().len(),
        3,
        "tried until the streak disabled it"
    );
    let notice = wait_for_mails(&owner, 2).await;
    assert!(
        notice
            .iter()
            .any(|m| m["subject"].as_str().unwrap().contains(&receiver.url)),
        "{notice:#?}"
    );
    let failed = eventually("NotificationFailed", Duration::from_secs(20), || async {
        world
            .seen
            .failed()
            .into_iter()
            .find(|f| f.channel == "webhook")
    })
    .await;
    assert_eq!(failed.recipient, id);

    let listed: Value = world
        .get(
            &format!("/admin/deliveries?endpoint={id}&status=dead"),
            &key,
        )
        .await?
        .json()
        .await?;
    let delivery = &listed["items"][0];
    let attempts = delivery["attempts"].as_array().unwrap();
    assert!(
        attempts.iter().take(3).all(|a| a["status_code"] == 500),
        "{attempts:?}"
    );
    let delivery_id = delivery["id"].as_str().unwrap();

    // Disabled: a resend is refused until the merchant enables it again.
    let refused = world
        .http
        .post(format!(
            "{}/admin/deliveries/{delivery_id}/resend",
            world.url
        ))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    receiver.answer(StatusCode::NO_CONTENT);
    let enabled = world
        .send_json(
            Method::PATCH,
            &format!("/admin/webhooks/{id}"),
            &key,
            &json!({"enabled": true}),
        )
        .await?;
    assert_eq!(enabled.status(), StatusCode::OK);
    let enabled: Value = enabled.json().await?;
    assert_eq!(enabled["consecutive_failures"], 0);
    let resent = world
        .http
        .post(format!(
            "{}/admin/deliveries/{delivery_id}/resend",
            world.url
        ))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    world.wait_status(raw.id, "webhook", "sent").await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(
        requests[3].0["webhook-id"], requests[0].0["webhook-id"],
        "a resend keeps its webhook-id, so the receiver can drop a duplicate"
    );
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn private_addresses_are_refused_at_registration_and_at_delivery(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut config = config();
    config.webhook_allow_private = false;
    let world = World::start(pool, config).await?;
    let store = Uuid::now_v7();
    let key = world.store(store, "Loja", &address("owner")).await?;
    for (url, why) in [
        ("http://example.com/hooks", "https"),
        ("https://127.0.0.1/hooks", "loopback"),
        ("https://localhost:8443/hooks", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://10.1.2.3/hooks", "private"),
        ("https://[fd00::1]/hooks", "private"),
        ("https://user:pw@example.com/hooks", "credentials"),
    ] {
        let response = world
            .send_json(
                Method::POST,
                "/admin/webhooks",
                &key,
                &json!({"url": url, "event_types": ["checkout.OrderPlaced"]}),
            )
            .await?;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let problem: Value = response.json().await?;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{url}: {problem}"
        );
    }
    let unknown_type = world
        .send_json(
            Method::POST,
            "/admin/webhooks",
            &key,
            &json!({"url": "https://example.com/h", "event_types": ["payments.charge"]}),
        )
        .await?;
    assert_eq!(unknown_type.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An endpoint whose address turned private after registration (as a DNS change would make
    // it) is refused when the delivery is made, without a request.
    let receiver = Receiver::start().await?;
    let endpoint_id = Uuid::now_v7();
    let mut tx = service_kit::tenant::begin_for(&world.app_pool, store).await?;
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, store_id, url, event_types, secret)
         VALUES ($1, $2, $3, ARRAY['checkout.OrderPlaced'], $4)",
    )
    .bind(endpoint_id)
    .bind(store)
    .bind(receiver.url.replace("http://", "https://"))
    .bind(notifications::signature::generate_secret())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let raw = world
        .publish(store, order(store, &address("hugo"), "Café"))
        .await?;
    world.wait_status(raw.id, "webhook", "dead").await;
    let reason: String = sqlx::query_scalar(
        "SELECT last_error FROM deliveries WHERE event_id = $1 AND channel = 'webhook'",
    )
    .bind(raw.id)
    .fetch_one(&world.pool)
    .await?;
    assert!(reason.contains("loopback"), "{reason}");
    assert!(receiver.requests().is_empty(), "no request reached it");
    let failed = eventually("NotificationFailed", Duration::from_secs(20), || async {
        world
            .seen
            .failed()
            .into_iter()
            .find(|f| f.channel == "webhook")
    })
    .await;
    assert!(failed.reason.contains("refused"), "{}", failed.reason);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_dead_endpoints_circuit_opens_and_other_endpoints_are_untouched(
    pool: PgPool,
) -> anyhow::Result<()> {
    let mut config = config();
    config.breaker_open_for = Duration::from_secs(60);
    let world = World::start(pool, config).await?;
    let store = Uuid::now_v7();
    let key = world.store(store, "Loja", &address("owner")).await?;
    let (dead, alive) = (Receiver::start().await?, Receiver::start().await?);
    dead.answer(StatusCode::SERVICE_UNAVAILABLE);
    let dead_id = endpoint(&world, &key, &dead.url, &["checkout.OrderPlaced"]).await?["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alive_id = endpoint(&world, &key, &alive.url, &["checkout.OrderPlaced"]).await?["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut events = Vec::new();
    for i in 0..3 {
        events.push(
            world
                .publish(store, order(store, &address(&format!("j{i}")), "Café"))
                .await?,
        );
    }
    let pool = world.pool.clone();
    let dead_uuid: Uuid = dead_id.parse()?;
    eventually(
        "the dead endpoint's deliveries to end",
        Duration::from_secs(30),
        || {
            let pool = pool.clone();
            async move {
                let statuses: Vec<String> =
                    sqlx::query_scalar("SELECT status FROM deliveries WHERE endpoint_id = $1")
                        .bind(dead_uuid)
                        .fetch_all(&pool)
                        .await
                        .ok()?;
                (statuses.len() == 3 && statuses.iter().all(|s| s == "dead")).then_some(())
            }
        },
    )
    .await;
    let listed: Value = world
        .get(&format!("/admin/deliveries?endpoint={dead_id}"), &key)
        .await?
        .json()
        .await?;
    let attempts: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["attempts"].as_array().unwrap())
        .collect();
    assert_eq!(attempts.len(), 12, "three deliveries, four attempts each");
    let fast: Vec<&&Value> = attempts
        .iter()
        .filter(|a| {
            a["error"]
                .as_str()
                .unwrap_or_default()
                .contains("circuit open")
        })
        .collect();
    assert!(!fast.is_empty(), "the circuit opened: {attempts:#?}");
    assert!(
        fast.iter().all(|a| a["status_code"].is_null()),
        "no request made"
    );
    let requests = dead.requests().len();
    assert!(requests >= 5, "five failures open it: {requests}");
    assert_eq!(
        requests + fast.len(),
        12,
        "each attempt is a request or a fast failure"
    );
    // The other endpoint got every event, once, its own circuit closed.
    for event in &events {
        world.wait_status(event.id, "email", "sent").await;
    }
    let alive_listed: Value = world
        .get(
            &format!("/admin/deliveries?endpoint={alive_id}&status=sent"),
            &key,
        )
        .await?
        .json()
        .await?;
    assert_eq!(alive_listed["items"].as_array().unwrap().len(), 3);
    assert_eq!(alive.requests().len(), 3);
    Ok(())
}

/// A retried registration or rotation with the same `Idempotency-Key` gets the first answer
/// (its secret included) and acts once; so a retried rotation never loses the secret the
/// receiver knows.
#[sqlx::test(migrations = false)]
async fn registrations_and_rotations_are_idempotent_by_key(pool: PgPool) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let store = Uuid::now_v7();
    let key = world.store(store, "Loja", &address("owner")).await?;
    let receiver = Receiver::start().await?;
    let register = |idempotency_key: &'static str, url: String| {
        world
            .http
            .post(format!("{}/admin/webhooks", world.url))
            .bearer_auth(&key)
            .header("idempotency-key", idempotency_key)
            .json(&json!({"url": url, "event_types": ["checkout.OrderPlaced"]}))
            .send()
    };
    let first = register("reg-1", receiver.url.clone()).await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await?;
    let again = register("reg-1", receiver.url.clone()).await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await?;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["secret"], first["secret"],
        "the sealed secret comes back"
    );
    let reused = register("reg-1", format!("{}?other", receiver.url)).await?;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let listed: Value = world.get("/admin/webhooks", &key).await?.json().await?;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys WHERE body::text LIKE '%whsec_%'",
    )
    .fetch_one(&world.pool)
    .await?;
    assert_eq!(stored, 0, "no secret in the clear");

    let id = first["id"].as_str().unwrap();
    let rotate = || {
        world
            .http
            .post(format!("{}/admin/webhooks/{id}/rotate-secret", world.url))
            .bearer_auth(&key)
            .header("idempotency-key", "rot-1")
            .send()
    };
    let rotated: Value = rotate().await?.json().await?;
    let repeated: Value = rotate().await?.json().await?;
    assert_eq!(rotated["secret"], repeated["secret"]);
    let original = first["secret"].as_str().unwrap();
    let new = rotated["secret"].as_str().unwrap();
    assert_ne!(original, new);
    let raw = world
        .publish(store, order(store, &address("lia"), "Café"))
        .await?;
    world.wait_status(raw.id, "webhook", "sent").await;
    let (headers, body) = receiver.requests().pop().unwrap();
    verify(new, &headers, &body).map_err(anyhow::Error::msg)?;
    verify(original, &headers, &body).map_err(anyhow::Error::msg)?;
    Ok(())
}
