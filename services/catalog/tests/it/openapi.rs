//! The OpenAPI document describes exactly what the router serves.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::spawn;

/// Every (method, path) the router serves (besides health, which the runtime adds).
const SERVED: &[(&str, &str)] = &[
    ("post", "/stores"),
    ("get", "/stores/resolve"),
    ("get", "/stores/{slug}/products"),
    ("get", "/stores/{slug}/logo"),
    ("get", "/admin/store"),
    ("put", "/admin/store/domain"),
    ("get", "/admin/store/domain"),
    ("post", "/admin/store/domain/verify"),
    ("put", "/admin/store/logo"),
    ("post", "/admin/store/rotate-key"),
    ("post", "/admin/products"),
    ("get", "/admin/products"),
    ("get", "/admin/products/{id}"),
    ("patch", "/admin/products/{id}"),
    ("delete", "/admin/products/{id}"),
    ("get", "/openapi.json"),
];

#[sqlx::test(migrations = false)]
async fn the_document_lists_every_route_and_only_served_ones(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let doc: Value = app
        .http
        .get(app.at("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has responses"
            );
            documented.push((method.clone(), path.clone()));
        }
    }
    let mut served: Vec<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    served.sort();
    assert_eq!(documented, served);

    // Each documented operation reaches a handler: never the router's 404 or 405.
    for (method, path) in documented {
        let concrete = path
            .replace("{slug}", "nada")
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        let response = app
            .http
            .request(
                Method::from_bytes(method.to_uppercase().as_bytes())?,
                app.at(&concrete),
            )
            .send()
            .await?;
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if response.status() == StatusCode::NOT_FOUND {
            let body: Value = response.json().await?;
            assert_ne!(body["title"], "route not found", "{method} {path}");
        }
    }
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
    Ok(())
}
