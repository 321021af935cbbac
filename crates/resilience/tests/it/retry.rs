use std::time::{Duration, Instant};

use resilience::{Backoff, Jitter, PolicyError, Retry, RetryConfig};

use crate::common::{HttpError, Reply, TestServer, client, get_text};

fn retry(max_attempts: u32) -> Retry {
    Retry::new(RetryConfig {
        max_attempts,
        max_elapsed: Duration::from_secs(10),
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(100))
            .with_jitter(Jitter::Full),
    })
}

#[tokio::test]
async fn retries_5xx_until_the_server_answers() {
    let srv = TestServer::start(
        vec![Reply::status(503), Reply::status(502)],
        Reply::status(200),
    )
    .await;
    let c = client();
    let body = retry(5).call(|| get_text(&c, &srv.url)).await.unwrap();
    assert_eq!(body, "ok");
    assert_eq!(srv.hits(), 3);
}

#[tokio::test]
async fn never_retries_a_4xx() {
    let srv = TestServer::start(vec![Reply::status(422)], Reply::status(200)).await;
    let c = client();
    let r = retry(5).call(|| get_text(&c, &srv.url)).await;
    assert!(
        matches!(r, Err(PolicyError::Inner(HttpError::Status(ref s))) if s.status == 422),
        "{r:?}"
    );
    assert_eq!(srv.hits(), 1);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let srv = TestServer::start(
        vec![Reply::status(429).retry_after("1")],
        Reply::status(200),
    )
    .await;
    let c = client();
    let t0 = Instant::now();
    retry(3).call(|| get_text(&c, &srv.url)).await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        t0.elapsed()
    );
    assert_eq!(srv.hits(), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_then_given_up() {
    // bind and drop a listener: the port is free and refuses connections
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client();
    let url = format!("http://127.0.0.1:{port}/");
    let mut attempts = 0;
    let r = retry(3)
        .call(|| {
            attempts += 1;
            get_text(&c, &url)
        })
        .await;
    assert!(
        matches!(r, Err(PolicyError::Inner(HttpError::Transport(_)))),
        "{r:?}"
    );
    assert_eq!(attempts, 3);
}
