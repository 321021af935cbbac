//! The services behind the edge, each reached over HTTP through one composed policy from
//! `crates/resilience`.
//!
//! Invariants:
//! - Reads: a per-call timeout, one retry with jittered backoff on transient failures, and a
//!   circuit breaker per service; public reads (no admin key) also go through the [`Cache`]:
//!   fresh copies answer at once, stale ones stand in while the service cannot answer.
//! - Writes are never retried here (no blind repeat of a non-idempotent call): timeout and
//!   breaker only. Writes that must be safe to repeat carry an `Idempotency-Key` the caller
//!   chose (the checkout form's, once per form).
//! - A 4xx is the service's answer, passed on as [`UpstreamError::Status`] with its problem
//!   body; everything else (unreachable, 5xx, timeout, circuit open) is
//!   [`UpstreamError::Unavailable`] and never shows its cause to a visitor.
//! - Admin keys and operator tokens travel only as `Authorization: Bearer` and are never
//!   logged or cached under; pages call as someone through [`Upstream::as_caller`], which
//!   sends the credential with every call.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use resilience::{
    Backoff, BreakerConfig, CircuitBreaker, Class, Classify, Policy, PolicyError, RetryConfig,
    Served, Window, classify_status,
};
use serde_json::Value;

use crate::cache::Cache;

/// Why a call produced no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The service answered with a client error: its status and problem body.
    #[error("{service} answered {status}")]
    Status {
        service: &'static str,
        status: u16,
        body: Value,
    },
    /// The service could not answer (down, slow, failing, or its circuit is open).
    #[error("{service} is unavailable ({why})")]
    Unavailable {
        service: &'static str,
        why: String,
        retry_after: Duration,
    },
}

impl UpstreamError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Unavailable { .. } => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The first field a 422 names and why (`errors[0]`), for a form to show beside its input.
    pub fn field_error(&self) -> Option<(String, String)> {
        match self {
            Self::Status { body, .. } => body["errors"][0]["field"].as_str().map(|field| {
                (
                    field.to_owned(),
                    body["errors"][0]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            }),
            Self::Unavailable { .. } => None,
        }
    }

    /// The problem's `detail` or `title`, for a message on the page.
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Status { body, .. } => body["detail"]
                .as_str()
                .or_else(|| body["title"].as_str())
                .map(str::to_owned),
            Self::Unavailable { .. } => None,
        }
    }
}

/// What one attempt can fail with.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("answered {status}")]
    Status {
        status: u16,
        retry_after: Option<String>,
        body: Value,
    },
    #[error("unreachable: {0}")]
    Transport(#[from] reqwest::Error),
}

