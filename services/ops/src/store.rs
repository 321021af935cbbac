//! Reading and changing the parking store: filters, keyset pages, groups, discard, restore,
//! the audit of edits, and the archive's trim.
//!
//! A group is named by [`GROUP_KEY`]: a short hash of its queue, type, error kind and the
//! error's first line, computed by the same SQL expression wherever it is shown or filtered
//! on, so the id an operator copies from the groups table selects exactly that group.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// A row of `failures`, whole.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub message_id: String,
    pub queue: String,
    pub message_type: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub correlation_id: Option<String>,
    pub body: Vec<u8>,
    pub body_text: String,
    pub headers: serde_json::Value,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub attempts: Option<i64>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub failure_count: i32,
    pub deliveries: i32,
    pub status: String,
    pub status_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
    pub retry_count: i32,
    pub history: serde_json::Value,
}

/// A failure in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub message_id: String,
    pub queue: String,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub correlation_id: Option<String>,
    pub error: Option<String>,
    pub error_kind: Option<String>,
    pub attempts: Option<i64>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// How many times this message id was dead-lettered (1 + earlier failures in history).
    pub failure_count: i32,
    /// Dead letters received for this id (redeliveries and duplicates included).
    pub deliveries: i32,
    pub status: String,
    pub status_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
    pub retry_count: i32,
}

/// One failure, whole: every header, the payload, earlier failures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub headers: serde_json::Value,
    /// The body as JSON when it is JSON, else as text.
    pub body: serde_json::Value,
    pub history: serde_json::Value,
    /// Edits made before retrying, oldest first: what the message was before each.
    #[serde(default)]
    pub edits: Vec<Edit>,
}

/// One edit-and-retry, as the audit keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Edit {
    pub edited_at: DateTime<Utc>,
    /// The body before the edit (JSON when it was, else text).
    pub original: serde_json::Value,
    /// The body as edited and sent.
    pub edited: serde_json::Value,
}

/// Bytes as JSON when they are JSON, else as text.
pub fn json_or_text(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

impl Row {
    pub fn summary(&self) -> Summary {
        Summary {
            message_id: self.message_id.clone(),
            queue: self.queue.clone(),
            message_type: self.message_type.clone(),
            tenant_id: self.tenant_id,
            correlation_id: self.correlation_id.clone(),
            error: self.error.clone(),
            error_kind: self.error_kind.clone(),
            attempts: self.attempts,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            failure_count: self.failure_count,
            deliveries: self.deliveries,
            status: self.status.clone(),
            status_at: self.status_at,
            retried_at: self.retried_at,
            retry_count: self.retry_count,
        }
    }

    pub fn detail(self, edits: Vec<Edit>) -> Detail {
        Detail {
            summary: self.summary(),
            body: json_or_text(&self.body),
            headers: self.headers,
            history: self.history,
            edits,
        }
    }
}

/// Which failures: every field optional, all given ones must hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Filters {
    /// The work queue it died in.
    pub queue: Option<String>,
    /// The message type, e.g. `payments.Charge`.
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// The error kind (`rejected`, `retries-exhausted`, `malformed`, …).
    pub kind: Option<String>,
    /// The tenant (store id).
    pub tenant: Option<Uuid>,
    /// Last seen at or after.
    pub since: Option<DateTime<Utc>>,
    /// Text found in the body or a header (case-insensitive).
    pub grep: Option<String>,
    /// `parked` (default), `retried`, `discarded`, or `any`.
    pub status: Option<String>,
    /// A group's id, as the groups show it ([`GROUP_KEY`]).
    pub group: Option<String>,
}

/// The SQL expression naming a row's group: 12 hex digits of the MD5 of its queue, type, error
/// kind and the error's first line (unit-separated). Short enough to type, long enough that
/// two groups of one store never meet.
pub const GROUP_KEY: &str = "left(md5(concat_ws(chr(31), queue, coalesce(message_type, ''), \
     coalesce(error_kind, ''), split_part(coalesce(error, ''), E'\\n', 1))), 12)";

pub const STATUSES: &[&str] = &["parked", "retried", "discarded"];

impl Filters {
    fn push_where(&self, q: &mut QueryBuilder<Postgres>) {
        q.push(" WHERE true");
        match self.status.as_deref() {
            Some("any") => {}
            status => {
                q.push(" AND status = ")
                    .push_bind(status.unwrap_or("parked").to_owned());
            }
        }
        if let Some(queue) = &self.queue {
            q.push(" AND queue = ").push_bind(queue.clone());
        }
        if let Some(message_type) = &self.message_type {
            q.push(" AND message_type = ")
                .push_bind(message_type.clone());
        }
        if let Some(kind) = &self.kind {
            q.push(" AND error_kind = ").push_bind(kind.clone());
        }
        if let Some(tenant) = self.tenant {
            q.push(" AND tenant_id = ").push_bind(tenant);
        }
        if let Some(since) = self.since {
            q.push(" AND last_seen >= ").push_bind(since);
        }
        if let Some(group) = self.group.as_deref().filter(|g| !g.is_empty()) {
            q.push(format!(" AND {GROUP_KEY} = "))
                .push_bind(group.to_lowercase());
        }
        if let Some(grep) = self.grep.as_deref().filter(|g| !g.is_empty()) {
            let needle = grep.to_lowercase();
            q.push(" AND (strpos(lower(body_text), ")
                .push_bind(needle.clone())
                .push(") > 0 OR strpos(lower(headers::text), ")
                .push_bind(needle)
                .push(") > 0)");
        }
    }
}

