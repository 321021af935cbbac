//! The services the storefront stands on for its pages' data — catalog and checkout — started
//! as processes for one run, and a storefront's environment pointing at them. Shared by the
//! `it` tests (`world`, which adds payments, ops and the simulator) and `make bench-web`
//! (`benches/web.rs` includes this file with `#[path]`): one way to start the platform, not two.
//!
//! Invariants: each service gets a fresh database of its own (its own non-superuser role) and
//! the run's vhost; binaries come from beside the running test or bench
//! ([`platform_tests::binary`]: `target/debug` for tests, `target/release` for the bench);
//! [`Stack::stop`] kills the processes and drops every database in [`Stack::databases`].

use std::time::{Duration, Instant};

use platform_tests::Database;
use serde_json::{Value, json};
use testkit::{ServiceProcess, Vhost};

/// Catalog and checkout on one vhost, and the databases to drop at the end.
pub struct Stack {
    pub vhost: Vhost,
    /// Every database this run made (callers that start more services push theirs here).
    pub databases: Vec<Database>,
    pub catalog: ServiceProcess,
    pub checkout: ServiceProcess,
}

/// Starts the binary `name` (built beside the running target) with `env` and `PORT=0`.
pub async fn start(name: &str, env: Vec<(&str, String)>) -> anyhow::Result<ServiceProcess> {
    ServiceProcess::start(&platform_tests::binary(name)?, &env).await
}

/// Polls `check` every 100 ms until it gives a value, failing after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        anyhow::ensure!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `process` says `ready` on `/health/ready` — not `degraded`: a service is
/// degraded until its broker topology is declared, and an event published before its queue is
/// bound never reaches it (a store's key, say, that payments would then never learn).
pub async fn wait_ready(process: &ServiceProcess) -> anyhow::Result<()> {
    let url = format!("{}/health/ready", process.url());
    eventually(&format!("{url} ready"), Duration::from_secs(90), || async {
        let body: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
        (body["status"] == "ready").then_some(())
    })
    .await
}

/// A service's environment: its database, the run's broker, quiet logs.
pub fn service_env(database: &Database, amqp_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database.url()),
        ("AMQP_URL", amqp_url.to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
}

impl Stack {
    /// A vhost, then catalog (with `catalog_env` besides its own) and checkout (asking catalog
    /// for stores it has not heard of yet), both ready.
    pub async fn start(catalog_env: Vec<(&'static str, String)>) -> anyhow::Result<Self> {
        let vhost = Vhost::create().await?;
        let catalog_db = Database::create("catalog").await?;
        let checkout_db = Database::create("checkout").await?;
        let mut env = service_env(&catalog_db, &vhost.url());
        env.extend(catalog_env);
        let catalog = start("catalog", env).await?;
        let mut env = service_env(&checkout_db, &vhost.url());
        env.push(("CATALOG_URL", catalog.url()));
        let checkout = start("checkout", env).await?;
        for process in [&catalog, &checkout] {
            wait_ready(process).await?;
        }
        Ok(Self {
            vhost,
            databases: vec![catalog_db, checkout_db],
            catalog,
            checkout,
        })
    }

    /// A storefront's environment for this stack (callers add payments, ops and the rest).
    pub fn storefront_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CATALOG_URL", self.catalog.url()),
            ("CHECKOUT_URL", self.checkout.url()),
            ("RUST_LOG", "warn".to_owned()),
        ]
    }

    /// Creates a store at catalog (its admin key back) with `products` (name, price_minor),
    /// each active with 50 in stock; the products' ids in order.
    pub async fn store(
        &self,
        slug: &str,
        products: &[(&str, i64)],
    ) -> anyhow::Result<(String, Vec<String>)> {
        let http = reqwest::Client::new();
        let store: Value = http
            .post(format!("{}/stores", self.catalog.url()))
            .json(&json!({"name": format!("Loja {slug}"), "slug": slug, "contact_email": "dono@example.com"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let key = store["admin_key"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no admin_key in {store}"))?
            .to_owned();
        let mut ids = Vec::new();
        for (i, (name, price)) in products.iter().enumerate() {
            let product: Value = http
                .post(format!("{}/admin/products", self.catalog.url()))
                .bearer_auth(&key)
                .json(&json!({"name": name, "description": "Do sul de Minas", "sku": format!("SKU-{i}"),
                              "price_minor": price, "currency": "BRL", "stock": 50, "active": true}))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            ids.push(
                product["id"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no id in {product}"))?
                    .to_owned(),
            );
        }
        Ok((key, ids))
    }

    /// Kills catalog and checkout, drops every database of the run, then the vhost.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Self {
            vhost,
            mut databases,
            mut catalog,
            mut checkout,
        } = self;
        for process in [&mut checkout, &mut catalog] {
            let _ = process.kill().await;
        }
        for database in &mut databases {
            database.drop_now().await?;
        }
        drop(vhost);
        Ok(())
    }
}