impl Classify for CallError {
    fn classify(&self) -> Class {
        match self {
            Self::Status {
                status,
                retry_after,
                ..
            } => classify_status(*status, retry_after.as_deref()),
            Self::Transport(_) => Class::TRANSIENT,
        }
    }
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Bytes {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// One service: its base URL, client, policies and the cache of its public reads.
#[derive(Debug, Clone)]
pub struct Upstream {
    name: &'static str,
    base_url: String,
    http: reqwest::Client,
    reads: Policy,
    writes: Policy,
    /// How long [`Upstream::observe`] waits (it has no policy to carry a timeout): twice a
    /// call's, since a readiness check may itself take up to two seconds.
    observe_timeout: Duration,
    cache: Arc<Cache>,
}

fn breaker() -> BreakerConfig {
    BreakerConfig {
        failure_rate: 0.5,
        window: Window::Count(20),
        min_calls: 5,
        consecutive_failures: 3,
        open_for: Duration::from_secs(5),
        half_open_calls: 1,
    }
}

impl Upstream {
    pub fn new(name: &'static str, base_url: &str, timeout: Duration, cache: Arc<Cache>) -> Self {
        let reads = Policy::builder(format!("{name}.reads"))
            .retry(RetryConfig {
                max_attempts: 2,
                max_elapsed: timeout * 2,
                backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200)),
            })
            .breaker(breaker())
            .timeout(timeout)
            .build();
        let writes = Policy::builder(format!("{name}.writes"))
            .breaker(breaker())
            .timeout(timeout * 3)
            .build();
        Self {
            name,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            reads,
            writes,
            observe_timeout: timeout * 2,
            cache,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The breaker of reads, for readiness (`degraded` while open).
    pub fn breaker(&self) -> Option<Arc<CircuitBreaker>> {
        self.reads.breaker().cloned()
    }

    fn cache_key(&self, path: &str) -> String {
        format!("{}{path}", self.name)
    }

    /// Forgets cached public reads under `path_prefix` (after a merchant's write).
    pub fn forget(&self, path_prefix: &str) {
        self.cache.forget_prefix(&self.cache_key(path_prefix));
    }

    fn unavailable(&self, error: &PolicyError<CallError>) -> UpstreamError {
        let retry_after = match error {
            PolicyError::CircuitOpen { retry_in } => *retry_in,
            PolicyError::Inner(CallError::Status { retry_after, .. }) => retry_after
                .as_deref()
                .and_then(|v| v.parse().ok())
                .map_or(Duration::from_secs(5), Duration::from_secs),
            _ => Duration::from_secs(5),
        };
        UpstreamError::Unavailable {
            service: self.name,
            why: error.kind().to_owned(),
            retry_after: retry_after.max(Duration::from_secs(1)),
        }
    }

    fn to_error(&self, error: PolicyError<CallError>) -> UpstreamError {
        match error {
            PolicyError::Inner(CallError::Status { status, body, .. }) if status < 500 => {
                UpstreamError::Status {
                    service: self.name,
                    status,
                    body,
                }
            }
            other => {
                tracing::warn!(service = self.name, error = %other, "upstream unavailable");
                self.unavailable(&other)
            }
        }
    }

    async fn attempt(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: &Body,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), CallError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(key) = bearer {
            request = request.bearer_auth(key);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Bytes {
                content_type,
                bytes,
            } => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes.clone()),
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await?;
        let body = if content_type.contains("json") {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else if bytes.is_empty() {
            Value::Null
        } else {
            // Binary (a logo): carried as base64 with its type, so it can be cached like JSON.
            serde_json::json!({
                "content_type": content_type,
                "base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
            })
        };
        if status >= 400 {
            return Err(CallError::Status {
                status,
                retry_after,
                body,
            });
        }
        Ok((status, body))
    }

    /// A public read, through the cache: fresh copy, else the service, else a stale copy.
    pub async fn get_public(&self, path: &str) -> Result<Served<Value>, UpstreamError> {
        let key = self.cache_key(path);
        if let Some(value) = self.cache.fresh(&key) {
            return Ok(Served::Primary(value));
        }
        // Boxed: the composed policy's future is large, and several of them nested in one
        // handler overflow a worker's stack in debug builds.
        let answer = Box::pin(self.reads.call_or(
            || {
                Box::pin(async {
                    self.attempt(reqwest::Method::GET, path, None, &Body::None, None)
                        .await
                        .map(|(_, body)| body)
                })
            },
            |error| match error {
                PolicyError::Inner(CallError::Status { status, .. }) if *status < 500 => None,
                _ => self.cache.stale(&key),
            },
        ))
        .await
        .map_err(|e| self.to_error(e))?;
        if let Served::Primary(value) = &answer {
            self.cache.put(&key, value);
        }
        Ok(answer)
    }

    /// A read that is never cached: as someone (admin key, operator token), or one that must
    /// be current (an order's status).
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Result<Value, UpstreamError> {
        Box::pin(self.reads.call(|| {
            Box::pin(async {
                self.attempt(reqwest::Method::GET, path, bearer, &Body::None, None)
                    .await
                    .map(|(_, body)| body)
            })
        }))
        .await
        .map_err(|e| self.to_error(e))
    }

    /// One look at the service, for the operators' pages (`/health/ready`, `/outbox`):
    /// `(status, body)` whatever the status — a 503 "not ready" is an answer to show — and
    /// [`UpstreamError::Unavailable`] only when nothing answered within the timeout. Outside
    /// the policy on purpose: no retry, and an operator looking at a sick service neither
    /// opens its circuit for the shoppers nor is kept from seeing it by an open one.
    pub async fn observe(&self, path: &str) -> Result<(u16, Value), UpstreamError> {
        let attempt = self.attempt(reqwest::Method::GET, path, None, &Body::None, None);
        match tokio::time::timeout(self.observe_timeout, attempt).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(CallError::Status { status, body, .. })) => Ok((status, body)),
            Ok(Err(CallError::Transport(error))) => Err(UpstreamError::Unavailable {
                service: self.name,
                why: if error.is_connect() {
                    "unreachable".into()
                } else {
                    "no answer".into()
                },
                retry_after: Duration::from_secs(5),
            }),
            Err(_) => Err(UpstreamError::Unavailable {
                service: self.name,
                why: format!("no answer within {} ms", self.observe_timeout.as_millis()),
                retry_after: Duration::from_secs(5),
            }),
        }
    }

