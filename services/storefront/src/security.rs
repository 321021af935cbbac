//! Security headers on every response.
//!
//! - `Content-Security-Policy`: scripts only from our own `/static/` files (no inline script,
//!   no `eval`), styles from our own stylesheet, images from us (and `blob:` for the logo
//!   preview), `connect-src` our origin plus the gateway's (the browser tokenizes the card
//!   there), forms post only to us, and no page may be framed (`frame-ancestors 'none'`).
//! - `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (older browsers),
//!   `Referrer-Policy: no-referrer` (an order's status URL carries its token).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy for a gateway at `gateway_url` (its origin is allowed to `connect-src`).
pub fn content_security_policy(gateway_url: &str) -> String {
    let origin = origin_of(gateway_url);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self' {origin}; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    )
}

/// `scheme://host[:port]` of a URL.
pub fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

pub async fn headers(
    State(csp): State<std::sync::Arc<HeaderValue>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, (*csp).clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_gateway_origin_and_forbids_framing_and_inline_scripts() {
        let csp = content_security_policy("http://127.0.0.1:8090/core/v5");
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:8090;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
