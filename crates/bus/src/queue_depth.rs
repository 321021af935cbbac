//! `summit_queue_depth{queue}`: how many messages wait in a consumed queue — its consumer's
//! lag, in messages — published by every consumer while it runs, read from the broker with a
//! passive declare. A failed reading keeps the last value (the consumer's own connection
//! troubles are reported elsewhere) and is tried again at the next tick.

use std::sync::Arc;
use std::time::Duration;

use crate::Bus;

/// Publishes the depth of `queue` every `every`, until the task is dropped.
pub(crate) async fn report(bus: Arc<Bus>, queue: String, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match bus.queue_stats(&queue).await {
            Ok(Some(stats)) => {
                metrics::gauge!("summit_queue_depth", "queue" => queue.clone())
                    .set(f64::from(stats.messages));
            }
            Ok(None) => tracing::debug!(queue, "no such queue to measure"),
            Err(error) => tracing::debug!(%error, queue, "queue depth not read"),
        }
    }
}
