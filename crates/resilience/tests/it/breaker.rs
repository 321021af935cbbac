use std::time::Duration;

use resilience::{BreakerConfig, BreakerState, CircuitBreaker, PolicyError, Window};

use crate::common::{Reply, TestServer, client, get_text};

#[tokio::test]
async fn opens_on_failures_fails_fast_then_recovers_through_half_open() {
    let srv = TestServer::start(vec![], Reply::status(503)).await;
    let c = client();
    let b = CircuitBreaker::new(
        "peer",
        BreakerConfig {
            window: Window::Count(10),
            min_calls: 5,
            failure_rate: 0.5,
            consecutive_failures: 3,
            open_for: Duration::from_millis(300),
            half_open_calls: 2,
        },
    );
    for _ in 0..3 {
        let r = b.call(get_text(&c, &srv.url)).await;
        assert!(matches!(r, Err(PolicyError::Inner(_))));
    }
    assert_eq!(b.state(), BreakerState::Open);
    for _ in 0..5 {
        let r = b.call(get_text(&c, &srv.url)).await;
        assert!(matches!(r, Err(PolicyError::CircuitOpen { .. })), "{r:?}");
    }
    assert_eq!(srv.hits(), 3, "an open breaker sends nothing");

    srv.set_default(Reply::status(200));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen);
    for _ in 0..2 {
        assert_eq!(b.call(get_text(&c, &srv.url)).await.unwrap(), "ok");
    }
    assert_eq!(b.state(), BreakerState::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.opened, m.half_opened, m.closed, m.rejected),
        (1, 1, 1, 5)
    );
}

/// Operators read a breaker's state on `/metrics`: 0 closed, 1 half-open, 2 open.
#[test]
fn the_breaker_state_is_published_as_a_gauge() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let gauge =
        |value: u8| format!("summit_circuit_breaker_state{{breaker=\"gauge-peer\"}} {value}");
    metrics::with_local_recorder(&recorder, || {
        let breaker = CircuitBreaker::new(
            "gauge-peer",
            BreakerConfig {
                consecutive_failures: 2,
                min_calls: 100,
                ..BreakerConfig::default()
            },
        );
        assert!(handle.render().contains(&gauge(0)), "{}", handle.render());
        for _ in 0..2 {
            breaker.try_acquire::<()>().unwrap().failure();
        }
        assert_eq!(breaker.state(), BreakerState::Open);
    });
    assert!(handle.render().contains(&gauge(2)), "{}", handle.render());
}
