//! Stripe's PaymentIntents (`/v1`): form-encoded requests, `Authorization: Bearer sk_…`,
//! `POST /v1/payment_intents` with `confirm=true` to charge, `GET /v1/payment_intents/search`
//! (by `metadata['order_id']`) or `GET /v1/payment_intents/{id}` to look up,
//! `POST /v1/payment_intents/{id}/cancel` to void an uncaptured intent and `POST /v1/refunds` to
//! give a captured one back.
//!
//! Invariants:
//! - An `Idempotency-Key` header on every mutating call (`POST`).
//! - Amounts go out as integer minor units, exactly as they came in; the currency lower-case.
//! - A decline is an answer, not an error: Stripe's 402 `card_error` carries the intent
//!   (`requires_payment_method`), which maps to `declined`.
//! - The secret key and the payment method leave only inside the request; [`Stripe`]'s `Debug`
//!   redacts the key.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{ChargeRequest, ChargeStatus, Gateway, GatewayCharge, GatewayError};

/// A Stripe account: its base URL (`https://api.stripe.com`, or the simulator's) and its secret
/// key.
#[derive(Debug, Clone)]
pub struct Stripe {
    http: reqwest::Client,
    base: String,
    secret_key: SecretString,
}

/// Stripe's PaymentIntent status as one of ours (the table in docs/payments.md).
pub fn status_of(stripe: &str) -> ChargeStatus {
    match stripe {
        "succeeded" => ChargeStatus::Paid,
        "requires_capture" => ChargeStatus::AuthorizedPendingCapture,
        "processing" => ChargeStatus::Processing,
        // Declined (the card was refused; Stripe wants another method), or it needs the
        // customer's authentication, which a server-side charge cannot give: both final no's.
        "requires_payment_method" | "requires_action" => ChargeStatus::NotAuthorized,
        "canceled" => ChargeStatus::Canceled,
        other => ChargeStatus::Other(other.to_owned()),
    }
}

#[derive(Debug, Deserialize)]
struct Intent {
    id: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<LastError>,
}

#[derive(Debug, Deserialize)]
struct LastError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CardError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    payment_intent: Option<Intent>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: CardError,
}

#[derive(Debug, Deserialize)]
struct Search {
    data: Vec<Intent>,
}

#[derive(Debug, Deserialize)]
struct Refund {
    status: String,
    payment_intent: String,
}

fn charge_of(intent: Intent) -> GatewayCharge {
    let response_code = intent
        .last_payment_error
        .as_ref()
        .and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()));
    GatewayCharge {
        order_id: intent.id.clone(),
        charge_id: intent.id,
        status: status_of(&intent.status),
        response_code,
    }
}

fn unreachable(error: &reqwest::Error) -> GatewayError {
    // With its causes (connect refused, TLS handshake, …), for the history.
    GatewayError::Unreachable(service_kit::problem::cause_chain(error))
}

/// Reads a success as `T`; a 402 card error that carries its intent becomes that intent.
async fn read<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<Result<T, Intent>, GatewayError> {
    let status = response.status();
    if !status.is_success() {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let message = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::PAYMENT_REQUIRED
            && let Ok(ErrorBody { error }) = serde_json::from_str::<ErrorBody>(&message)
            && let Some(mut intent) = error.payment_intent
        {
            let code = error.decline_code.or(error.code);
            intent.last_payment_error = Some(LastError {
                code,
                decline_code: None,
            });
            return Ok(Err(intent));
        }
        return Err(GatewayError::Status {
            status: status.as_u16(),
            retry_after,
            message: message.chars().take(500).collect(),
        });
    }
    let bytes = response.bytes().await.map_err(|e| unreachable(&e))?;
    serde_json::from_slice(&bytes)
        .map(Ok)
        .map_err(|e| GatewayError::Decode(e.to_string()))
}

impl Stripe {
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
        request.bearer_auth(self.secret_key.expose_secret())
    }

    /// One intent by its id.
    pub async fn intent(&self, id: &str) -> Result<GatewayCharge, GatewayError> {
        let response = self
            .authed(
                self.http
                    .get(self.url(&format!("/v1/payment_intents/{id}"))),
            )
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        Ok(charge_of(
            read::<Intent>(response).await?.unwrap_or_else(|i| i),
        ))
    }
}

impl Gateway for Stripe {
    async fn charge(&self, request: &ChargeRequest) -> Result<GatewayCharge, GatewayError> {
        let amount = request.amount_minor.to_string();
        let currency = request.currency.to_lowercase();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency.as_str()),
            ("payment_method", request.card_token.expose_secret()),
            ("payment_method_types[]", "card"),
            ("confirm", "true"),
            ("capture_method", "automatic"),
            ("metadata[order_id]", request.code.as_str()),
            ("receipt_email", request.customer_email.as_str()),
        ];
        let response = self
            .authed(self.http.post(self.url("/v1/payment_intents")))
            .header("Idempotency-Key", &request.idempotency_key)
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        Ok(charge_of(
            read::<Intent>(response).await?.unwrap_or_else(|i| i),
        ))
    }

    async fn find_by_code(&self, code: &str) -> Result<Option<GatewayCharge>, GatewayError> {
        // Our order ids are UUIDs: nothing to escape inside the quotes.
        let query = format!("metadata['order_id']:'{code}'");
        let response = self
            .authed(self.http.get(self.url("/v1/payment_intents/search")))
            .query(&[("query", query.as_str())])
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let found = match read::<Search>(response).await? {
            Ok(search) => search.data.into_iter().next(),
            Err(intent) => Some(intent),
        };
        Ok(found.map(charge_of))
    }

    /// Cancels an intent not yet captured; refunds a succeeded one.
    async fn cancel(
        &self,
        charge_id: &str,
        idempotency_key: &str,
    ) -> Result<GatewayCharge, GatewayError> {
        let current = self.intent(charge_id).await?;
        if current.status == ChargeStatus::Paid {
            let response = self
                .authed(self.http.post(self.url("/v1/refunds")))
                .header("Idempotency-Key", idempotency_key)
                .form(&[("payment_intent", charge_id)])
                .send()
                .await
                .map_err(|e| unreachable(&e))?;
            let refund = read::<Refund>(response)
                .await?
                .map_err(|_| GatewayError::Decode("a refund answered a card error".into()))?;
            let status = match refund.status.as_str() {
                "succeeded" | "pending" => ChargeStatus::Refunded,
                other => ChargeStatus::Other(format!("refund {other}")),
            };
            return Ok(GatewayCharge {
                order_id: refund.payment_intent.clone(),
                charge_id: refund.payment_intent,
                status,
                response_code: None,
            });
        }
        let response = self
            .authed(
                self.http
                    .post(self.url(&format!("/v1/payment_intents/{charge_id}/cancel"))),
            )
            .header("Idempotency-Key", idempotency_key)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        Ok(charge_of(
            read::<Intent>(response).await?.unwrap_or_else(|i| i),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::Status;

    #[test]
    fn stripe_statuses_map_onto_ours() {
        let table = [
            ("succeeded", Status::Completed),
            ("requires_capture", Status::Authorized),
            ("processing", Status::Processing),
            ("requires_payment_method", Status::Declined),
            ("requires_action", Status::Declined),
            ("canceled", Status::Voided),
            ("requires_confirmation", Status::GatewayError),
        ];
        for (theirs, ours) in table {
            assert_eq!(status_of(theirs).ours(), ours, "{theirs}");
        }
    }
}
