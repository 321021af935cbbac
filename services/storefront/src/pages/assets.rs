//! The few static files, built into the binary: the stylesheet and three small scripts that
//! only enhance (suggestions, the logo preview) — except card tokenization, the one step that
//! needs JavaScript.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::PageError;

const FILES: [(&str, &str, &str); 4] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../static/style.css"),
    ),
    (
        "checkout.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/checkout.js"),
    ),
    (
        "suggest.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/suggest.js"),
    ),
    (
        "preview.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/preview.js"),
    ),
];

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            *body,
        )
            .into_response(),
        None => PageError::NotFound.into_response(),
    }
}
