//! The operators' queue and service pages over real services: a poisoned message's queue shows
//! it parked; each service's readiness and outbox backlog, a service that is not running shown
//! as such — and looking at it opens no circuit for the shoppers.

use std::time::{Duration, Instant};

use crate::world::{OPS_TOKEN, Visitor, World};

/// The text of the `<td class="{class}">` in the row whose `{row_attr}` is `{row}`, tags
/// stripped.
fn cell(html: &str, row_attr: &str, row: &str, class: &str) -> Option<String> {
    let start = html.find(&format!("{row_attr}=\"{row}\""))?;
    let rest = &html[start..];
    let rest = &rest[..rest.find("</tr>")?];
    let td = rest.find(&format!("<td class=\"{class}\""))?;
    let body = &rest[td..];
    let body = &body[body.find('>')? + 1..body.find("</td>")?];
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(text.trim().to_owned())
}

async fn sign_in(operator: &mut Visitor, token: &str) -> anyhow::Result<()> {
    let csrf = operator.csrf().await?;
    let answer = operator
        .post("/ops/signin", &[("csrf", &csrf), ("token", token)])
        .await?;
    anyhow::ensure!(answer.status == 303, "sign-in: {}", answer.status);
    Ok(())
}

#[tokio::test]
async fn queues_show_depths_consumers_and_parked_failures() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut operator = world.visitor(&format!("127.0.0.1:{}", world.port()));

    // No session: the sign-in form; a wrong token: refused by ops.
    let page = operator.get("/ops/queues").await?;
    assert!(
        page.body.contains("action=\"/ops/signin\""),
        "{}",
        page.body
    );
    sign_in(&mut operator, "not-the-token").await?;
    assert_eq!(operator.get("/ops/queues").await?.status, 401);

    // A message catalog cannot read: catalog dead-letters it, ops parks it.
    let watcher = platform_tests::EventWatcher::start(&world.stack.vhost, "catalog.events").await?;
    let poison = bus::Outgoing {
        exchange: String::new(),
        routing_key: String::new(),
        message_id: uuid::Uuid::now_v7().to_string(),
        kind: "catalog.NoSuchCommand".into(),
        correlation_id: None,
        body: br#"{"not": "an envelope"}"#.to_vec(),
        headers: Default::default(),
        mandatory: true,
    }
    .to_queue("catalog.commands");
    watcher.bus().publisher().publish(&poison).await?;

    sign_in(&mut operator, OPS_TOKEN).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = operator.get("/ops/queues").await?;
        if cell(&page.body, "data-queue", "catalog.commands", "parked").as_deref() == Some("1") {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "catalog.commands never showed one parked: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("href=\"/ops?queue=catalog.commands\""),
        "the parked count links to its failures: {}",
        page.body
    );
    // Catalog consumes its commands; nothing waits and the dead letter went to ops.
    let consumers = cell(&page.body, "data-queue", "catalog.commands", "consumers").unwrap();
    assert!(consumers.parse::<u32>()? >= 1, "{consumers}");
    assert_eq!(
        cell(&page.body, "data-queue", "catalog.commands", "depth").as_deref(),
        Some("0")
    );
    assert_eq!(
        cell(&page.body, "data-queue", "catalog.commands", "dead-letters").as_deref(),
        Some("0")
    );
    // Notifications is not running in this world: its queues have no consumer.
    assert_eq!(
        cell(
            &page.body,
            "data-queue",
            "notifications.send-email",
            "consumers"
        )
        .as_deref(),
        Some("0"),
        "{}",
        page.body
    );
    watcher.close().await;
    world.stop().await
}

#[tokio::test]
async fn services_show_readiness_and_outbox_backlog_without_tripping_circuits() -> anyhow::Result<()>
{
    let world = World::start().await?;
    world.store("loja-ops", &[("Café", 1000)]).await?;
    let mut operator = world.visitor(&format!("127.0.0.1:{}", world.port()));

    let page = operator.get("/ops/services").await?;
    assert!(
        page.body.contains("action=\"/ops/signin\""),
        "{}",
        page.body
    );
    sign_in(&mut operator, "not-the-token").await?;
    assert_eq!(operator.get("/ops/services").await?.status, 401);
    sign_in(&mut operator, OPS_TOKEN).await?;

    // The running services: ready (or degraded) with their outbox figures. Polled, since a
    // loaded machine may keep one from answering within the page's wait.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = operator.get("/ops/services").await?;
        assert_eq!(page.status, 200, "{}", page.body);
        let all_answer = ["catalog", "checkout", "ops"].into_iter().all(|running| {
            let readiness = cell(&page.body, "data-service", running, "readiness").unwrap();
            let backlog = cell(&page.body, "data-service", running, "backlog").unwrap();
            (readiness.starts_with("ready") || readiness.starts_with("degraded"))
                && backlog.parse::<i64>().is_ok()
        });
        if all_answer {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running services never all answered: {}",
            page.body
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Notifications is not running in this world: said so, the rest of the page intact —
    // looked at more often than the breaker's three failures in a row.
    for _ in 0..4 {
        let page = operator.get("/ops/services").await?;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            cell(&page.body, "data-service", "notifications", "readiness").as_deref(),
            Some("unreachable"),
            "{}",
            page.body
        );
        assert!(
            cell(&page.body, "data-service", "notifications", "backlog")
                .is_some_and(|t| t.contains("no answer")),
            "{}",
            page.body
        );
    }
    // Observing a sick service left the shoppers' circuits closed.
    let health = operator.get("/health/ready").await?;
    let health: serde_json::Value = serde_json::from_str(&health.body)?;
    assert_eq!(health["status"], "ready", "{health}");
    world.stop().await
}
