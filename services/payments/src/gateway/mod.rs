//! The seam between payments and a card gateway: one [`Gateway`] trait, one adapter per API
//! shape ([`pagarme`], [`stripe`]), and the mapping of a gateway's charge statuses onto ours
//! ([`ChargeStatus::ours`]).
//!
//! Invariants:
//! - Every mutating call carries the caller's idempotency key; for one order it is always the
//!   same key ([`charge_key`], [`void_key`]), so a retried or redelivered call never charges
//!   twice: the gateway answers the first result again.
//! - Amounts are integer minor units (cents); nothing here passes money through a float.
//! - Secrets and card tokens are `secrecy` types: `Debug` never prints them, nothing logs them.

pub mod pagarme;
pub mod stripe;

use std::future::Future;

use resilience::{Class, Classify, classify_status};
use secrecy::SecretString;
use uuid::Uuid;

use crate::payment::Status;

pub use pagarme::PagarMe;
pub use stripe::Stripe;

/// The idempotency key of an order's charge: derived from the order, so every attempt, every
/// redelivery and every process sends the same one.
pub fn charge_key(order_id: Uuid) -> String {
    format!("summit-charge-{order_id}")
}

/// The idempotency key of an order's void.
pub fn void_key(order_id: Uuid) -> String {
    format!("summit-void-{order_id}")
}

/// A charge with capture, as the gateway needs it.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// Our order id: the gateway's order `code`, what a lookup finds the charge by.
    pub code: String,
    pub amount_minor: i64,
    pub currency: String,
    pub customer_name: String,
    pub customer_email: String,
    /// The browser tokenized the card at the gateway; this is never a card number.
    pub card_token: SecretString,
    pub idempotency_key: String,
}

/// A charge's status as a gateway reports it (pagar.me's names; docs/payments.md maps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeStatus {
    Paid,
    AuthorizedPendingCapture,
    Processing,
    Pending,
    Failed,
    NotAuthorized,
    Canceled,
    Refunded,
    /// A name this adapter does not know; settled as a gateway error, never guessed.
    Other(String),
}

impl ChargeStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "paid" => Self::Paid,
            "authorized_pending_capture" => Self::AuthorizedPendingCapture,
            "processing" => Self::Processing,
            "pending" => Self::Pending,
            "failed" => Self::Failed,
            "not_authorized" => Self::NotAuthorized,
            "canceled" | "voided" => Self::Canceled,
            "refunded" => Self::Refunded,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Our status for the gateway's (the table in docs/payments.md).
    pub fn ours(&self) -> Status {
        match self {
            Self::Paid => Status::Completed,
            Self::AuthorizedPendingCapture => Status::Authorized,
            Self::Processing | Self::Pending => Status::Processing,
            Self::Failed | Self::NotAuthorized => Status::Declined,
            Self::Canceled | Self::Refunded => Status::Voided,
            Self::Other(_) => Status::GatewayError,
        }
    }
}

/// What the gateway says about one charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayCharge {
    /// The gateway's order id (`or_…`).
    pub order_id: String,
    /// The gateway's charge id (`ch_…`); what a void cancels.
    pub charge_id: String,
    pub status: ChargeStatus,
    /// The acquirer's return code, kept in the history.
    pub response_code: Option<String>,
}

/// Why a gateway call gave no answer about the charge.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No HTTP answer: connect refused or reset, the request timed out.
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    /// An HTTP answer that is not a success.
    #[error("gateway answered {status}")]
    Status {
        status: u16,
        retry_after: Option<String>,
        /// The gateway's message, for the history; never carries our secrets.
        message: String,
    },
    /// A success we could not read.
    #[error("gateway answer not understood: {0}")]
    Decode(String),
}

