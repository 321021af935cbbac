//! `/ops/…`: the operators' API (JSON; errors are problem+json). Every request presents
//! `Authorization: Bearer <OPS_TOKEN>`, compared in constant time; anything else is 401.
//!
//! - `GET /ops/queues` — every work queue ops drains: depth, consumers, dead letters, parked
//!   failures, rates where the management API offers them.
//! - `GET /ops/failures/groups` — parked failures grouped by queue, type, error kind and the
//!   error's first line (the same filters as the listing).
//! - `GET /ops/failures?queue=&type=&kind=&tenant=&since=&grep=&status=&limit=&cursor=` — a
//!   page, newest first; `next_cursor` fetches the next.
//! - `GET /ops/failures/{message_id}` — one, whole: headers, payload, history.
//! - `POST /ops/failures/{message_id}/retry` — back to its queue, confirmed, then `retried`.
//! - `POST /ops/failures/retry` `{filters…, "rate_per_s": 5, "limit": 1000}` — bulk retry in
//!   the background at the rate; 202 with how many match.
//! - `POST /ops/failures/{message_id}/edit` `{"body": …}` — the body replaced (validated
//!   against the message's contract; the original kept in `edits`), then retried.
//! - `GET /ops/failures/ids?<filters>&limit=` — the matching ids, oldest first (for a client
//!   that retries one by one at its own pace, with progress).
//! - `POST /ops/failures/{message_id}/discard` and `/restore` — parked ⇄ discarded (archived);
//!   `POST /ops/failures/discard` `{filters…, "message_ids": […]}` discards many.
//! - `GET /openapi.json` — the above in OpenAPI 3.1 ([`crate::openapi`]), without the token.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use service_kit::{BusSlot, Problem, ProblemJson, ProblemQuery};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::retry::{self, RetryError};
use crate::store::{self, Detail, Filters, Group, Summary};

#[derive(Clone)]
pub struct Api {
    pub pool: PgPool,
    /// The bus once the runtime has connected it (retries publish directly).
    pub bus: BusSlot,
    /// The operator token; empty refuses everyone.
    pub token: SecretString,
    /// Rate of a bulk retry that names none.
    pub default_rate_per_s: f64,
    /// The work queues ops drains (`GET /ops/queues` shows them).
    pub queues: Vec<String>,
    /// The management API, for rates (`None`: off).
    pub management: Option<Arc<crate::queues::Management>>,
}

pub fn router(api: Api) -> Router {
    let token = Arc::new(digest(api.token.expose_secret()));
    let configured = !api.token.expose_secret().is_empty();
    if !configured {
        tracing::warn!("OPS_TOKEN is not set: every /ops request is refused");
    }
    Router::new()
        .route("/ops/queues", get(queues))
        .route("/ops/failures", get(list))
        .route("/ops/failures/groups", get(groups))
        .route("/ops/failures/retry", post(retry_bulk))
        .route("/ops/failures/ids", get(ids))
        .route("/ops/failures/discard", post(discard_bulk))
        .route("/ops/failures/{message_id}", get(show))
        .route("/ops/failures/{message_id}/retry", post(retry_one))
        .route("/ops/failures/{message_id}/edit", post(edit))
        .route("/ops/failures/{message_id}/discard", post(discard))
        .route("/ops/failures/{message_id}/restore", post(restore))
        .layer(axum::middleware::from_fn(move |request, next| {
            let token = token.clone();
            authorize(token, configured, request, next)
        }))
        // After the token layer: the description is public.
        .route("/openapi.json", get(crate::openapi::serve))
        .with_state(api)
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Equal digests, compared without an early exit: how long it takes says nothing about how
/// much of the token was right (and hashing first hides its length).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response {
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Missing or invalid operator token",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

async fn authorize(
    token: Arc<[u8; 32]>,
    configured: bool,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| digest(t.trim()));
    match presented {
        Some(presented) if configured && same(&presented, &token) => next.run(request).await,
        _ => unauthorized(),
    }
}

/// The listing's query: filters as text, parsed here so a bad one is a 422 naming the field.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    queue: Option<String>,
    #[serde(rename = "type")]
    message_type: Option<String>,
    kind: Option<String>,
    tenant: Option<String>,
    since: Option<String>,
    grep: Option<String>,
    status: Option<String>,
    group: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

