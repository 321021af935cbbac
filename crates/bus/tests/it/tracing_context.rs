use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bus::{ConsumerConfig, Handler, Incoming, Outcome};
use tracing::Instrument;

use crate::harness::Harness;

fn telemetry() {
    static GUARD: OnceLock<telemetry::Guard> = OnceLock::new();
    GUARD.get_or_init(|| telemetry::init("bus-test"));
}

/// Records the trace id the handler runs under.
#[derive(Default)]
struct TraceRecorder {
    seen: Mutex<Vec<Option<String>>>,
}

impl Handler for TraceRecorder {
    async fn handle(&self, _: Incoming) -> Outcome {
        self.seen
            .lock()
            .unwrap()
            .push(telemetry::propagation::current_trace_id());
        Outcome::Done
    }
}

#[tokio::test]
async fn the_trace_context_travels_with_the_message() -> anyhow::Result<()> {
    telemetry();
    let h = Harness::start().await?;
    let handler = Arc::new(TraceRecorder::default());
    let consuming = h.consume(handler.clone(), ConsumerConfig::default());

    let span = tracing::info_span!("place-order");
    let publisher_trace = async {
        h.publish_event().await?;
        anyhow::Ok(telemetry::propagation::current_trace_id())
    }
    .instrument(span)
    .await?;
    let publisher_trace = publisher_trace.expect("the publishing span has a trace id");

    let start = std::time::Instant::now();
    while handler.seen.lock().unwrap().is_empty() {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(10), "never consumed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consuming.stop().await?;
    let seen = handler.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![Some(publisher_trace)],
        "one trace across the broker"
    );
    Ok(())
}
