//! RFC 9457 problem details: every error body Summit returns is `application/problem+json`.
//!
//! Handlers return `Result<_, Problem>` (or a domain error that converts into one, once, at the
//! edge). Internal errors are logged with their cause and shown to the client only as a 500.
//! [`ProblemJson`] is axum's `Json` extractor with its rejections turned into problems:
//! malformed JSON → 400, a body that does not fit the type (missing, mistyped or unknown field)
//! → 422 naming the field, wrong content type → 415, too large → 413. [`ProblemQuery`] does the
//! same for the query string: one that does not fit (a repeated, mistyped or unknown parameter)
//! → 422 naming the parameter, never axum's plain-text 400.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable, short name of the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For 422: the fields at fault and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Seconds after which the client may try again, sent as `Retry-After` (503, 429).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: impl Into<String>) -> Self {
        Self {
            status,
            kind: kind.to_owned(),
            title: title.into(),
            detail: None,
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Tells the client when to try again (`Retry-After`, whole seconds, at least 1).
    pub fn retry_after(mut self, after: std::time::Duration) -> Self {
        self.retry_after = Some(after.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Malformed request").detail(detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid admin key",
        )
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
        )
        .detail(detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict").detail(detail)
    }

    /// 422 naming the field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid field",
        )
        .detail(format!("{field}: {message}"));
        problem.errors.push(FieldError {
            field: field.to_owned(),
            message,
        });
        problem
    }

    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        )
        .detail(detail)
    }

    /// A 500 whose cause — the whole chain of `source()`s — is logged, never shown.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause_chain(error), "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Temporarily unavailable",
        )
        .detail(detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, axum::Json(&self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110: a 401 names the scheme the client should use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                tracing::warn!(%error, "database unavailable");
                Problem::unavailable("the database is unavailable; try again shortly")
            }
            _ => Problem::internal(&error),
        }
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                // serde's message names the path: "body.price_minor: invalid type ..." or
                // "unknown field `x`"; keep the field name first for clients.
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize the JSON body into the target type: ")
                    .unwrap_or(&text)
                    .to_owned();
                let field = field_of(&detail);
                let mut problem = Problem::invalid(&field, detail.clone());
                problem.detail = Some(detail);
                problem
            }
            JsonRejection::JsonSyntaxError(e) => Problem::bad_request(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Expected Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Problem::payload_too_large(e.body_text())
            }
            other => Problem::new(other.status(), "bad-request", other.body_text()),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        let text = rejection.body_text();
        let detail = text
            .strip_prefix("Failed to deserialize query string: ")
            .unwrap_or(&text)
            .to_owned();
        let field = field_of(&detail);
        let field = if field == "body" { "query" } else { &field };
        Problem::invalid(field, detail)
    }
}

/// `error` and every `source()` under it, outermost first: `a: b: c`. A wrapper that already
/// prints its source (`#[error("db: {0}")]`) is not repeated.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        current = cause.source();
    }
    chain
}

/// The field a serde message is about: `unknown field `x``, `missing field `x``, or `x: …`.
fn field_of(message: &str) -> String {
    for marker in ["unknown field `", "missing field `", "duplicate field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().unwrap_or_default().to_owned();
        }
    }
    message
        .split(": ")
        .next()
        .filter(|p| !p.contains(' '))
        .unwrap_or("body")
        .to_owned()
}

/// `Json<T>` whose rejections are [`Problem`]s.
pub struct ProblemJson<T>(pub T);

impl<S, T> FromRequest<S> for ProblemJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// `Query<T>` whose rejections are [`Problem`]s (422 naming the parameter).
pub struct ProblemQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ProblemQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use super::{ProblemQuery, cause_chain, field_of};

    #[derive(Debug, thiserror::Error)]
    enum Layered {
        #[error("storing the order")]
        Store(#[source] Box<Layered>),
        #[error("database")]
        Database(#[source] std::io::Error),
        #[error("pool: {0}")]
        Pool(#[source] std::io::Error),
    }

    #[test]
    fn the_cause_chain_names_every_source_outermost_first() {
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let error = Layered::Store(Box::new(Layered::Database(io())));
        assert_eq!(
            cause_chain(&error),
            "storing the order: database: connection reset"
        );
        assert_eq!(
            cause_chain(&io()),
            "connection reset",
            "no source, no colon"
        );
        // A wrapper that already prints its source does not say it twice.
        let error = Layered::Store(Box::new(Layered::Pool(io())));
        assert_eq!(
            cause_chain(&error),
            "storing the order: pool: connection reset"
        );
    }

    #[test]
    fn names_the_field_of_serde_messages() {
        assert_eq!(
            field_of("unknown field `colour`, expected one of `name`"),
            "colour"
        );
        assert_eq!(field_of("missing field `sku` at line 1 column 2"), "sku");
        assert_eq!(field_of("duplicate field `status`"), "status");
        assert_eq!(
            field_of("price_minor: invalid type: string \"x\", expected i64"),
            "price_minor"
        );
        assert_eq!(field_of("something odd happened"), "body");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Filter {
        #[allow(dead_code)]
        status: Option<String>,
    }

    async fn query_problem(uri: &str) -> super::Problem {
        use axum::extract::FromRequestParts;
        let (mut parts, ()) = axum::http::Request::builder()
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts();
        match ProblemQuery::<Filter>::from_request_parts(&mut parts, &()).await {
            Ok(_) => panic!("{uri} was accepted"),
            Err(problem) => problem,
        }
    }

    /// The fuzzer's find: a repeated parameter was axum's plain-text 400.
    #[tokio::test]
    async fn a_query_string_that_does_not_fit_is_a_problem_naming_the_parameter() {
        let problem = query_problem("/x?status=a&status=b").await;
        assert_eq!(problem.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem.errors[0].field, "status");
        let response = axum::response::IntoResponse::into_response(problem);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}
