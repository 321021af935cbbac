//! One service binary at a time, for the tests of bad input at the edges (API fuzzing, hostile
//! messages): started through testkit's [`ServiceProcess`] with only the environment named here,
//! against a fresh database of its own (its own non-superuser role, as in production) and the
//! test's vhost; plus a store signed up at catalog, whose admin key the other services learn
//! from catalog's events.
//!
//! Invariants: a [`StartedService`] is killed when dropped and its database is dropped by
//! [`StartedService::stop`]; [`StartedService::wait_ready`] returns only once every dependency
//! answers (`ready`, not `degraded`), so a test never races a service's migrations or topology.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use testkit::{ServiceProcess, Vhost};

use crate::{Database, binary};

/// A service binary running for one test, with the database it was given.
pub struct StartedService {
    pub name: String,
    pub process: ServiceProcess,
    database: Database,
}

impl StartedService {
    /// Starts `name` on port 0 with a fresh database, the broker at `vhost`, and `env`.
    pub async fn start(name: &str, vhost: &Vhost, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let database = Database::create(name).await?;
        let mut all = vec![
            ("DATABASE_URL", database.url()),
            ("AMQP_URL", vhost.url()),
            ("RUST_LOG", "info".to_owned()),
        ];
        all.extend(env.iter().cloned());
        let process = ServiceProcess::start(&binary(name)?, &all).await?;
        let service = Self {
            name: name.to_owned(),
            process,
            database,
        };
        service.wait_ready(Duration::from_secs(90)).await?;
        Ok(service)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.process.url())
    }

    /// The name of its database (also its role's).
    pub fn database_name(&self) -> &str {
        &self.database.name
    }

    /// Waits until `/health/ready` says `ready`.
    pub async fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client.get(self.url("/health/ready")).send().await
                && let Ok(body) = response.json::<Value>().await
                && body["status"] == "ready"
            {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "{} not ready within {limit:?} (log: {})",
                    self.name,
                    self.process.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the process and drops its database and role.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.process.kill().await?;
        self.database.drop_now().await
    }
}

/// A store made at catalog: its id and the admin key shown once.
pub struct Store {
    pub id: uuid::Uuid,
    pub slug: String,
    pub admin_key: String,
}

impl Store {
    /// Signs a store up at `catalog` (`POST /stores`).
    pub async fn sign_up(catalog: &StartedService, slug: &str) -> anyhow::Result<Self> {
        let response = reqwest::Client::new()
            .post(catalog.url("/stores"))
            .json(&json!({"name": format!("Loja {slug}"), "slug": slug,
                          "contact_email": "merchant@example.com"}))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if status != 201 {
            bail!("signing up {slug}: HTTP {status} {body}");
        }
        Ok(Self {
            id: body["id"].as_str().context("store id")?.parse()?,
            slug: slug.to_owned(),
            admin_key: body["admin_key"].as_str().context("admin key")?.to_owned(),
        })
    }

    /// Waits until `service` accepts this store's admin key at `path` (it learns the key's hash
    /// from catalog's StoreCreated event).
    pub async fn wait_known_to(
        &self,
        service: &StartedService,
        path: &str,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        let client = reqwest::Client::new();
        loop {
            let response = client
                .get(service.url(path))
                .bearer_auth(&self.admin_key)
                .send()
                .await?;
            if response.status() == 200 {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "{} did not learn store {} within {limit:?}: GET {path} answers {}",
                    service.name,
                    self.slug,
                    response.status()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
