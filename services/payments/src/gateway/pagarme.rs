//! pagar.me's v5 API (`/core/v5`): `POST /orders` with a credit-card payment captured at once,
//! `GET /orders?code=` to find an order's charge, `DELETE /charges/{id}` to cancel it.
//!
//! Invariants:
//! - HTTP Basic with the secret key as the user and an empty password, on every call.
//! - An `Idempotency-Key` header on every mutating call (`POST`, `DELETE`).
//! - Amounts go out as integer cents, exactly as they came in.
//! - The secret key and the card token leave only inside the request; neither is logged, and
//!   [`PagarMe`]'s `Debug` redacts the key.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{ChargeRequest, ChargeStatus, Gateway, GatewayCharge, GatewayError};

/// A pagar.me account: its base URL (`https://api.pagar.me/core/v5`, or the simulator's) and
/// its secret key.
#[derive(Debug, Clone)]
pub struct PagarMe {
    http: reqwest::Client,
    base: String,
    secret_key: SecretString,
}

impl PagarMe {
    pub fn new(base: impl Into<String>, secret_key: SecretString) -> Result<Self, GatewayError> {
        Ok(Self {
            http: super::http_client()?,
            base: base.into().trim_end_matches('/').to_owned(),
            secret_key,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(self.secret_key.expose_secret(), Some(""))
    }
}

#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    #[serde(default)]
    charges: Vec<Charge>,
}

#[derive(Debug, Deserialize)]
struct Charge {
    id: String,
    status: String,
    #[serde(default)]
    last_transaction: Option<Transaction>,
}

#[derive(Debug, Deserialize)]
struct Transaction {
    #[serde(default)]
    acquirer_return_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Orders {
    data: Vec<Order>,
}

fn unreachable(error: &reqwest::Error) -> GatewayError {
    // The URL is ours and carries no secret (Basic auth travels in a header).
    // With its causes (connect refused, TLS handshake, …), for the history.
    GatewayError::Unreachable(service_kit::problem::cause_chain(error))
}

async fn read<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, GatewayError> {
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let message = response.text().await.unwrap_or_default();
        return Err(GatewayError::Status {
            status: status.as_u16(),
            retry_after,
            message: message.chars().take(500).collect(),
        });
    }
    let bytes = response.bytes().await.map_err(|e| unreachable(&e))?;
    serde_json::from_slice(&bytes).map_err(|e| GatewayError::Decode(e.to_string()))
}

fn charge_of(order: Order) -> Result<GatewayCharge, GatewayError> {
    let charge = order
        .charges
        .into_iter()
        .next()
        .ok_or_else(|| GatewayError::Decode(format!("order {} has no charge", order.id)))?;
    Ok(GatewayCharge {
        order_id: order.id,
        charge_id: charge.id,
        status: ChargeStatus::parse(&charge.status),
        response_code: charge.last_transaction.and_then(|t| t.acquirer_return_code),
    })
}

impl Gateway for PagarMe {
    async fn charge(&self, request: &ChargeRequest) -> Result<GatewayCharge, GatewayError> {
        let body = json!({
            "code": request.code,
            "items": [{
                "amount": request.amount_minor,
                "description": format!("Pedido {}", request.code),
                "quantity": 1,
                "code": request.code,
            }],
            "customer": {
                "name": request.customer_name,
                "email": request.customer_email,
            },
            "payments": [{
                "payment_method": "credit_card",
                "amount": request.amount_minor,
                "credit_card": {
                    "card_token": request.card_token.expose_secret(),
                    "capture": true,
                    "installments": 1,
                },
            }],
        });
        let response = self
            .authed(self.http.post(self.url("/orders")))
            .header("Idempotency-Key", &request.idempotency_key)
            .json(&body)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        charge_of(read(response).await?)
    }

    async fn find_by_code(&self, code: &str) -> Result<Option<GatewayCharge>, GatewayError> {
        let response = self
            .authed(self.http.get(self.url("/orders")))
            .query(&[("code", code)])
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let orders: Orders = read(response).await?;
        orders.data.into_iter().next().map(charge_of).transpose()
    }

    async fn cancel(
        &self,
        charge_id: &str,
        idempotency_key: &str,
    ) -> Result<GatewayCharge, GatewayError> {
        #[derive(Deserialize)]
        struct Cancelled {
            id: String,
            status: String,
            #[serde(default)]
            order: Option<OrderRef>,
            #[serde(default)]
            last_transaction: Option<Transaction>,
        }
        #[derive(Deserialize)]
        struct OrderRef {
            id: String,
        }
        let response = self
            .authed(self.http.delete(self.url(&format!("/charges/{charge_id}"))))
            .header("Idempotency-Key", idempotency_key)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let charge: Cancelled = read(response).await?;
        Ok(GatewayCharge {
            order_id: charge.order.map(|o| o.id).unwrap_or_default(),
            charge_id: charge.id,
            status: ChargeStatus::parse(&charge.status),
            response_code: charge.last_transaction.and_then(|t| t.acquirer_return_code),
        })
    }
}