impl ListQuery {
    fn filters(&self) -> Result<Filters, Problem> {
        let status = non_empty(self.status.clone());
        if let Some(status) = &status
            && status != "any"
            && !store::STATUSES.contains(&status.as_str())
        {
            return Err(Problem::invalid(
                "status",
                "one of parked, retried, discarded, any",
            ));
        }
        Ok(Filters {
            queue: non_empty(self.queue.clone()),
            message_type: non_empty(self.message_type.clone()),
            kind: non_empty(self.kind.clone()),
            tenant: non_empty(self.tenant.clone())
                .map(|t| t.parse())
                .transpose()
                .map_err(|_| Problem::invalid("tenant", "a store id (UUID)"))?,
            since: non_empty(self.since.clone())
                .map(|s| chrono::DateTime::parse_from_rfc3339(&s).map(|t| t.to_utc()))
                .transpose()
                .map_err(|_| Problem::invalid("since", "an RFC 3339 time"))?,
            grep: non_empty(self.grep.clone()),
            status,
            group: non_empty(self.group.clone()),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Summary>,
    pub next_cursor: Option<String>,
}

async fn list(
    State(api): State<Api>,
    ProblemQuery(query): ProblemQuery<ListQuery>,
) -> Result<Json<Page>, Problem> {
    let filters = query.filters()?;
    let limit: i64 = match non_empty(query.limit.clone()) {
        None => 50,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=500).contains(l))
            .ok_or_else(|| Problem::invalid("limit", "1 to 500"))?,
    };
    let after = non_empty(query.cursor.clone())
        .map(|c| service_kit::cursor::decode::<store::Cursor>(&c))
        .transpose()
        .map_err(|e| Problem::invalid("cursor", e.to_string()))?;
    let (rows, next) = store::list(&api.pool, &filters, after, limit).await?;
    Ok(Json(Page {
        items: rows.iter().map(store::Row::summary).collect(),
        next_cursor: next.map(|c| service_kit::cursor::encode(&c)),
    }))
}

async fn queues(State(api): State<Api>) -> Result<Json<crate::queues::Queues>, Problem> {
    let bus = api.bus.get().ok_or(RetryError::NoBroker)?;
    Ok(Json(
        crate::queues::overview(&api.pool, bus, &api.queues, api.management.as_deref()).await?,
    ))
}

async fn groups(
    State(api): State<Api>,
    ProblemQuery(query): ProblemQuery<ListQuery>,
) -> Result<Json<Vec<Group>>, Problem> {
    Ok(Json(store::groups(&api.pool, &query.filters()?).await?))
}

async fn show(
    State(api): State<Api>,
    Path(message_id): Path<String>,
) -> Result<Json<Detail>, Problem> {
    let row = store::get(&api.pool, &message_id)
        .await?
        .ok_or_else(|| Problem::not_found("failure"))?;
    let edits = store::edits(&api.pool, &message_id).await?;
    Ok(Json(row.detail(edits)))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Ids {
    /// Matching message ids, oldest failure first.
    pub ids: Vec<String>,
}

async fn ids(
    State(api): State<Api>,
    ProblemQuery(query): ProblemQuery<ListQuery>,
) -> Result<Json<Ids>, Problem> {
    let filters = query.filters()?;
    let limit: i64 = match non_empty(query.limit.clone()) {
        None => 10_000,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=100_000).contains(l))
            .ok_or_else(|| Problem::invalid("limit", "1 to 100 000"))?,
    };
    Ok(Json(Ids {
        ids: store::ids(&api.pool, &filters, limit).await?,
    }))
}

#[derive(Debug, Deserialize)]
pub struct EditRequest {
    /// The new body: the envelope as JSON, or its text.
    pub body: Option<serde_json::Value>,
}