/// Where a page ends: the last row's `(last_seen, message_id)`.
pub type Cursor = (DateTime<Utc>, String);

/// A page of failures, newest first; the cursor of the next page, if any.
pub async fn list(
    pool: &PgPool,
    filters: &Filters,
    after: Option<Cursor>,
    limit: i64,
) -> Result<(Vec<Row>, Option<Cursor>), sqlx::Error> {
    let mut q = QueryBuilder::new("SELECT * FROM failures");
    filters.push_where(&mut q);
    if let Some((last_seen, message_id)) = after {
        q.push(" AND (last_seen, message_id) < (")
            .push_bind(last_seen)
            .push(", ")
            .push_bind(message_id)
            .push(")");
    }
    q.push(" ORDER BY last_seen DESC, message_id DESC LIMIT ")
        .push_bind(limit + 1);
    let mut rows: Vec<Row> = q.build_query_as().fetch_all(pool).await?;
    let next = if rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        rows.pop();
        rows.last().map(|r| (r.last_seen, r.message_id.clone()))
    } else {
        None
    };
    Ok((rows, next))
}

/// The message ids matching `filters`, oldest failure first (bulk retries walk them).
pub async fn ids(pool: &PgPool, filters: &Filters, limit: i64) -> Result<Vec<String>, sqlx::Error> {
    let mut q = QueryBuilder::new("SELECT message_id FROM failures");
    filters.push_where(&mut q);
    q.push(" ORDER BY first_seen, message_id LIMIT ")
        .push_bind(limit);
    q.build_query_scalar().fetch_all(pool).await
}

/// Failures that read as one: same queue, type, error kind and first line of the error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, sqlx::FromRow)]
pub struct Group {
    /// The group's id ([`GROUP_KEY`]): what `--group` and `group=` select.
    pub id: String,
    pub queue: String,
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    pub error_kind: Option<String>,
    /// The first line of the error.
    pub error: String,
    pub count: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Every tenant (store) with a failure in the group.
    pub tenants: Vec<Uuid>,
}

pub async fn groups(pool: &PgPool, filters: &Filters) -> Result<Vec<Group>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {GROUP_KEY} AS id, queue, message_type, error_kind, \
         split_part(coalesce(error, ''), E'\\n', 1) AS error, count(*) AS count, \
         min(first_seen) AS first_seen, max(last_seen) AS last_seen, \
         coalesce(array_agg(DISTINCT tenant_id) FILTER (WHERE tenant_id IS NOT NULL), '{{}}') \
         AS tenants FROM failures"
    ));
    filters.push_where(&mut q);
    q.push(" GROUP BY 1, 2, 3, 4, 5 ORDER BY count DESC, last_seen DESC");
    q.build_query_as().fetch_all(pool).await
}

pub async fn get(pool: &PgPool, message_id: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM failures WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(pool)
        .await
}

/// Moves a row from status `from` to `to`: whether it moved, and the row as it is now (`None`:
/// no such message).
pub async fn set_status(
    pool: &PgPool,
    message_id: &str,
    from: &str,
    to: &str,
) -> Result<(bool, Option<Row>), sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE failures SET status = $3, status_at = now() WHERE message_id = $1 AND status = $2",
    )
    .bind(message_id)
    .bind(from)
    .bind(to)
    .execute(pool)
    .await?
    .rows_affected()
        > 0;
    Ok((moved, get(pool, message_id).await?))
}

/// The edits of `message_id`, oldest first.
pub async fn edits(pool: &PgPool, message_id: &str) -> Result<Vec<Edit>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT edited_at, original_body, edited_body FROM edits WHERE message_id = $1 ORDER BY id",
    )
    .bind(message_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(edited_at, original, edited)| Edit {
            edited_at,
            original: json_or_text(&original),
            edited: json_or_text(&edited),
        })
        .collect())
}

/// Discards (archives) every parked failure matching `filters` and, when given, among
/// `message_ids`; how many moved.
pub async fn discard_matching(
    pool: &PgPool,
    filters: &Filters,
    message_ids: Option<&[String]>,
) -> Result<u64, sqlx::Error> {
    let filters = Filters {
        status: Some("parked".to_owned()),
        ..filters.clone()
    };
    let mut q = QueryBuilder::new("UPDATE failures SET status = 'discarded', status_at = now()");
    filters.push_where(&mut q);
    if let Some(ids) = message_ids {
        q.push(" AND message_id = ANY(")
            .push_bind(ids.to_vec())
            .push(")");
    }
    Ok(q.build().execute(pool).await?.rows_affected())
}

/// Deletes archived (discarded) failures discarded more than `days` days ago, with their
/// edits; how many went.
pub async fn trim_archive(pool: &PgPool, days: u32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM failures WHERE status = 'discarded' \
         AND status_at < now() - make_interval(days => $1)",
    )
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
