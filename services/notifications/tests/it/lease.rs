//! A sender sends only under its own lease: one whose lease ran out (a slow render on a loaded
//! database) and was taken by another sender cannot renew it, so it never hands the same
//! delivery to SMTP a second time. Found by the platform's cluster drill (docs/reliability.md).

use std::time::{Duration, Instant};

use contracts::Envelope;
use notifications::deliveries::{self, Channel, Lease, NewDelivery};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::order;

#[sqlx::test(migrations = false)]
async fn a_lease_that_ran_out_and_was_taken_cannot_be_renewed(pool: PgPool) -> anyhow::Result<()> {
    notifications::migrator().run(&pool).await?;
    let store = Uuid::now_v7();
    let event = Envelope::new(Some(store), order(store, "ana@example.com", "Café")).into_raw();
    let mut tx = pool.begin().await?;
    let id = deliveries::insert(
        &mut tx,
        &event,
        &NewDelivery {
            store_id: store,
            order_id: None,
            channel: Channel::Email,
            template: "order_confirmed".into(),
            recipient: "ana@example.com".into(),
            endpoint_id: None,
            message_id: "<order_confirmed.test@notifications.summit>".into(),
            data: json!({}),
        },
    )
    .await?
    .expect("a new delivery");
    tx.commit().await?;

    let Lease::Got(mut first) =
        deliveries::lease(&pool, store, id, Duration::from_millis(300)).await?
    else {
        anyhow::bail!("the first sender leases a fresh delivery");
    };
    // The first sender stalls; once its lease runs out a second sender takes the delivery.
    let start = Instant::now();
    let mut second = loop {
        match deliveries::lease(&pool, store, id, Duration::from_secs(60)).await? {
            Lease::Got(delivery) => break delivery,
            Lease::Held if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => anyhow::bail!("the second sender should get the lease: {other:?}"),
        }
    };
    assert!(
        !deliveries::renew(&pool, &mut first, Duration::from_secs(60)).await?,
        "the first sender's lease is gone: it must not send"
    );
    let before = second.leased_until;
    assert!(
        deliveries::renew(&pool, &mut second, Duration::from_secs(60)).await?,
        "the holder renews its own lease"
    );
    assert!(second.leased_until > before, "renewed from now");
    Ok(())
}