    /// A write: `(status, body)` on success.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Body,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), UpstreamError> {
        Box::pin(
            self.writes.call(|| {
                Box::pin(self.attempt(method.clone(), path, bearer, &body, idempotency_key))
            }),
        )
        .await
        .map_err(|e| self.to_error(e))
    }
}

/// One service called as one caller — a store's admin key, an operator's token — sent with
/// every call as `Bearer`, so a page never passes the credential by hand (or forgets it).
#[derive(Clone, Copy)]
pub struct AsCaller<'a> {
    upstream: &'a Upstream,
    bearer: &'a str,
}

impl Upstream {
    /// This service as the holder of `bearer`.
    pub fn as_caller<'a>(&'a self, bearer: &'a str) -> AsCaller<'a> {
        AsCaller {
            upstream: self,
            bearer,
        }
    }
}

impl AsCaller<'_> {
    /// [`Upstream::get`] with the caller's credential.
    pub async fn get(&self, path: &str) -> Result<Value, UpstreamError> {
        self.upstream.get(path, Some(self.bearer)).await
    }

    /// [`Upstream::send`] with the caller's credential and no `Idempotency-Key`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body,
    ) -> Result<(u16, Value), UpstreamError> {
        self.send_once(method, path, body, None).await
    }

    /// [`Upstream::send`] with the caller's credential and the form's `Idempotency-Key`.
    pub async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), UpstreamError> {
        self.upstream
            .send(method, path, Some(self.bearer), body, idempotency_key)
            .await
    }
}

/// Every service the edge composes.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub catalog: Upstream,
    pub checkout: Upstream,
    pub payments: Upstream,
    pub notifications: Upstream,
    pub ops: Upstream,
}

impl Upstreams {
    pub fn new(config: &crate::StorefrontConfig) -> Self {
        let cache = Arc::new(Cache::new(config.fresh_for, config.stale_for));
        let t = config.upstream_timeout;
        Self {
            catalog: Upstream::new("catalog", &config.catalog_url, t, cache.clone()),
            checkout: Upstream::new("checkout", &config.checkout_url, t, cache.clone()),
            payments: Upstream::new("payments", &config.payments_url, t, cache.clone()),
            notifications: Upstream::new(
                "notifications",
                &config.notifications_url,
                t,
                cache.clone(),
            ),
            ops: Upstream::new("ops", &config.ops_url, t, cache),
        }
    }

    pub fn all(&self) -> [&Upstream; 5] {
        [
            &self.catalog,
            &self.checkout,
            &self.payments,
            &self.notifications,
            &self.ops,
        ]
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
