//! One trace per order: the trace a shopper's `POST` starts in checkout continues through the
//! outbox, RabbitMQ and every consumer — catalog reserving stock, payments charging — so an
//! operator follows one order across services by one trace id.

use std::time::{Duration, Instant};

use platform_tests::{Database, binary};
use serde_json::{Value, json};
use testkit::{OtlpCollector, ServiceProcess, Vhost};

/// A service binary with a fresh database of its own, exporting its spans to `collector`.
async fn start(
    name: &str,
    vhost: &Vhost,
    collector: &OtlpCollector,
    extra: &[(&str, String)],
) -> anyhow::Result<(ServiceProcess, Database)> {
    let database = Database::create(name).await?;
    let mut env = vec![
        ("DATABASE_URL", database.url()),
        ("AMQP_URL", vhost.url()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        ("RUST_LOG", "info".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    let process = ServiceProcess::start(&binary(name)?, &env).await?;
    let ready = format!("{}/health/ready", process.url());
    eventually(Duration::from_secs(60), || async {
        Ok(reqwest::get(&ready)
            .await?
            .status()
            .is_success()
            .then_some(()))
    })
    .await?;
    Ok((process, database))
}

#[tokio::test]
async fn one_trace_follows_an_order_through_checkout_catalog_and_payments() -> anyhow::Result<()> {
    let collector = OtlpCollector::start().await?;
    let vhost = Vhost::create().await?;
    let sim = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_url = format!("http://{}/core/v5", sim.local_addr()?);
    let tokens_url = format!("{sim_url}/tokens?appId=pk_test_trace");
    tokio::spawn(payments::sim::Simulator::new().serve(sim));

    let (catalog, _catalog_db) = start("catalog", &vhost, &collector, &[]).await?;
    let (checkout, _checkout_db) = start(
        "checkout",
        &vhost,
        &collector,
        &[("CATALOG_URL", catalog.url())],
    )
    .await?;
    let prefix = format!("trace-test:{}", uuid::Uuid::now_v7());
    let (payments, _payments_db) = start(
        "payments",
        &vhost,
        &collector,
        &[
            ("PAGARME_BASE_URL", sim_url),
            ("PAGARME_SECRET_KEY", "sk_test_trace".to_owned()),
            ("GATEWAY_RATE_LIMIT_PREFIX", prefix),
        ],
    )
    .await?;

    let http = reqwest::Client::new();
    let slug = format!("trace-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let store =
        created(http.post(format!("{}/stores", catalog.url())).json(
            &json!({"name": "Loja Trace", "slug": slug, "contact_email": "trace@example.com"}),
        ))
        .await?;
    let key = store["admin_key"].as_str().unwrap_or_default().to_owned();
    let product = created(
        http.post(format!("{}/admin/products", catalog.url()))
            .bearer_auth(&key)
            .json(
                &json!({"name": "Café", "description": "", "sku": "CAFE-T", "price_minor": 1500,
                          "currency": "BRL", "stock": 5, "active": true}),
            ),
    )
    .await?;

    // The shopper's browser tokenizes the approved test card at the gateway.
    let token = created(
        http.post(&tokens_url)
            .json(&json!({"type": "card", "card": {
        "number": "4000000000000010", "holder_name": "Ana Souza",
        "exp_month": 12, "exp_year": 2030, "cvv": "123"}})),
    )
    .await?;
    // Checkout learns of the store and product from catalog's events.
    let order_url = format!("{}/stores/{slug}/orders", checkout.url());
    let body = json!({
        "lines": [{"product_id": product["id"], "quantity": 1}],
        "customer": {"name": "Ana Souza", "email": "ana@example.com"},
        "shipping_address": {"line1": "Rua A, 1", "city": "São Paulo", "state": "SP",
                             "postal_code": "01000-000", "country": "BR"},
        "payment": {"card_token": token["id"]}
    });
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let placed = eventually(Duration::from_secs(60), || async {
        let response = http
            .post(&order_url)
            .header("Idempotency-Key", &idempotency_key)
            .json(&body)
            .send()
            .await?;
        Ok((response.status() == 202).then_some(response.json::<Value>().await?))
    })
    .await
    .map_err(|e| e.context("order accepted"))?;
    let status_url = format!(
        "{}{}",
        checkout.url(),
        placed["status_url"].as_str().unwrap_or_default()
    );
    let last = std::sync::Mutex::new(Value::Null);
    eventually(Duration::from_secs(60), || async {
        let order: Value = http.get(&status_url).send().await?.json().await?;
        let confirmed = order["status"] == "confirmed";
        *last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = order;
        Ok(confirmed.then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("order confirmed: {e}; last seen: {:?}", last.lock()))?;

    // The POST's trace: the one checkout's request span for the order belongs to.
    let services = eventually(Duration::from_secs(30), || async {
        let spans = collector.spans();
        let posted = spans.iter().find(|s| {
            s.service == "checkout" && s.name.contains("POST") && s.name.contains("orders")
        });
        let Some(posted) = posted else {
            return Ok(None);
        };
        let mut services: Vec<String> = spans
            .iter()
            .filter(|s| s.trace_id == posted.trace_id)
            .map(|s| s.service.clone())
            .collect();
        services.sort();
        services.dedup();
        Ok((services.len() >= 3).then_some(services))
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}; spans: {:?}",
            collector
                .spans()
                .iter()
                .map(|s| (&s.service, &s.name, &s.trace_id[..8]))
                .collect::<Vec<_>>()
        )
    })?;
    assert_eq!(services, ["catalog", "checkout", "payments"]);
    drop((catalog, checkout, payments));
    Ok(())
}

/// Sends `request`; its JSON body when the answer is a success, else an error with the body.
async fn created(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(serde_json::from_str(&body)?)
}

/// Polls `check` until it yields a value, or fails after `limit`.
async fn eventually<T, F, Fut>(limit: Duration, check: F) -> anyhow::Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Ok(Some(value)) = check().await {
            return Ok(value);
        }
        anyhow::ensure!(start.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
