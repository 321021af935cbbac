use std::sync::{Arc, Mutex};

use axum::{Router, extract::State, routing::get};
use telemetry::propagation::current_trace_id;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{REMOTE_TRACE_ID, REMOTE_TRACEPARENT, init};

type Seen = Arc<Mutex<Vec<Option<String>>>>;

async fn record(State(seen): State<Seen>) -> &'static str {
    seen.lock().expect("lock").push(current_trace_id());
    "ok"
}

/// Serves a traced router on a real socket and returns its address and the handler's log.
async fn serve() -> (std::net::SocketAddr, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/orders/{id}", get(record))
        .with_state(seen.clone())
        .layer(telemetry::http::layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, seen)
}

/// A bare HTTP/1.1 GET so the test needs no HTTP client crate.
async fn get_with(addr: std::net::SocketAddr, extra_headers: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /orders/42 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_continues_callers_trace() {
    init();
    let (addr, seen) = serve().await;

    let response = get_with(addr, &format!("traceparent: {REMOTE_TRACEPARENT}\r\n")).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, vec![Some(REMOTE_TRACE_ID.to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_without_traceparent_starts_new_trace() {
    init();
    let (addr, seen) = serve().await;

    let response = get_with(addr, "").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let id = seen[0].clone().expect("handler ran inside a traced span");
    assert_eq!(id.len(), 32);
    assert_ne!(id, REMOTE_TRACE_ID);
}
