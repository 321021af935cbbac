//! `summitctl outbox` reads every service's `GET /outbox` (service-kit's, as every service
//! serves it); a service that does not answer is shown and makes the exit code 1.

use contracts::catalog::StockReleased;
use contracts::{Contract, Envelope};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::harness::summitctl_with;

#[sqlx::test(migrations = false)]
async fn the_outbox_of_every_service_at_a_glance(pool: PgPool) -> anyhow::Result<()> {
    ops::migrator().run(&pool).await?;
    for _ in 0..3 {
        let envelope = Envelope::new(
            None,
            StockReleased {
                order_id: Uuid::now_v7(),
                store_id: Uuid::now_v7(),
            },
        );
        let mut conn = pool.acquire().await?;
        outbox::enqueue_raw(&mut conn, &envelope.into_raw(), StockReleased::DESTINATION).await?;
    }
    sqlx::query("UPDATE outbox SET parked_at = now() WHERE id = (SELECT min(id) FROM outbox)")
        .execute(&pool)
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let router = service_kit::outbox_status::router(pool.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", l.local_addr()?)
    };

    let mut env: Vec<(&str, &str)> = vec![
        ("CATALOG_URL", url.as_str()),
        ("CHECKOUT_URL", url.as_str()),
        ("PAYMENTS_URL", url.as_str()),
        ("NOTIFICATIONS_URL", url.as_str()),
    ];
    let (code, out, err) = summitctl_with(&url, "-", &["outbox", "--json"], &env).await;
    assert_eq!(code, 0, "{err}");
    let rows: Value = serde_json::from_str(&out)?;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let catalog = &rows[0];
    assert_eq!(catalog["service"], "catalog");
    assert_eq!(catalog["backlog"], 2, "{catalog}");
    assert_eq!(catalog["set_aside"], 1);
    assert!(catalog["oldest_unsent_age_s"].is_number());

    env[1] = ("CHECKOUT_URL", closed.as_str());
    let (code, out, err) = summitctl_with(&url, "-", &["outbox"], &env).await;
    assert_eq!(code, 1, "a silent service fails the command");
    assert!(err.contains("no outbox status from checkout"), "{err}");
    let checkout = out.lines().find(|l| l.contains("checkout")).unwrap();
    assert!(checkout.contains("unreachable"), "{out}");
    Ok(())
}
