//! Bad input at the HTTP edge: every service's `/openapi.json` fuzzed with schemathesis
//! ([`platform_tests::schemathesis`]) against the real binary, authenticated where the API
//! needs it (a store's admin key learnt from catalog's events; ops' operator token). No 5xx,
//! and every answer — errors included, as problem+json — is one the document promises.

use std::time::Duration;

use platform_tests::edge::{StartedService, Store};
use platform_tests::schemathesis::Fuzz;
use testkit::Vhost;

/// Catalog with a store of the fuzzer's own; the admin routes are fuzzed with its key.
#[tokio::test]
async fn catalog_answers_every_fuzzed_request_as_its_document_says() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let catalog = StartedService::start("catalog", &vhost, &[]).await?;
    let store = Store::sign_up(&catalog, "fuzz-catalog").await?;
    let report = Fuzz::new(catalog.process.url())
        .bearer(&store.admin_key)
        // A rotated key locks the fuzzer out of every admin route after it.
        .exclude_path("/admin/store/rotate-key")
        .run()
        .await;
    catalog.stop().await?;
    report.map(drop)
}

/// A service whose merchant routes take the admin key of a store it learnt from catalog.
async fn fuzz_merchant_api(name: &str, env: &[(&str, String)], probe: &str) -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let catalog = StartedService::start("catalog", &vhost, &[]).await?;
    let mut env = env.to_vec();
    if name == "checkout" {
        env.push(("CATALOG_URL", catalog.process.url()));
    }
    let service = StartedService::start(name, &vhost, &env).await?;
    let store = Store::sign_up(&catalog, &format!("fuzz-{name}")).await?;
    store
        .wait_known_to(&service, probe, Duration::from_secs(30))
        .await?;
    let report = Fuzz::new(service.process.url())
        .bearer(&store.admin_key)
        .run()
        .await;
    service.stop().await?;
    catalog.stop().await?;
    report.map(drop)
}

#[tokio::test]
async fn checkout_answers_every_fuzzed_request_as_its_document_says() -> anyhow::Result<()> {
    fuzz_merchant_api("checkout", &[], "/admin/orders").await
}

#[tokio::test]
async fn payments_answers_every_fuzzed_request_as_its_document_says() -> anyhow::Result<()> {
    fuzz_merchant_api("payments", &[], "/admin/transactions").await
}

#[tokio::test]
async fn notifications_answers_every_fuzzed_request_as_its_document_says() -> anyhow::Result<()> {
    fuzz_merchant_api("notifications", &[], "/admin/settings").await
}

/// Ops with an operator token; its parking store is empty, so the fuzzer meets every "not
/// found" and validation path.
#[tokio::test]
async fn ops_answers_every_fuzzed_request_as_its_document_says() -> anyhow::Result<()> {
    let vhost = Vhost::create().await?;
    let token = format!("op_{}", uuid::Uuid::new_v4().simple());
    let ops = StartedService::start("ops", &vhost, &[("OPS_TOKEN", token.clone())]).await?;
    let report = Fuzz::new(ops.process.url()).bearer(&token).run().await;
    ops.stop().await?;
    report.map(drop)
}
