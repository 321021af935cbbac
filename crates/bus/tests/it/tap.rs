use std::time::Duration;

use crate::harness::Harness;

#[tokio::test]
async fn a_tap_sees_events_without_taking_them_from_the_services() -> anyhow::Result<()> {
    let h = Harness::start().await?;
    let mut tap = h.bus.tap(&contracts::exchanges::EVENTS).await?;
    let id = h.publish_event().await?;
    let tapped = tokio::time::timeout(Duration::from_secs(5), tap.next())
        .await?
        .expect("tap open")?;
    assert_eq!(tapped.exchange, "catalog.events");
    let envelope = tapped.envelope.expect("an envelope");
    assert_eq!(envelope.id, id);
    assert_eq!(envelope.kind, "catalog.StockReleased");
    // The service's own queue still got its copy.
    assert_eq!(h.ready_count(crate::harness::QUEUE).await?, 1);
    Ok(())
}
