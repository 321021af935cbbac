//! Mail from events, read back from the SMTP sink: one mail per event however often the event
//! arrives, in the store's language with its name and logo, escaped where it must be, and the
//! merchant's own templates (a broken one falls back to the default).

use std::time::Duration;

use contracts::Contract;
use contracts::checkout::{OrderCancelled, OrderConfirmed, OrderPlaced};
use contracts::payments::{PaymentFacts, PaymentPendingOffline};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{World, address, config, eventually, header, mails_to, order, wait_for_mails};

#[sqlx::test(migrations = false)]
async fn an_order_mails_its_shopper_once_per_event_under_duplicates_and_replays(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let store = Uuid::now_v7();
    let contact = address("owner");
    let key = world.store(store, "Café do Zé", &contact).await?;
    world
        .update_store(
            store,
            "Café do Zé",
            &key,
            "https://cdn.example.com/cafe.png",
        )
        .await?;

    // The welcome mail: the contact, the temporary domain, how to reach the admin.
    let welcome = wait_for_mails(&contact, 1).await;
    assert_eq!(welcome.len(), 1);
    assert!(
        welcome[0]["subject"]
            .as_str()
            .unwrap()
            .contains("Bem-vindo")
    );
    let text = welcome[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("loja-{}.summit.localhost", store.simple())),
        "{text}"
    );
    assert!(text.contains("/admin"), "{text}");

    let shopper = address("ana");
    let placed = order(store, &shopper, "<script>alert('x')</script> Café");
    let raw = world.publish(store, placed.clone()).await?;
    // The same event again at once (a broker redelivery, a relay publishing twice).
    world.publish_raw(&raw, OrderPlaced::DESTINATION).await?;
    let mails = wait_for_mails(&shopper, 1).await;
    world.wait_status(raw.id, "email", "sent").await;
    // And once more after it was sent, a replay after the inbox forgot it (trimmed): the
    // delivery log's unique key still lets nothing through. Its new inbox row shows it was
    // consumed.
    sqlx::query("DELETE FROM inbox WHERE message_id = $1")
        .bind(raw.id)
        .execute(&world.pool)
        .await?;
    world.publish_raw(&raw, OrderPlaced::DESTINATION).await?;

    let confirmed = world
        .publish(
            store,
            OrderConfirmed {
                order_id: placed.order_id,
                store_id: store,
            },
        )
        .await?;
    let mails_after = wait_for_mails(&shopper, 2).await;
    world.wait_status(confirmed.id, "email", "sent").await;
    // Let the replayed copy be consumed (its inbox row again is the proof), then count.
    let pool = world.pool.clone();
    eventually("the replay to be seen", Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox WHERE message_id = $1")
                .bind(raw.id)
                .fetch_one(&pool)
                .await
                .ok()?;
            (n >= 1).then_some(())
        }
    })
    .await;
    let all = mails_to(&shopper).await?;
    assert_eq!(all.len(), 2, "one mail per event: {all:#?}");
    assert_eq!(mails_after.len(), 2);
    assert_eq!(
        world.deliveries_of(raw.id).await?,
        [("email".into(), "order_received".into(), "sent".into())]
    );

    let received = all
        .iter()
        .find(|m| m["subject"].as_str().unwrap().starts_with("Recebemos"))
        .unwrap();
    // Message-ID from the event id and the recipient: the same for any duplicate.
    assert_eq!(
        header(received, "message-id"),
        Some(
            notifications::mail::message_id(
                raw.id,
                &shopper,
                notifications::mail::Kind::OrderReceived
            )
            .as_str()
        )
    );
    let html = received["html"].as_str().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(html.contains("Café do Zé"), "the store's name: {html}");
    assert!(
        // HTML-escaped in its attribute (`/` is `&#x2f;`), which is how browsers read it.
        html.contains("<img src=\"https:&#x2f;&#x2f;cdn.example.com&#x2f;cafe.png\""),
        "the store's logo: {html}"
    );
    assert!(html.contains("R$ 49,80"), "{html}");
    let text = received["text"].as_str().unwrap();
    assert!(
        text.contains("<script>alert('x')</script> Café"),
        "plain text is plain: {text}"
    );
    assert!(mails[0]["from"][0]["name"].as_str() == Some("Café do Zé"));
    assert!(
        all.iter()
            .any(|m| m["subject"].as_str().unwrap().contains("confirmado")),
        "{all:#?}"
    );
    assert_eq!(world.seen.failed().len(), 0);
    let sent_to = eventually("NotificationSent", Duration::from_secs(20), || async {
        let sent = world.seen.sent();
        (sent.iter().filter(|s| s.recipient == shopper).count() == 2).then_some(sent)
    })
    .await;
    assert!(sent_to.iter().all(|s| s.channel == "email"));
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn each_store_writes_in_its_language_and_cancellations_say_why_in_words(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let (pt_store, en_store) = (Uuid::now_v7(), Uuid::now_v7());
    world
        .store(pt_store, "Loja Brasil", &address("pt-owner"))
        .await?;
    let en_key = world
        .store(en_store, "English Shop", &address("en-owner"))
        .await?;
    let set = world
        .send_json(
            Method::PUT,
            "/admin/settings",
            &en_key,
            &json!({"language": "en"}),
        )
        .await?;
    assert_eq!(set.status(), StatusCode::OK);

    let (pt_shopper, en_shopper) = (address("bia"), address("bob"));
    for (store, shopper) in [(pt_store, &pt_shopper), (en_store, &en_shopper)] {
        let placed = order(store, shopper, "Coffee");
        world.publish(store, placed.clone()).await?;
        world
            .publish(
                store,
                OrderCancelled {
                    order_id: placed.order_id,
                    store_id: store,
                    reason: "payment_declined".into(),
                },
            )
            .await?;
        world
            .publish(
                store,
                PaymentPendingOffline {
                    payment: PaymentFacts {
                        payment_id: Uuid::now_v7(),
                        order_id: placed.order_id,
                        store_id: store,
                        amount_minor: 4_980,
                        currency: "BRL".into(),
                    },
                },
            )
            .await?;
    }
    let pt = wait_for_mails(&pt_shopper, 3).await;
    let en = wait_for_mails(&en_shopper, 3).await;
    let subjects = |mails: &[Value]| -> Vec<String> {
        let mut s: Vec<String> = mails
            .iter()
            .map(|m| m["subject"].as_str().unwrap().to_owned())
            .collect();
        s.sort();
        s
    };
    let pt_subjects = subjects(&pt);
    let en_subjects = subjects(&en);
    assert!(
        pt_subjects.iter().any(|s| s.starts_with("Recebemos")),
        "{pt_subjects:?}"
    );
    assert!(
        pt_subjects.iter().any(|s| s.contains("cancelado")),
        "{pt_subjects:?}"
    );
    assert!(
        pt_subjects.iter().any(|s| s.contains("demorando")),
        "{pt_subjects:?}"
    );
    assert!(
        en_subjects.iter().any(|s| s.starts_with("We received")),
        "{en_subjects:?}"
    );
    assert!(
        en_subjects.iter().any(|s| s.contains("cancelled")),
        "{en_subjects:?}"
    );
    assert!(
        en_subjects.iter().any(|s| s.contains("longer")),
        "{en_subjects:?}"
    );

    let cancelled = en
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("cancelled"))
        .unwrap();
    let text = cancelled["text"].as_str().unwrap();
    assert!(text.contains("card issuer declined"), "{text}");
    assert!(
        !text.contains("payment_declined"),
        "words, not codes: {text}"
    );
    let cancelado = pt
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("cancelado"))
        .unwrap();
    assert!(cancelado["text"].as_str().unwrap().contains("recusado"));
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn merchants_templates_are_checked_on_save_and_used_and_a_broken_one_falls_back(
    pool: PgPool,
) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let store = Uuid::now_v7();
    let key = world
        .store(store, "Loja Própria", &address("owner"))
        .await?;

    let listed: Value = world.get("/admin/templates", &key).await?.json().await?;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 12, "six kinds in two languages");
    assert!(items.iter().all(|i| i["custom"] == false));

    let broken = world
        .send_json(
            Method::PUT,
            "/admin/templates/order_received",
            &key,
            &json!({"subject": "Pedido", "html": "<p>ok</p>\n{% if order %}\n<p>{{ order.number }</p>", "text": "x"}),
        )
        .await?;
    assert_eq!(broken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = broken.json().await?;
    assert_eq!(problem["errors"][0]["field"], "html");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("line 3: syntax error"), "{message}");

    let runaway = world
        .send_json(
            Method::PUT,
            "/admin/templates/order_received",
            &key,
            &json!({"subject": "Pedido", "text": "x",
                    "html": "{% for a in range(9999) %}{% for b in range(9999) %}.{% endfor %}{% endfor %}"}),
        )
        .await?;
    assert_eq!(runaway.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let own = world
        .send_json(
            Method::PUT,
            "/admin/templates/order_received",
            &key,
            &json!({"language": "pt",
                    "subject": "Oba! Pedido {{ order.number }} na {{ store.name }}",
                    "html": "<h1>Valeu!</h1>{% for l in order.lines %}<p>{{ l.name }}</p>{% endfor %}",
                    "text": "Valeu! {{ order.total }}"}),
        )
        .await?;
    assert_eq!(own.status(), StatusCode::OK);
    let listed: Value = world.get("/admin/templates", &key).await?.json().await?;
    let custom: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["custom"] == true)
        .collect();
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0]["kind"], "order_received");

    let shopper = address("caio");
    let placed = order(store, &shopper, "<b>Bolo</b>");
    world.publish(store, placed.clone()).await?;
    let mails = wait_for_mails(&shopper, 1).await;
    let subject = mails[0]["subject"].as_str().unwrap();
    assert!(
        subject.starts_with("Oba! Pedido ") && subject.ends_with("na Loja Própria"),
        "{subject}"
    );
    let html = mails[0]["html"].as_str().unwrap();
    assert!(
        html.contains("<p>&lt;b&gt;Bolo&lt;"),
        "merchant templates escape too: {html}"
    );
    assert!(mails[0]["text"].as_str().unwrap().contains("R$ 49,80"));

    // A template that breaks only at send time (saved behind the API's back): the default
    // goes out instead, once.
    sqlx::query(
        "INSERT INTO templates (store_id, kind, language, subject, html, text)
         VALUES ($1, 'order_confirmed', 'pt', 'x', '{{ order.total | no_such_filter }}', 'x')",
    )
    .bind(store)
    .execute(&world.pool)
    .await?;
    let confirmed = world
        .publish(
            store,
            OrderConfirmed {
                order_id: placed.order_id,
                store_id: store,
            },
        )
        .await?;
    let mails = wait_for_mails(&shopper, 2).await;
    world.wait_status(confirmed.id, "email", "sent").await;
    assert!(
        mails
            .iter()
            .any(|m| m["subject"].as_str().unwrap().contains("confirmado")),
        "the default: {mails:#?}"
    );
    assert_eq!(mails_to(&shopper).await?.len(), 2);

    // Back to the default.
    let reset = world
        .http
        .delete(format!(
            "{}/admin/templates/order_received?language=pt",
            world.url
        ))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    let unknown = world
        .send_json(
            Method::PUT,
            "/admin/templates/nope",
            &key,
            &json!({"subject": "s", "html": "h", "text": "t"}),
        )
        .await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    Ok(())
}

/// A shopper's event that comes before its order or store is retried, not lost.
#[sqlx::test(migrations = false)]
async fn an_event_that_overtakes_its_order_waits_for_it(pool: PgPool) -> anyhow::Result<()> {
    let world = World::start(pool, config()).await?;
    let store = Uuid::now_v7();
    world.store(store, "Loja", &address("owner")).await?;
    let shopper = address("dora");
    let placed = order(store, &shopper, "Chá");
    let confirmed = world
        .publish(
            store,
            OrderConfirmed {
                order_id: placed.order_id,
                store_id: store,
            },
        )
        .await?;
    // Not known yet: retried (an outbox row scheduled), nothing logged.
    let pool = world.pool.clone();
    eventually("the retry to be scheduled", Duration::from_secs(20), || {
        let pool = pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_id = $1")
                .bind(confirmed.id)
                .fetch_one(&pool)
                .await
                .ok()?;
            (n >= 1).then_some(())
        }
    })
    .await;
    assert!(world.deliveries_of(confirmed.id).await?.is_empty());
    world.publish(store, placed).await?;
    world.wait_status(confirmed.id, "email", "sent").await;
    let mails = wait_for_mails(&shopper, 2).await;
    assert_eq!(mails.len(), 2);
    Ok(())
}
