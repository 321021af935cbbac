//! The envelope of docs/design.md: the same `id` also travels as the AMQP `message_id` and `type`
//! as the AMQP `type`, so the broker's tools can show them without parsing the body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::Contract;

/// A message with its metadata. `P` is a typed payload, or [`serde_json::Value`] before decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = serde_json::Value> {
    /// UUIDv7: unique per message, time-ordered; the idempotency key of consumers.
    pub id: Uuid,
    /// `<context>.<Name>` for events, `<service>.<command>` for commands.
    #[serde(rename = "type")]
    pub kind: String,
    /// Major version of the payload schema.
    pub version: u32,
    pub occurred_at: DateTime<Utc>,
    /// The store (tenant) the message belongs to.
    pub tenant_id: Option<Uuid>,
    /// Ties the messages of one flow together: the order id in the order flow.
    pub correlation_id: Option<Uuid>,
    /// The message that caused this one, if any.
    pub causation_id: Option<Uuid>,
    pub payload: P,
}

/// An envelope whose payload is not decoded yet.
pub type RawEnvelope = Envelope<serde_json::Value>;

impl<P: Contract> Envelope<P> {
    /// A fresh envelope for `payload`, with a new UUIDv7 and the contract's type and version.
    pub fn new(tenant_id: Option<Uuid>, payload: P) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: P::TYPE.to_owned(),
            version: P::VERSION,
            occurred_at: Utc::now(),
            tenant_id,
            correlation_id: None,
            causation_id: None,
            payload,
        }
    }

    pub fn correlated(mut self, correlation_id: Uuid) -> Self {
        self.correlation_id = Some(correlation_id);
        self
    }

    /// Marks this message as caused by `cause`, inheriting its correlation id when it has none.
    pub fn caused_by<Q>(mut self, cause: &Envelope<Q>) -> Self {
        self.causation_id = Some(cause.id);
        if self.correlation_id.is_none() {
            self.correlation_id = cause.correlation_id;
        }
        self
    }

    /// The same envelope with its payload as JSON, ready for the outbox or the wire.
    pub fn into_raw(self) -> RawEnvelope {
        Envelope {
            payload: serde_json::to_value(&self.payload)
                .expect("contract payloads always serialize to JSON"),
            id: self.id,
            kind: self.kind,
            version: self.version,
            occurred_at: self.occurred_at,
            tenant_id: self.tenant_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
        }
    }
}

impl RawEnvelope {
    /// Parses a message body; anything that is not an envelope is malformed.
    pub fn from_slice(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }

    /// This envelope's metadata around an already-decoded payload.
    pub fn with_payload<P>(&self, payload: P) -> Envelope<P> {
        Envelope {
            id: self.id,
            kind: self.kind.clone(),
            version: self.version,
            occurred_at: self.occurred_at,
            tenant_id: self.tenant_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            payload,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes to JSON")
    }
}
