use std::time::Duration;

use resilience::{
    Backoff, BreakerConfig, BreakerState, BudgetConfig, BulkheadConfig, Jitter, Policy,
    PolicyError, RetryConfig, Window,
};

use crate::common::{HttpError, Reply, TestServer, client, get_text};

#[tokio::test]
async fn composed_policy_rides_out_a_short_outage() {
    let srv = TestServer::start(
        vec![
            Reply::status(503),
            Reply::status(500),
            Reply::status(429).retry_after("0"),
        ],
        Reply::status(200),
    )
    .await;
    let c = client();
    let p = Policy::builder("peer")
        .retry(RetryConfig {
            max_attempts: 6,
            max_elapsed: Duration::from_secs(5),
            backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(50))
                .with_jitter(Jitter::Decorrelated),
        })
        .budget(BudgetConfig::default())
        .breaker(BreakerConfig {
            window: Window::Count(20),
            min_calls: 10,
            consecutive_failures: 5,
            ..BreakerConfig::default()
        })
        .bulkhead(BulkheadConfig::default())
        .timeout(Duration::from_secs(1))
        .deadline(Duration::from_secs(3))
        .build();
    let r: Result<String, PolicyError<HttpError>> = p.call(|| get_text(&c, &srv.url)).await;
    assert_eq!(r.unwrap(), "ok");
    assert_eq!(srv.hits(), 4);
    let s = p.snapshot();
    assert_eq!(s.breaker, Some(BreakerState::Closed));
    assert_eq!(s.in_flight, Some(0));
    assert!(p.is_ready());
}
