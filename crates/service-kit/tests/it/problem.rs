use axum::Router;
use axum::routing::{get, post};
use serde::Deserialize;
use service_kit::{Problem, ProblemJson};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NewThing {
    name: String,
    price_minor: i64,
}

async fn create(ProblemJson(_): ProblemJson<NewThing>) -> &'static str {
    "created"
}

async fn locked() -> Result<&'static str, Problem> {
    Err(Problem::unauthorized())
}

async fn serve() -> anyhow::Result<String> {
    let app = Router::new()
        .route("/things", post(create))
        .route("/locked", get(locked))
        .layer(axum::extract::DefaultBodyLimit::max(1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

async fn post_json(url: &str, body: &str) -> anyhow::Result<(u16, String, serde_json::Value)> {
    let response = reqwest::Client::new()
        .post(format!("{url}/things"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Ok((status, content_type, body))
}

#[tokio::test]
async fn bad_bodies_get_problems_naming_what_is_wrong() -> anyhow::Result<()> {
    let url = serve().await?;

    let (status, content_type, _) = post_json(&url, r#"{"name": "x", "price_minor": 5}"#).await?;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/plain; charset=utf-8")
    );

    let (status, content_type, body) = post_json(&url, r#"{"name": "#).await?;
    assert_eq!(status, 400);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(body["type"], "bad-request");

    let (status, _, body) =
        post_json(&url, r#"{"name": "x", "price_minor": 5, "colour": 1}"#).await?;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "colour");

    let (status, _, body) = post_json(&url, r#"{"name": "x"}"#).await?;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "price_minor");

    let (status, _, body) = post_json(&url, r#"{"name": "x", "price_minor": "five"}"#).await?;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "price_minor", "{body}");

    let big = format!(r#"{{"name": "{}", "price_minor": 1}}"#, "x".repeat(4096));
    let (status, content_type, _) = post_json(&url, &big).await?;
    assert_eq!(
        (status, content_type.as_str()),
        (413, "application/problem+json")
    );

    let response = reqwest::Client::new()
        .post(format!("{url}/things"))
        .body(r#"{"name": "x", "price_minor": 5}"#)
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 415);
    Ok(())
}

#[tokio::test]
async fn unauthorized_names_the_bearer_scheme() -> anyhow::Result<()> {
    let url = serve().await?;
    let response = reqwest::get(format!("{url}/locked")).await?;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    Ok(())
}