async fn edit(
    State(api): State<Api>,
    Path(message_id): Path<String>,
    ProblemJson(request): ProblemJson<EditRequest>,
) -> Result<Json<Summary>, Problem> {
    let body = request
        .body
        .ok_or_else(|| Problem::invalid("body", "required: the edited message"))?;
    let bus = api.bus.get().ok_or(RetryError::NoBroker)?;
    let row = retry::edit_and_retry(&api.pool, bus, &message_id, &body).await?;
    Ok(Json(row.summary()))
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct BulkDiscard {
    #[serde(flatten)]
    pub filters: Filters,
    /// Only these (still parked, still matching the filters).
    pub message_ids: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Discarded {
    pub discarded: u64,
}

async fn discard_bulk(
    State(api): State<Api>,
    ProblemJson(request): ProblemJson<BulkDiscard>,
) -> Result<Json<Discarded>, Problem> {
    // The status is no selection: only parked failures are ever discarded.
    let selects = Filters {
        status: None,
        ..request.filters.clone()
    } != Filters::default();
    if request.message_ids.is_none() && !selects {
        return Err(Problem::invalid(
            "message_ids",
            "name the failures: message ids or at least one filter",
        ));
    }
    let discarded =
        store::discard_matching(&api.pool, &request.filters, request.message_ids.as_deref())
            .await?;
    Ok(Json(Discarded { discarded }))
}

impl From<RetryError> for Problem {
    fn from(error: RetryError) -> Self {
        match error {
            RetryError::NotFound(_) => Problem::not_found("failure"),
            RetryError::NotParked(status) => {
                Problem::conflict(format!("the failure is {status}, not parked"))
            }
            RetryError::NoBroker => Problem::unavailable("the broker is not connected yet")
                .retry_after(std::time::Duration::from_secs(5)),
            RetryError::Publish(error) if error.is_message_fault() => Problem::new(
                StatusCode::BAD_GATEWAY,
                "not-delivered",
                "The broker did not take the message",
            )
            .detail(error.to_string()),
            RetryError::Publish(error) => Problem::unavailable(error.to_string())
                .retry_after(std::time::Duration::from_secs(5)),
            RetryError::Database(error) => error.into(),
            RetryError::Invalid(invalid) => Problem::invalid(invalid.field, invalid.reason),
        }
    }
}

async fn retry_one(
    State(api): State<Api>,
    Path(message_id): Path<String>,
) -> Result<Json<Summary>, Problem> {
    let bus = api.bus.get().ok_or(RetryError::NoBroker)?;
    let row = retry::retry_one(&api.pool, bus, &message_id).await?;
    Ok(Json(row.summary()))
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRetry {
    #[serde(flatten)]
    pub filters: Filters,
    /// Messages a second (default `OPS_RETRY_RATE`).
    pub rate_per_s: Option<f64>,
    /// At most this many (default 10 000).
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct BulkStarted {
    /// How many parked failures match and will be retried.
    pub matched: usize,
    pub rate_per_s: f64,
}

async fn retry_bulk(
    State(api): State<Api>,
    ProblemJson(request): ProblemJson<BulkRetry>,
) -> Result<(StatusCode, Json<BulkStarted>), Problem> {
    let rate = request.rate_per_s.unwrap_or(api.default_rate_per_s);
    if !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0) {
        return Err(Problem::invalid(
            "rate_per_s",
            "more than 0, at most 10 000",
        ));
    }
    let limit = request.limit.unwrap_or(10_000);
    if !(1..=100_000).contains(&limit) {
        return Err(Problem::invalid("limit", "1 to 100 000"));
    }
    let bus = api.bus.get().ok_or(RetryError::NoBroker)?.clone();
    let matched = retry::retry_matching(&api.pool, bus, &request.filters, rate, limit).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BulkStarted {
            matched,
            rate_per_s: rate,
        }),
    ))
}

async fn move_status(
    api: &Api,
    message_id: &str,
    from: &str,
    to: &str,
) -> Result<Json<Summary>, Problem> {
    let (moved, row) = store::set_status(&api.pool, message_id, from, to).await?;
    let row = row.ok_or_else(|| Problem::not_found("failure"))?;
    if !moved {
        return Err(Problem::conflict(format!(
            "the failure is {}, not {from}",
            row.status
        )));
    }
    Ok(Json(row.summary()))
}

async fn discard(
    State(api): State<Api>,
    Path(message_id): Path<String>,
) -> Result<Json<Summary>, Problem> {
    move_status(&api, &message_id, "parked", "discarded").await
}

async fn restore(
    State(api): State<Api>,
    Path(message_id): Path<String>,
) -> Result<Json<Summary>, Problem> {
    move_status(&api, &message_id, "discarded", "parked").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_digest() {
        assert!(same(&digest("s3cret"), &digest("s3cret")));
        assert!(!same(&digest("s3cret"), &digest("s3cret ")));
        assert!(!same(&digest(""), &digest("x")));
    }
}
