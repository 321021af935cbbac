use std::{sync::Arc, time::Duration};

use resilience::{Backoff, BudgetConfig, PolicyError, Retry, RetryBudget, RetryConfig};

use crate::common::{Reply, TestServer, client, get_text};

#[tokio::test]
async fn a_fleet_of_callers_cannot_multiply_load_on_a_dead_server() {
    let srv = TestServer::start(vec![], Reply::status(503)).await;
    let c = client();
    let budget = Arc::new(RetryBudget::new(BudgetConfig {
        min_retries_per_sec: 3.0,
        ..BudgetConfig::default()
    }));
    let retry = Retry::new(RetryConfig {
        max_attempts: 5,
        max_elapsed: Duration::from_secs(5),
        backoff: Backoff::new(Duration::from_millis(5), Duration::from_millis(20)),
    })
    .with_budget(budget.clone());
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (retry, c, url) = (retry.clone(), c.clone(), srv.url.clone());
        tasks.push(tokio::spawn(async move {
            retry.call(|| get_text(&c, &url)).await
        }));
    }
    let mut exhausted = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Err(PolicyError::BudgetExhausted)) {
            exhausted += 1;
        }
    }
    // without a budget: 20 * 5 = 100 calls; with it: 20 first calls + ~3 floor retries
    let hits = srv.hits();
    assert!((20..=26).contains(&hits), "hits {hits}");
    assert!(exhausted >= 14, "exhausted {exhausted}");
    assert!(budget.refused() >= 14);

    // once the server is healthy, successes earn retries back
    srv.set_default(Reply::status(200));
    for _ in 0..30 {
        retry.call(|| get_text(&c, &srv.url)).await.unwrap();
    }
    assert!(budget.tokens() >= 3.0, "tokens {}", budget.tokens());
}
