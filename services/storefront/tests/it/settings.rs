//! The merchants' settings against the real catalog: a custom domain claimed, its TXT record
//! shown, verified through a DNS server of the test's own, then serving the shop; a new
//! admin key shown once while the session carries on; the language the shop and the admin
//! speak.

use crate::world::{Visitor, World, hidden};

/// Signs in with `key` and returns the settings page's CSRF token.
async fn settings_csrf(merchant: &mut Visitor) -> anyhow::Result<String> {
    let page = merchant.get("/admin/settings").await?;
    anyhow::ensure!(
        page.status == 200,
        "settings: {} {}",
        page.status,
        page.body
    );
    hidden(&page.body, "csrf").ok_or_else(|| anyhow::anyhow!("no csrf in {}", page.body))
}

/// The text of the element with `id` (its first text run).
fn text_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let rest = &html[start..];
    let rest = &rest[rest.find('>')? + 1..];
    Some(rest[..rest.find('<')?].trim().to_owned())
}

#[tokio::test]
async fn a_custom_domain_is_claimed_its_record_shown_verified_and_then_serves_the_shop()
-> anyhow::Result<()> {
    let world = World::start().await?;
    let (key, _) = world
        .store("loja-dominio", &[("Café Dominio", 1500)])
        .await?;
    let (other_key, _) = world.store("loja-outra", &[]).await?;
    let platform = format!("127.0.0.1:{}", world.port());
    let mut merchant = world.visitor(&platform);
    assert_eq!(merchant.sign_in(&key).await?.status, 303);

    // Not a hostname: refused on the page, naming the field.
    let csrf = settings_csrf(&mut merchant).await?;
    let bad = merchant
        .post(
            "/admin/settings/domain",
            &[("csrf", &csrf), ("custom_domain", "not a domain")],
        )
        .await?;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        text_of(&bad.body, "settings-error").is_some_and(|e| e.starts_with("custom_domain")),
        "{}",
        bad.body
    );

    // Claimed: pending, with the record to publish.
    let claimed = merchant
        .post(
            "/admin/settings/domain",
            &[("csrf", &csrf), ("custom_domain", "Loja.Example.com")],
        )
        .await?;
    assert_eq!(claimed.status, 303, "{}", claimed.body);
    let page = merchant.get("/admin/settings").await?;
    assert_eq!(
        text_of(&page.body, "domain-name").as_deref(),
        Some("loja.example.com")
    );
    assert!(
        page.body.contains("data-status=\"pending\""),
        "{}",
        page.body
    );
    let name = text_of(&page.body, "txt-name").unwrap();
    assert_eq!(name, "_summit-challenge.loja.example.com");
    let token = text_of(&page.body, "txt-value").unwrap();
    assert!(token.len() >= 32, "{token}");
    let mut shopper = world.visitor(&format!("loja.example.com:{}", world.port()));
    assert_eq!(
        shopper.get("/").await?.status,
        404,
        "a claim serves nothing"
    );

    // Verified before the record exists: told so, still pending.
    let early = merchant
        .post("/admin/settings/domain/verify", &[("csrf", &csrf)])
        .await?;
    assert_eq!(early.status, 422, "{}", early.body);
    assert!(
        text_of(&early.body, "settings-error").is_some(),
        "{}",
        early.body
    );
    assert!(early.body.contains("data-status=\"pending\""));

    // The record published: verified, and the shop answers on the domain.
    world.dns.publish_txt(&name, &token);
    let verified = merchant
        .post("/admin/settings/domain/verify", &[("csrf", &csrf)])
        .await?;
    assert_eq!(verified.status, 303, "{}", verified.body);
    let page = merchant.get("/admin/settings").await?;
    assert!(
        page.body.contains("data-status=\"verified\""),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"txt-record\""),
        "nothing left to publish"
    );
    let shop = shopper.get("/").await?;
    assert_eq!(shop.status, 200, "{}", shop.body);
    assert!(shop.body.contains("Café Dominio"), "{}", shop.body);

    // Another store cannot take it.
    let mut rival = world.visitor(&platform);
    assert_eq!(rival.sign_in(&other_key).await?.status, 303);
    let rival_csrf = settings_csrf(&mut rival).await?;
    let taken = rival
        .post(
            "/admin/settings/domain",
            &[("csrf", &rival_csrf), ("custom_domain", "loja.example.com")],
        )
        .await?;
    assert_eq!(taken.status, 409, "{}", taken.body);
    assert!(text_of(&taken.body, "settings-error").is_some());

    // Removed: the domain serves nothing again.
    let removed = merchant
        .post(
            "/admin/settings/domain",
            &[("csrf", &csrf), ("custom_domain", "")],
        )
        .await?;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(shopper.get("/").await?.status, 404);
    world.stop().await
}

