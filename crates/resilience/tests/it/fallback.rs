use std::time::Duration;

use resilience::{Backoff, LastKnownGood, Policy, PolicyError, RetryConfig, Served};

use crate::common::{Reply, TestServer, client, get_text};

#[tokio::test]
async fn degraded_answer_when_retries_give_up() {
    let srv = TestServer::start(vec![], Reply::status(503)).await;
    let c = client();
    let p = Policy::builder("payments")
        .retry(RetryConfig {
            max_attempts: 3,
            max_elapsed: Duration::from_secs(5),
            backoff: Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
        })
        .build();
    let r = p
        .call_or(
            || async { get_text(&c, &srv.url).await.map(|_| "captured".to_owned()) },
            |e| matches!(e, PolicyError::Inner(_)).then(|| "pending_offline".to_owned()),
        )
        .await
        .unwrap();
    assert_eq!(r, Served::Fallback("pending_offline".to_owned()));
    assert_eq!(srv.hits(), 3);
}

#[tokio::test]
async fn last_known_good_serves_the_cached_body() {
    let srv = TestServer::start(vec![Reply::status(200)], Reply::status(500)).await;
    let c = client();
    let cache = LastKnownGood::new(Duration::from_secs(60));
    let first = cache
        .call(async { get_text(&c, &srv.url).await.map_err(PolicyError::Inner) })
        .await
        .unwrap();
    assert_eq!(first, Served::Primary("ok".to_owned()));
    let second = cache
        .call(async { get_text(&c, &srv.url).await.map_err(PolicyError::Inner) })
        .await
        .unwrap();
    assert_eq!(second, Served::Fallback("ok".to_owned()));
    assert_eq!(srv.hits(), 2);
}
