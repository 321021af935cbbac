//! Custom domains are proven before they serve a store: a claim is pending until its TXT
//! record (`_summit-challenge.<domain>` = the token) is found through the test's own DNS
//! server.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::dns::DnsServer;
use crate::helpers::{App, app_pool, problem, spawn_with_dns};

impl App {
    async fn claim(&self, key: &str, domain: Option<&str>) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .put(self.at("/admin/store/domain"))
            .bearer_auth(key)
            .json(&json!({ "custom_domain": domain }))
            .send()
            .await?)
    }

    async fn domain(&self, key: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.at("/admin/store/domain"))
            .bearer_auth(key)
            .send()
            .await?)
    }

    async fn verify(&self, key: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .post(self.at("/admin/store/domain/verify"))
            .bearer_auth(key)
            .send()
            .await?)
    }

    async fn resolve(&self, host: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.at("/stores/resolve"))
            .query(&[("host", host)])
            .send()
            .await?)
    }

    /// The TXT record the store is asked to publish.
    async fn challenge(&self, key: &str) -> anyhow::Result<(String, String)> {
        let view: Value = self.domain(key).await?.json().await?;
        Ok((
            view["txt_record"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            view["txt_record"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    }
}

#[sqlx::test(migrations = false)]
async fn a_domain_resolves_only_after_its_txt_record_is_verified(
    pool: PgPool,
) -> anyhow::Result<()> {
    let dns = DnsServer::start().await?;
    let app = spawn_with_dns(pool, Some(dns.addr)).await?;
    let a = app.create_store("loja-a").await?;

    assert_eq!(
        app.claim(&a.key, Some("Shop.Example.com")).await?.status(),
        StatusCode::OK
    );
    let pending: Value = app.domain(&a.key).await?.json().await?;
    assert_eq!(pending["domain"], "shop.example.com");
    assert_eq!(pending["status"], "pending");
    assert_eq!(
        pending["txt_record"]["name"],
        "_summit-challenge.shop.example.com"
    );
    let token = pending["txt_record"]["value"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // At least 128 random bits, as hex.
    assert!(
        token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );

    // Pending: the domain serves no store, and nobody outside the store learns of it.
    problem(
        app.resolve("shop.example.com").await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    let public: Value = app.resolve("loja-a.summit.localhost").await?.json().await?;
    assert!(public["custom_domain"].is_null());
    // The same store by its slug (how checkout learns of a store before its event arrives).
    let by_slug: Value = app
        .http
        .get(app.at("/stores/resolve"))
        .query(&[("slug", "loja-a")])
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(by_slug, public);
    let none = app
        .http
        .get(app.at("/stores/resolve"))
        .query(&[("slug", "loja-nenhuma")])
        .send()
        .await?;
    problem(none, StatusCode::NOT_FOUND).await?;
    // A NUL (which Postgres text cannot hold) is bad input, not a server error.
    let nul = problem(
        app.resolve("loja\0a.summit.localhost").await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(nul["errors"][0]["field"], "host");
    let (_, last) = app.outbox().await?.pop().expect("an event");
    assert!(last["custom_domain"].is_null());

    // Nothing published yet: refused, naming what was found.
    let refused = problem(app.verify(&a.key).await?, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(refused["type"], "domain-not-verified");
    assert_eq!(refused["errors"][0]["field"], "custom_domain");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("NXDOMAIN"), "{detail}");
    assert!(
        detail.contains("_summit-challenge.shop.example.com"),
        "{detail}"
    );

    dns.publish_txt("_summit-challenge.shop.example.com", &token);
    let verified = app.verify(&a.key).await?;
    assert_eq!(verified.status(), StatusCode::OK);
    let verified: Value = verified.json().await?;
    assert_eq!(verified["status"], "verified");
    assert_eq!(verified["domain"], "shop.example.com");

    let resolved = app.resolve("shop.example.com:443").await?;
    assert_eq!(resolved.status(), StatusCode::OK);
    let resolved: Value = resolved.json().await?;
    assert_eq!(resolved["id"], a.body["id"]);
    assert_eq!(resolved["custom_domain"], "shop.example.com");
    let (kind, last) = app.outbox().await?.pop().expect("an event");
    assert_eq!(kind, "catalog.StoreUpdated");
    assert_eq!(last["custom_domain"], "shop.example.com");
    let me: Value = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(&a.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["custom_domain_status"], "verified");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_wrong_token_is_refused(pool: PgPool) -> anyhow::Result<()> {
    let dns = DnsServer::start().await?;
    let app = spawn_with_dns(pool, Some(dns.addr)).await?;
    let a = app.create_store("loja-a").await?;
    app.claim(&a.key, Some("shop.example.com")).await?;
    dns.publish_txt("_summit-challenge.shop.example.com", "not-the-token");

    let refused = problem(app.verify(&a.key).await?, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(refused["type"], "domain-not-verified");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("not-the-token"), "{detail}");

    let view: Value = app.domain(&a.key).await?.json().await?;
    assert_eq!(view["status"], "pending");
    problem(
        app.resolve("shop.example.com").await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_pending_claim_blocks_nobody_and_a_verified_domain_cannot_be_taken(
    pool: PgPool,
) -> anyhow::Result<()> {
    let dns = DnsServer::start().await?;
    let app = spawn_with_dns(pool, Some(dns.addr)).await?;
    let squatter = app.create_store("posseiro").await?;
    let owner = app.create_store("dona").await?;
    let latecomer = app.create_store("atrasada").await?;

    // The squatter claims first; the real owner can still claim, prove and take the domain.
    assert_eq!(
        app.claim(&squatter.key, Some("shop.example.com"))
            .await?
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.claim(&owner.key, Some("shop.example.com"))
            .await?
            .status(),
        StatusCode::OK
    );
    let (name, owner_token) = app.challenge(&owner.key).await?;
    let (_, squatter_token) = app.challenge(&squatter.key).await?;
    assert_ne!(owner_token, squatter_token);
    dns.publish_txt(&name, &owner_token);
    assert_eq!(app.verify(&owner.key).await?.status(), StatusCode::OK);

    // The squatter's token is not in the owner's DNS.
    problem(
        app.verify(&squatter.key).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    // Even with its token published too, a verified domain stays with its owner.
    dns.publish_txt(&name, &squatter_token);
    let taken = problem(app.verify(&squatter.key).await?, StatusCode::CONFLICT).await?;
    assert!(
        taken["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("another store")
    );
    problem(
        app.claim(&latecomer.key, Some("shop.example.com")).await?,
        StatusCode::CONFLICT,
    )
    .await?;
    let resolved: Value = app.resolve("shop.example.com").await?.json().await?;
    assert_eq!(resolved["id"], owner.body["id"]);

    // Given up, the domain is free for whoever proves it next.
    assert_eq!(app.claim(&owner.key, None).await?.status(), StatusCode::OK);
    problem(
        app.resolve("shop.example.com").await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    assert_eq!(app.verify(&squatter.key).await?.status(), StatusCode::OK);
    let resolved: Value = app.resolve("shop.example.com").await?.json().await?;
    assert_eq!(resolved["id"], squatter.body["id"]);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn a_store_sees_and_verifies_only_its_own_domain(pool: PgPool) -> anyhow::Result<()> {
    let dns = DnsServer::start().await?;
    let app = spawn_with_dns(pool, Some(dns.addr)).await?;
    let a = app.create_store("loja-a").await?;
    let b = app.create_store("loja-b").await?;
    app.claim(&a.key, Some("shop.example.com")).await?;
    let (name, token) = app.challenge(&a.key).await?;
    dns.publish_txt(&name, &token);

    // B has no domain: A's claim is nowhere in B's answers, and B cannot verify it.
    let none = problem(app.domain(&b.key).await?, StatusCode::NOT_FOUND).await?;
    assert!(!none.to_string().contains(&token));
    problem(app.verify(&b.key).await?, StatusCode::NOT_FOUND).await?;
    let b_view: Value = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(&b.key)
        .send()
        .await?
        .json()
        .await?;
    assert!(b_view["custom_domain"].is_null());
    problem(
        app.resolve("shop.example.com").await?,
        StatusCode::NOT_FOUND,
    )
    .await?;
    // Without a key, nothing.
    problem(
        app.http
            .post(app.at("/admin/store/domain/verify"))
            .send()
            .await?,
        StatusCode::UNAUTHORIZED,
    )
    .await?;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_periodic_recheck_verifies_published_claims(pool: PgPool) -> anyhow::Result<()> {
    let dns = DnsServer::start().await?;
    let app = spawn_with_dns(pool, Some(dns.addr)).await?;
    let a = app.create_store("loja-a").await?;
    let b = app.create_store("loja-b").await?;
    app.claim(&a.key, Some("a.example.com")).await?;
    app.claim(&b.key, Some("b.example.com")).await?;
    let (name, token) = app.challenge(&a.key).await?;
    dns.publish_txt(&name, &token);

    let as_app = app_pool(&app.pool).await?;
    let verified = catalog::custom_domain::recheck_pending(&as_app, &app.config, 10).await?;
    assert_eq!(verified, 1);
    let resolved: Value = app.resolve("a.example.com").await?.json().await?;
    assert_eq!(resolved["id"], a.body["id"]);
    problem(app.resolve("b.example.com").await?, StatusCode::NOT_FOUND).await?;
    let checked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stores WHERE custom_domain_checked_at IS NOT NULL",
    )
    .fetch_one(&app.pool)
    .await?;
    assert_eq!(checked, 2);
    Ok(())
}