#[tokio::test]
async fn a_new_admin_key_is_shown_once_the_old_one_stops_and_the_session_carries_on()
-> anyhow::Result<()> {
    let world = World::start().await?;
    let (old_key, _) = world.store("loja-chave", &[]).await?;
    let platform = format!("127.0.0.1:{}", world.port());
    let mut merchant = world.visitor(&platform);
    merchant.sign_in(&old_key).await?;
    let csrf = settings_csrf(&mut merchant).await?;

    let forged = merchant
        .post("/admin/settings/key", &[("csrf", "forged")])
        .await?;
    assert_eq!(forged.status, 403, "no rotation without the form's token");
    let rotated = merchant
        .post("/admin/settings/key", &[("csrf", &csrf)])
        .await?;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let new_key = text_of(&rotated.body, "admin-key").unwrap();
    assert!(
        new_key.starts_with("sk_") && new_key != old_key,
        "{new_key}"
    );

    // The session goes on with the new key; the key is never shown again.
    let page = merchant.get("/admin/settings").await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains(&new_key));
    assert!(
        !merchant.cookies.values().any(|v| v.contains(&new_key)),
        "sealed"
    );

    let mut someone = world.visitor(&platform);
    assert_eq!(
        someone.sign_in(&old_key).await?.status,
        401,
        "the old key is retired"
    );
    assert_eq!(someone.sign_in(&new_key).await?.status, 303);
    world.stop().await
}

#[tokio::test]
async fn the_language_set_in_the_admin_is_what_the_shop_and_the_admin_speak() -> anyhow::Result<()>
{
    let world = World::start().await?;
    let (key, _) = world.store("loja-idioma", &[("Café Idioma", 1000)]).await?;
    let mut shopper = world.visitor(&world.shop_host("loja-idioma"));
    let home = shopper.get("/").await?;
    assert!(home.body.contains("<html lang=\"pt-BR\""), "{}", home.body);

    let mut merchant = world.visitor(&format!("127.0.0.1:{}", world.port()));
    merchant.sign_in(&key).await?;
    let csrf = settings_csrf(&mut merchant).await?;
    let refused = merchant
        .post(
            "/admin/settings/language",
            &[("csrf", &csrf), ("language", "fr")],
        )
        .await?;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(
        text_of(&refused.body, "settings-error").is_some_and(|e| e.starts_with("language")),
        "{}",
        refused.body
    );

    let set = merchant
        .post(
            "/admin/settings/language",
            &[("csrf", &csrf), ("language", "en")],
        )
        .await?;
    assert_eq!(set.status, 303, "{}", set.body);
    let admin = merchant.get("/admin/settings").await?;
    assert!(
        admin.body.contains("<html lang=\"en\""),
        "the admin speaks it"
    );
    assert!(
        admin.body.contains("<option value=\"en\" selected"),
        "{}",
        admin.body
    );
    let home = shopper.get("/").await?;
    assert!(
        home.body.contains("<html lang=\"en\""),
        "the shop speaks it at once: {}",
        home.body
    );
    world.stop().await
}
