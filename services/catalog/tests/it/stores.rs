//! Creating stores, their keys, domains and logos.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{problem, spawn};

#[sqlx::test(migrations = false)]
async fn a_store_is_created_with_a_key_shown_once(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("cafe-do-ze").await?;
    assert_eq!(m.body["slug"], "cafe-do-ze");
    assert_eq!(m.body["name"], "Loja cafe-do-ze");
    assert_eq!(m.body["temporary_domain"], "cafe-do-ze.summit.localhost");
    assert!(m.key.starts_with("sk_") && m.key.len() > 40);

    // Kept only as a hash, and the hash is what StoreCreated carries.
    let hash: String = sqlx::query_scalar("SELECT admin_key_hash FROM stores")
        .fetch_one(&app.pool)
        .await?;
    assert_eq!(hash, catalog::admin_key::hash(&m.key));
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM stores WHERE row_to_json(stores)::text LIKE '%' || $1 || '%'",
    )
    .bind(&m.key)
    .fetch_one(&app.pool)
    .await?;
    assert_eq!(leaked, 0);
    let events = app.outbox().await?;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "catalog.StoreCreated");
    assert_eq!(events[0].1["admin_key_hash"], hash);
    assert_eq!(events[0].1["store_id"], m.body["id"]);
    assert!(!events[0].1.to_string().contains(&m.key));

    // The key opens the store's admin; the store's view never shows a key again.
    let me: Value = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["id"], m.body["id"]);
    assert!(me.get("admin_key").is_none());
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn slugs_follow_the_rules_and_refusals_change_nothing(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    app.create_store("loja-boa").await?;
    let post = |body: Value| app.http.post(app.at("/stores")).json(&body).send();
    let valid = |slug: &str| json!({"name": "X", "slug": slug, "contact_email": "a@b.co"});

    let taken = problem(post(valid("loja-boa")).await?, StatusCode::CONFLICT).await?;
    assert!(
        taken["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("taken")
    );
    for bad in ["www", "admin", "api", "Loja", "ab", "loja_boa", "-loja"] {
        let body = problem(post(valid(bad)).await?, StatusCode::UNPROCESSABLE_ENTITY).await?;
        assert_eq!(body["errors"][0]["field"], "slug", "{bad}");
    }
    let email = problem(
        post(json!({"name": "X", "slug": "outra", "contact_email": "nope"})).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(email["errors"][0]["field"], "contact_email");
    let unknown = problem(
        post(json!({"name": "X", "slug": "outra", "contact_email": "a@b.co", "plan": "gold"}))
            .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(unknown["errors"][0]["field"], "plan");
    let missing = problem(
        post(json!({"name": "X", "slug": "outra"})).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(missing["errors"][0]["field"], "contact_email");
    let malformed = app
        .http
        .post(app.at("/stores"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await?;
    problem(malformed, StatusCode::BAD_REQUEST).await?;
    let huge = app
        .http
        .post(app.at("/stores"))
        .json(&json!({"name": "x".repeat(20_000), "slug": "grande", "contact_email": "a@b.co"}))
        .send()
        .await?;
    problem(huge, StatusCode::PAYLOAD_TOO_LARGE).await?;

    assert_eq!(app.count("stores").await?, 1);
    assert_eq!(app.count("outbox").await?, 1);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn rotating_the_key_retires_the_old_one(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("rotativa").await?;
    let rotated: Value = app
        .http
        .post(app.at("/admin/store/rotate-key"))
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    let new_key = rotated["admin_key"].as_str().unwrap_or_default().to_owned();
    assert!(new_key.starts_with("sk_"));
    assert_ne!(new_key, m.key);

    let old = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(&m.key)
        .send()
        .await?;
    problem(old, StatusCode::UNAUTHORIZED).await?;
    let new = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(&new_key)
        .send()
        .await?;
    assert_eq!(new.status(), StatusCode::OK);

    let events = app.outbox().await?;
    let (kind, updated) = events.last().expect("an event");
    assert_eq!(kind, "catalog.StoreUpdated");
    assert_eq!(
        updated["admin_key_hash"],
        catalog::admin_key::hash(&new_key)
    );
    assert_eq!(updated["version"], 2);
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_language_is_set_published_and_checked(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("idiomas").await?;
    assert_eq!(m.body["language"], "pt-BR");
    let put = |body: Value| {
        app.http
            .put(app.at("/admin/store/language"))
            .bearer_auth(&m.key)
            .json(&body)
            .send()
    };
    let set: Value = put(json!({"language": "en"})).await?.json().await?;
    assert_eq!(set["language"], "en");
    assert_eq!(set["version"], 2);
    let resolved: Value = app
        .http
        .get(app.at("/stores/resolve?slug=idiomas"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(resolved["language"], "en", "the shop speaks it at once");
    let (kind, updated) = app.outbox().await?.pop().expect("an event");
    assert_eq!(kind, "catalog.StoreUpdated");
    assert_eq!(
        (updated["language"].clone(), updated["version"].clone()),
        (json!("en"), json!(2))
    );

    // The same language again: no new version, no event.
    let again: Value = put(json!({"language": "en"})).await?.json().await?;
    assert_eq!(again["version"], 2);
    assert_eq!(app.count("outbox").await?, 2);

    let refused = problem(
        put(json!({"language": "fr"})).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    assert_eq!(refused["errors"][0]["field"], "language", "{refused}");
    problem(
        put(json!({"idioma": "en"})).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?;
    let anonymous = app
        .http
        .put(app.at("/admin/store/language"))
        .json(&json!({"language": "en"}))
        .send()
        .await?;
    problem(anonymous, StatusCode::UNAUTHORIZED).await?;
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn custom_domains_are_hostnames_and_start_pending(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let a = app.create_store("loja-a").await?;
    let put = |body: Value| {
        app.http
            .put(app.at("/admin/store/domain"))
            .bearer_auth(&a.key)
            .json(&body)
            .send()
    };

    let set = put(json!({"custom_domain": "Shop.Example.com"})).await?;
    assert_eq!(set.status(), StatusCode::OK);
    let view: Value = set.json().await?;
    assert_eq!(view["custom_domain"], "shop.example.com");
    assert_eq!(view["custom_domain_status"], "pending");
    for bad in [
        json!({"custom_domain": "not a host"}),
        json!({"custom_domain": "x.summit.localhost"}),
        json!({}),
    ] {
        let body = problem(put(bad).await?, StatusCode::UNPROCESSABLE_ENTITY).await?;
        assert_eq!(body["errors"][0]["field"], "custom_domain");
    }
    // Claiming the same domain again changes nothing.
    assert_eq!(
        put(json!({"custom_domain": "shop.example.com"}))
            .await?
            .status(),
        StatusCode::OK
    );

    let kinds: Vec<String> = app.outbox().await?.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "catalog.StoreUpdated")
            .count(),
        1
    );
    Ok(())
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

#[sqlx::test(migrations = false)]
async fn logos_are_sniffed_capped_and_served_with_etags(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let m = app.create_store("logotipo").await?;
    let put = |bytes: Vec<u8>, claimed: &'static str| {
        app.http
            .put(app.at("/admin/store/logo"))
            .bearer_auth(&m.key)
            .header("content-type", claimed)
            .body(bytes)
            .send()
    };

    // The header lies; the bytes decide.
    let stored = put(PNG.to_vec(), "image/jpeg").await?;
    assert_eq!(stored.status(), StatusCode::OK);
    let view: Value = stored.json().await?;
    let logo_url = view["logo_url"].as_str().expect("a logo url").to_owned();
    assert!(logo_url.starts_with(&app.url));

    let served = app.http.get(&logo_url).send().await?;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["cache-control"]
            .to_str()?
            .contains("max-age")
    );
    let etag = served.headers()["etag"].to_str()?.to_owned();
    assert_eq!(served.bytes().await?.as_ref(), PNG);
    let revalidated = app
        .http
        .get(&logo_url)
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    let resolved: Value = app
        .http
        .get(app.at("/stores/resolve?host=logotipo.summit.localhost"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(resolved["logo_url"], logo_url);

    // HTML dressed as a PNG, and an image over the cap, are refused and change nothing.
    problem(
        put(b"<html><script>alert(1)</script>".to_vec(), "image/png").await?,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await?;
    let mut big = PNG.to_vec();
    big.resize(app.config.logo_max_bytes + 1, 0);
    problem(put(big, "image/png").await?, StatusCode::PAYLOAD_TOO_LARGE).await?;
    let unauthorized = app
        .http
        .put(app.at("/admin/store/logo"))
        .body(PNG.to_vec())
        .send()
        .await?;
    problem(unauthorized, StatusCode::UNAUTHORIZED).await?;
    let still: Value = app
        .http
        .get(app.at("/admin/store"))
        .bearer_auth(&m.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(still["logo_url"], logo_url);
    let kinds: Vec<String> = app.outbox().await?.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["catalog.StoreCreated", "catalog.StoreUpdated"]);
    let events = app.outbox().await?;
    assert_eq!(events[1].1["logo_url"], logo_url);
    Ok(())
}

/// A store speaks `pt-BR` unless created with `en`; its language travels in StoreCreated and
/// StoreUpdated so checkout and notifications write in it; any other language is refused and
/// creates nothing.
#[sqlx::test(migrations = false)]
async fn a_stores_language_is_chosen_at_creation_and_announced(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let portuguese = app.create_store("padaria").await?;
    assert_eq!(portuguese.body["language"], "pt-BR");
    let response = app
        .http
        .post(app.at("/stores"))
        .json(&json!({"name": "Bakery", "slug": "bakery", "contact_email": "owner@example.com", "language": "en"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let english: Value = response.json().await?;
    assert_eq!(english["language"], "en");
    let key = english["admin_key"].as_str().unwrap_or_default().to_owned();
    let rotated = app
        .http
        .post(app.at("/admin/store/rotate-key"))
        .bearer_auth(&key)
        .send()
        .await?;
    assert!(rotated.status().is_success(), "{}", rotated.text().await?);

    let events = app.outbox().await?;
    let languages: Vec<(String, Value)> = events
        .iter()
        .filter(|(kind, _)| kind.starts_with("catalog.Store"))
        .map(|(kind, payload)| (kind.clone(), payload["language"].clone()))
        .collect();
    assert_eq!(
        languages,
        [
            ("catalog.StoreCreated".to_owned(), json!("pt-BR")),
            ("catalog.StoreCreated".to_owned(), json!("en")),
            ("catalog.StoreUpdated".to_owned(), json!("en")),
        ]
    );

    let before = app.count("stores").await?;
    let refused = app
        .http
        .post(app.at("/stores"))
        .json(&json!({"name": "Boulangerie", "slug": "boulangerie", "contact_email": "a@example.com", "language": "fr"}))
        .send()
        .await?;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await?;
    assert_eq!(body["errors"][0]["field"], "language");
    assert_eq!(app.count("stores").await?, before);
    Ok(())
}
