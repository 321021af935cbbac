use std::time::{Duration, Instant};

use resilience::{Backoff, Jitter, Policy, PolicyError, RetryConfig, timeout};

use crate::common::{HttpError, Reply, TestServer, client, get_text};

#[tokio::test]
async fn per_call_timeout_cuts_a_slow_server() {
    let srv = TestServer::start(vec![], Reply::status(200).delayed(Duration::from_secs(2))).await;
    let c = client();
    let t0 = Instant::now();
    let r = timeout(Duration::from_millis(100), get_text(&c, &srv.url)).await;
    assert!(matches!(r, Err(PolicyError::Timeout(_))), "{r:?}");
    assert!(t0.elapsed() < Duration::from_millis(1_000));
}

#[tokio::test]
async fn retries_never_outlive_the_deadline() {
    let srv = TestServer::start(vec![], Reply::status(200).delayed(Duration::from_secs(2))).await;
    let c = client();
    let p = Policy::builder("slow")
        .retry(RetryConfig {
            max_attempts: 50,
            max_elapsed: Duration::from_secs(30),
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(50))
                .with_jitter(Jitter::Equal),
        })
        .timeout(Duration::from_millis(100))
        .deadline(Duration::from_millis(600))
        .build();
    let t0 = Instant::now();
    let r: Result<String, PolicyError<HttpError>> = p.call(|| get_text(&c, &srv.url)).await;
    let took = t0.elapsed();
    assert!(
        matches!(
            r,
            Err(PolicyError::Timeout(_) | PolicyError::DeadlineExceeded)
        ),
        "{r:?}"
    );
    assert!(took < Duration::from_millis(800), "took {took:?}");
    assert!(
        srv.hits() >= 3,
        "timed-out attempts were retried: {}",
        srv.hits()
    );
}
