use std::{sync::Arc, time::Duration};

use resilience::{Bulkhead, BulkheadConfig, PolicyError};

use crate::common::{Reply, TestServer, client, get_text};

#[tokio::test]
async fn bounds_concurrent_calls_to_the_server() {
    let srv = TestServer::start(
        vec![],
        Reply::status(200).delayed(Duration::from_millis(300)),
    )
    .await;
    let c = client();
    let bh = Arc::new(Bulkhead::new(
        "peer",
        BulkheadConfig {
            max_concurrent: 2,
            max_wait: Duration::from_millis(20),
            max_waiting: 10,
        },
    ));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (bh, c, url) = (bh.clone(), c.clone(), srv.url.clone());
        tasks.push(tokio::spawn(
            async move { bh.call(get_text(&c, &url)).await },
        ));
    }
    let (mut ok, mut full) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(PolicyError::BulkheadFull) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, full), (2, 4));
    assert_eq!(srv.hits(), 2);
    assert_eq!(srv.peak_in_flight(), 2);
    assert_eq!((bh.in_flight(), bh.rejected()), (0, 4));
}
