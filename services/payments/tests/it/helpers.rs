//! The simulator started in-process on port 0, and the calls a browser would make to it.

use payments::gateway::PagarMe;
use payments::sim::Simulator;
use reqwest::Client;
use secrecy::SecretString;
use serde_json::{Value, json};

/// pagar.me's documented test cards.
pub const PAID: &str = "4000000000000010";
pub const DECLINED: &str = "4000000000000028";
pub const PROCESSING: &str = "4000000000000036";

pub struct Sim {
    pub url: String,
    pub http: Client,
}

impl Sim {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(Simulator::new().serve(listener));
        Ok(Self {
            url,
            http: Client::new(),
        })
    }

    pub fn base(&self) -> String {
        format!("{}/core/v5", self.url)
    }

    pub fn pagarme(&self) -> anyhow::Result<PagarMe> {
        Ok(PagarMe::new(
            self.base(),
            SecretString::from("sk_test_summit".to_owned()),
        )?)
    }

    /// Tokenizes a card as the browser does.
    pub async fn token(&self, number: &str) -> anyhow::Result<String> {
        let response: Value = self
            .http
            .post(format!("{}/tokens?appId=pk_test_summit", self.base()))
            .json(&json!({
                "type": "card",
                "card": {
                    "number": number,
                    "holder_name": "Maria Silva",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "cvv": "123",
                },
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        response["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no token in {response}"))
    }

    /// How many charges the gateway really made for an order.
    pub async fn charges(&self, code: &str) -> anyhow::Result<u64> {
        let response: Value = self
            .http
            .get(format!("{}/_sim/charges", self.url))
            .query(&[("code", code)])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        response["charges"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("no count in {response}"))
    }

    pub async fn faults(&self, faults: Value) -> anyhow::Result<()> {
        self.http
            .put(format!("{}/_sim/faults", self.url))
            .json(&faults)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/_sim/faults", self.url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}
