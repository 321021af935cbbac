//! A test server that answers on cue, and a client whose errors know their class.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    routing::get,
};
use resilience::{Class, Classify, HttpStatusError, classify_status};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub retry_after: Option<&'static str>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn retry_after(mut self, v: &'static str) -> Self {
        self.retry_after = Some(v);
        self
    }
}

#[derive(Debug)]
pub struct Shared {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    pub hits: AtomicUsize,
    in_flight: AtomicUsize,
    pub peak_in_flight: AtomicUsize,
}

#[derive(Debug, Clone)]
pub struct TestServer {
    pub url: String,
    pub shared: Arc<Shared>,
}

impl TestServer {
    /// Start on 127.0.0.1:0; `script` answers first, then `default` forever.
    pub async fn start(script: Vec<Reply>, default: Reply) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            default: Mutex::new(default),
            hits: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/", get(handle))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url: format!("http://{addr}/"),
            shared,
        }
    }

    /// Change what the server answers from now on ("the dependency recovered").
    pub fn set_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = reply;
    }

    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak_in_flight.load(Ordering::SeqCst)
    }
}

async fn handle(State(s): State<Arc<Shared>>) -> (StatusCode, HeaderMap, &'static str) {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.peak_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = {
        let next = s.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| s.default.lock().unwrap().clone())
    };
    tokio::time::sleep(reply.delay).await;
    s.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    if let Some(v) = reply.retry_after {
        headers.insert("retry-after", HeaderValue::from_static(v));
    }
    let status = StatusCode::from_u16(reply.status).unwrap();
    (
        status,
        headers,
        if status.is_success() { "ok" } else { "fail" },
    )
}

/// What a service's HTTP client error looks like once mapped for the policies.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Status(#[from] HttpStatusError),
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

impl Classify for HttpError {
    fn classify(&self) -> Class {
        match self {
            HttpError::Status(s) => s.classify(),
            HttpError::Transport(e) if e.is_connect() || e.is_timeout() || e.is_request() => {
                Class::TRANSIENT
            }
            HttpError::Transport(e) => e
                .status()
                .map_or(Class::Permanent, |s| classify_status(s.as_u16(), None)),
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// GET `url`; non-2xx becomes `HttpStatusError` with its `Retry-After`.
pub async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, HttpError> {
    let resp = client.get(url).send().await?;
    let status = resp.status();
    if !status.is_success() {
        let ra = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return Err(HttpStatusError::new(status.as_u16(), ra.as_deref()).into());
    }
    Ok(resp.text().await?)
}