impl Classify for GatewayError {
    fn classify(&self) -> Class {
        match self {
            GatewayError::Unreachable(_) => Class::TRANSIENT,
            GatewayError::Status {
                status,
                retry_after,
                ..
            } => classify_status(*status, retry_after.as_deref()),
            GatewayError::Decode(_) => Class::Permanent,
        }
    }
}

/// One of the adapters, chosen at run time by a store's settings. Each call is boxed: the
/// adapters' futures are large, and an enum of them inline overflows a test thread's stack.
#[derive(Debug, Clone)]
pub enum AnyGateway {
    PagarMe(PagarMe),
    Stripe(Stripe),
}

impl Gateway for AnyGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<GatewayCharge, GatewayError> {
        match self {
            AnyGateway::PagarMe(g) => Box::pin(g.charge(request)).await,
            AnyGateway::Stripe(g) => Box::pin(g.charge(request)).await,
        }
    }

    async fn find_by_code(&self, code: &str) -> Result<Option<GatewayCharge>, GatewayError> {
        match self {
            AnyGateway::PagarMe(g) => Box::pin(g.find_by_code(code)).await,
            AnyGateway::Stripe(g) => Box::pin(g.find_by_code(code)).await,
        }
    }

    async fn cancel(
        &self,
        charge_id: &str,
        idempotency_key: &str,
    ) -> Result<GatewayCharge, GatewayError> {
        match self {
            AnyGateway::PagarMe(g) => Box::pin(g.cancel(charge_id, idempotency_key)).await,
            AnyGateway::Stripe(g) => Box::pin(g.cancel(charge_id, idempotency_key)).await,
        }
    }
}

/// The HTTP client every adapter speaks through: a short connect timeout (a gateway that is
/// not there is found out fast; the policy's per-call timeout bounds the rest).
pub(crate) fn http_client() -> Result<reqwest::Client, GatewayError> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .build()
        .map_err(|e| GatewayError::Unreachable(e.to_string()))
}

/// A card gateway: charge with capture, look a charge up by our order code, cancel it.
pub trait Gateway: Send + Sync + 'static {
    /// Creates (or, for a key seen before, returns) the order's charge.
    fn charge(
        &self,
        request: &ChargeRequest,
    ) -> impl Future<Output = Result<GatewayCharge, GatewayError>> + Send;

    /// The charge made for our order `code`, if the gateway has one.
    fn find_by_code(
        &self,
        code: &str,
    ) -> impl Future<Output = Result<Option<GatewayCharge>, GatewayError>> + Send;

    /// Voids an authorization or refunds a capture.
    fn cancel(
        &self,
        charge_id: &str,
        idempotency_key: &str,
    ) -> impl Future<Output = Result<GatewayCharge, GatewayError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagarme_statuses_map_onto_ours() {
        let table = [
            ("paid", Status::Completed),
            ("authorized_pending_capture", Status::Authorized),
            ("processing", Status::Processing),
            ("pending", Status::Processing),
            ("failed", Status::Declined),
            ("not_authorized", Status::Declined),
            ("canceled", Status::Voided),
            ("refunded", Status::Voided),
            ("with_error", Status::GatewayError),
        ];
        for (theirs, ours) in table {
            assert_eq!(ChargeStatus::parse(theirs).ours(), ours, "{theirs}");
        }
    }

    #[test]
    fn keys_are_derived_from_the_order() {
        let order = Uuid::now_v7();
        assert_eq!(charge_key(order), charge_key(order));
        assert_ne!(charge_key(order), void_key(order));
    }

    #[test]
    fn transient_and_permanent_failures() {
        let status = |status| GatewayError::Status {
            status,
            retry_after: None,
            message: String::new(),
        };
        assert!(status(503).classify().is_transient());
        assert!(status(429).classify().is_transient());
        assert!(!status(422).classify().is_transient());
        assert!(
            GatewayError::Unreachable("refused".into())
                .classify()
                .is_transient()
        );
        assert!(!GatewayError::Decode("x".into()).classify().is_transient());
    }
}
