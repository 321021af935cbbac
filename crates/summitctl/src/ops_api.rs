//! The ops service's `/ops` API, where `OPS_URL` (default `http://127.0.0.1:8085`) and
//! `OPS_TOKEN` (the operator token; never printed) say.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    pub fn from_env() -> anyhow::Result<Self> {
        let base = std::env::var("OPS_URL").unwrap_or_else(|_| "http://127.0.0.1:8085".to_owned());
        let token = std::env::var("OPS_TOKEN").context("OPS_TOKEN is not set")?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http: reqwest::Client::new(),
        })
    }

    /// Sends `request`: the status and the JSON body (`null` when there is none); only a
    /// failure to reach the service is an error.
    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("the ops service at {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// The body of a successful answer; any other is an error carrying the problem's detail.
    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let (status, body) = self.send(request).await?;
        if !status.is_success() {
            bail!("ops answered {status}: {}", problem_detail(&body));
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.call(self.http.get(format!("{}{path}", self.base)).query(query))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    /// A POST whose refusal the caller reads (a bulk retry skips a 409 and goes on).
    pub async fn post_answer(
        &self,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }
}

/// What a problem+json says: its detail, else its title.
pub fn problem_detail(body: &Value) -> &str {
    body["detail"]
        .as_str()
        .or_else(|| body["title"].as_str())
        .unwrap_or("")
}

/// A message id as one path segment.
pub fn segment(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '~' | ':' => c.to_string(),
            other => {
                let mut buf = [0_u8; 4];
                other
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(segment("0193-abc"), "0193-abc");
        assert_eq!(segment("sha256:ab/c d"), "sha256:ab%2Fc%20d");
    }
}
