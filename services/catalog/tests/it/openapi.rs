//! The OpenAPI document describes exactly what the router serves. The served routes are read
//! from the router itself (axum's route table), not from a list kept by hand, so a route
//! served without being documented fails here; and every documented operation is called.

use std::collections::BTreeSet;

use catalog::CatalogConfig;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{app_pool, spawn};

/// Swagger UI: the document's own viewer, the one family of routes outside it.
const VIEWER: [&str; 3] = ["/docs", "/docs/", "/docs/{*rest}"];

/// The paths the router has registered, from axum's route table. axum has no API to list
/// them, so this reads the router's `Debug` form (`Node { paths: {RouteId(0): "/x", …} }`,
/// the main router's table first). Should that form change, this finds nothing or too
/// little and the test fails loudly; it cannot pass by finding nothing.
fn registered_paths(router: &axum::Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let marker = "Node { paths: {";
    let Some(start) = debug.find(marker) else {
        panic!("no route table in the router's Debug form: {debug:.300}");
    };
    let mut paths = BTreeSet::new();
    let mut chars = debug[start + marker.len()..].chars();
    let mut string: Option<String> = None;
    let mut depth = 1;
    while let Some(c) = chars.next() {
        match (string.as_mut(), c) {
            (Some(s), '\\') => s.extend(chars.next()),
            (Some(_), '"') => paths.extend(string.take()),
            (Some(s), c) => s.push(c),
            (None, '"') => string = Some(String::new()),
            (None, '{') => depth += 1,
            (None, '}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    paths
}

/// Each documented (method, path).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            assert!(
                operation["responses"].is_object(),
                "{method} {path} has responses"
            );
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

#[sqlx::test(migrations = false)]
async fn every_served_route_is_documented_and_every_documented_one_served(
    pool: PgPool,
) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let router = catalog::router(app_pool(&app.pool).await?, CatalogConfig::default());
    let doc: Value = app
        .http
        .get(app.at("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc, serde_json::to_value(catalog::openapi::document())?);
    let documented = operations(&doc);

    // Paths: what the router registered is what the document lists (and the viewer).
    let served = registered_paths(&router);
    let mut expected: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    expected.extend(VIEWER.iter().map(std::string::ToString::to_string));
    assert_eq!(served, expected, "served paths vs documented paths");

    // Methods: on each documented path, a documented method reaches a handler (never the
    // router's 404 or 405), and any other is 405.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path
            .replace("{slug}", "nada")
            .replace("{id}", "00000000-0000-0000-0000-000000000000");
        for method in ["get", "post", "put", "patch", "delete"] {
            let response = app
                .http
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes())?,
                    app.at(&concrete),
                )
                .send()
                .await?;
            let status = response.status();
            if documented.contains(&(method.to_owned(), path.clone())) {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                if status == StatusCode::NOT_FOUND {
                    let body: Value = response.json().await?;
                    assert_ne!(body["title"], "route not found", "{method} {path}");
                }
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
            }
        }
    }

    // A path the router does not know is the route-404 problem.
    let unknown = app.http.get(app.at("/admin/nothing-here")).send().await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(unknown.json::<Value>().await?["title"], "route not found");

    // Swagger UI over the document.
    let ui = app.http.get(app.at("/docs/")).send().await?;
    assert_eq!(ui.status(), StatusCode::OK);
    assert!(ui.text().await?.contains("swagger"), "Swagger UI's page");
    Ok(())
}

#[sqlx::test(migrations = false)]
async fn the_document_describes_bodies_security_and_problems(pool: PgPool) -> anyhow::Result<()> {
    let app = spawn(pool).await?;
    let doc: Value = app
        .http
        .get(app.at("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let op = |method: &str, path: &str| doc["paths"][path][method].clone();
    let schema_ref = |v: &Value| v["$ref"].as_str().unwrap_or_default().to_owned();
    let json_body =
        |op: &Value| schema_ref(&op["requestBody"]["content"]["application/json"]["schema"]);
    let problem_at = |op: &Value, status: &str| {
        schema_ref(&op["responses"][status]["content"]["application/problem+json"]["schema"])
    };

    let ids: BTreeSet<String> = operations(&doc)
        .iter()
        .map(|(m, p)| {
            op(m, p)["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    for id in [
        "createStore",
        "resolveStore",
        "searchProducts",
        "getLogo",
        "getStore",
        "setDomain",
        "getDomain",
        "verifyDomain",
        "setLogo",
        "rotateKey",
        "setLanguage",
        "createProduct",
        "listProducts",
        "getProduct",
        "updateProduct",
        "deleteProduct",
        "openapi",
    ] {
        assert!(ids.contains(id), "{id} in {ids:?}");
    }

    // Request bodies are the domain's own types.
    let create_store = op("post", "/stores");
    assert_eq!(json_body(&create_store), "#/components/schemas/CreateStore");
    assert_eq!(
        json_body(&op("post", "/admin/products")),
        "#/components/schemas/NewProduct"
    );
    assert_eq!(
        json_body(&op("patch", "/admin/products/{id}")),
        "#/components/schemas/ProductPatch"
    );
    assert_eq!(
        json_body(&op("put", "/admin/store/domain")),
        "#/components/schemas/SetDomain"
    );
    let set_domain = &doc["components"]["schemas"]["SetDomain"];
    assert_eq!(set_domain["required"], serde_json::json!(["custom_domain"]));
    assert!(
        op("put", "/admin/store/logo")["requestBody"]["content"]["application/octet-stream"]
            .is_object()
    );
    let create_product = op("post", "/admin/products");
    let params = create_product["parameters"].to_string();
    assert!(params.contains("Idempotency-Key") && params.contains("header"));

    // Problems, where they happen.
    let problem = "#/components/schemas/Problem";
    assert_eq!(problem_at(&create_store, "409"), problem);
    assert_eq!(problem_at(&create_store, "422"), problem);
    let verify = op("post", "/admin/store/domain/verify");
    for status in ["401", "404", "409", "422"] {
        assert_eq!(problem_at(&verify, status), problem, "verify {status}");
    }
    assert_eq!(problem_at(&op("get", "/stores/resolve"), "404"), problem);
    assert_eq!(
        problem_at(&op("delete", "/admin/products/{id}"), "404"),
        problem
    );
    let problem_schema = &doc["components"]["schemas"]["Problem"];
    assert!(problem_schema["properties"]["type"].is_object());
    assert!(problem_schema["properties"]["errors"].is_object());
    assert_eq!(
        schema_ref(&verify["responses"]["200"]["content"]["application/json"]["schema"]),
        "#/components/schemas/DomainClaim"
    );

    // Admin routes need the key; public ones do not.
    assert_eq!(
        doc["components"]["securitySchemes"]["adminKey"]["scheme"],
        "bearer"
    );
    assert!(
        op("get", "/admin/store")["security"]
            .to_string()
            .contains("adminKey")
    );
    assert!(op("get", "/stores/{slug}/products")["security"].is_null());

    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
    Ok(())
}
