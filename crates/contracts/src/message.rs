//! The closed set of messages Summit knows, and how an envelope becomes one of them.

use serde::{Serialize, de::DeserializeOwned};

use crate::envelope::{Envelope, RawEnvelope};
use crate::{catalog, checkout, notifications, payments};

/// Where a message is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// A domain event on its context's fanout exchange.
    Event { exchange: &'static str },
    /// A command on `summit.commands` with routing key `<service>.<command>`.
    Command { routing_key: &'static str },
}

impl Destination {
    pub fn exchange(&self) -> &'static str {
        match self {
            Destination::Event { exchange } => exchange,
            Destination::Command { .. } => crate::exchanges::COMMANDS,
        }
    }

    pub fn routing_key(&self) -> &'static str {
        match self {
            Destination::Event { .. } => "",
            Destination::Command { routing_key } => routing_key,
        }
    }
}

/// A payload type with its wire identity.
pub trait Contract: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The envelope `type`.
    const TYPE: &'static str;
    /// The major version this code writes and understands.
    const VERSION: u32;
    const DESTINATION: Destination;
}

/// Why an envelope could not become a [`Message`]. Each is permanent: redelivery cannot help.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("unsupported version {version} of {kind} (this consumer knows {known})")]
    UnsupportedVersion {
        kind: String,
        version: u32,
        known: u32,
    },
    /// The payload names a store other than the envelope's tenant: one tenant's message
    /// carrying another's ids is never applied, whoever sent it.
    #[error("{kind} names store {store} in an envelope of tenant {tenant}")]
    TenantMismatch {
        kind: String,
        tenant: uuid::Uuid,
        store: String,
    },
}

impl DecodeError {
    /// A short machine-readable name, used as the dead letter's `x-error-kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "malformed",
            DecodeError::UnknownType(_) => "unknown-type",
            DecodeError::UnsupportedVersion { .. } => "unsupported-version",
            DecodeError::TenantMismatch { .. } => "tenant-mismatch",
        }
    }
}

macro_rules! messages {
    ($($variant:ident => $ty:ty),* $(,)?) => {
        /// Every message a Summit service may receive.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Message {
            $($variant($ty),)*
        }

        /// Every known `type`, for tests and tools.
        pub const KNOWN_TYPES: &[&str] = &[$(<$ty as Contract>::TYPE,)*];

        impl Message {
            /// Decodes the payload of `envelope` by its type and major version.
            pub fn decode(envelope: &RawEnvelope) -> Result<Self, DecodeError> {
                $(
                    if envelope.kind == <$ty as Contract>::TYPE {
                        return decode_as::<$ty>(envelope).map(Message::$variant);
                    }
                )*
                Err(DecodeError::UnknownType(envelope.kind.clone()))
            }

            pub fn kind(&self) -> &'static str {
                match self {
                    $(Message::$variant(_) => <$ty as Contract>::TYPE,)*
                }
            }
        }
    };
}

fn decode_as<P: Contract>(envelope: &RawEnvelope) -> Result<P, DecodeError> {
    if envelope.version != P::VERSION {
        return Err(DecodeError::UnsupportedVersion {
            kind: envelope.kind.clone(),
            version: envelope.version,
            known: P::VERSION,
        });
    }
    if let (Some(tenant), Some(store)) = (
        envelope.tenant_id,
        envelope.payload.get("store_id").and_then(|v| v.as_str()),
    ) && store.parse::<uuid::Uuid>().ok() != Some(tenant)
    {
        return Err(DecodeError::TenantMismatch {
            kind: envelope.kind.clone(),
            tenant,
            store: store.to_owned(),
        });
    }
    serde_json::from_value(envelope.payload.clone())
        .map_err(|e| DecodeError::Malformed(format!("{} payload: {e}", envelope.kind)))
}

/// Parses a body straight into a typed envelope: the envelope itself, then the payload.
pub fn decode_body(body: &[u8]) -> Result<(RawEnvelope, Message), DecodeError> {
    let envelope =
        RawEnvelope::from_slice(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let message = Message::decode(&envelope)?;
    Ok((envelope, message))
}

/// Decodes `envelope` as the one payload type `P`.
pub fn decode_typed<P: Contract>(envelope: &RawEnvelope) -> Result<Envelope<P>, DecodeError> {
    if envelope.kind != P::TYPE {
        return Err(DecodeError::UnknownType(envelope.kind.clone()));
    }
    Ok(envelope.with_payload(decode_as::<P>(envelope)?))
}

messages! {
    StoreCreated => catalog::StoreCreated,
    StoreUpdated => catalog::StoreUpdated,
    ProductUpserted => catalog::ProductUpserted,
    ProductDeleted => catalog::ProductDeleted,
    StockReserved => catalog::StockReserved,
    StockReservationRejected => catalog::StockReservationRejected,
    StockReleased => catalog::StockReleased,
    ReserveStock => catalog::ReserveStock,
    ReleaseStock => catalog::ReleaseStock,
    CommitStock => catalog::CommitStock,
    OrderPlaced => checkout::OrderPlaced,
    OrderConfirmed => checkout::OrderConfirmed,
    OrderCancelled => checkout::OrderCancelled,
    PaymentAuthorized => payments::PaymentAuthorized,
    PaymentCompleted => payments::PaymentCompleted,
    PaymentDeclined => payments::PaymentDeclined,
    PaymentFailed => payments::PaymentFailed,
    PaymentPendingOffline => payments::PaymentPendingOffline,
    PaymentVoided => payments::PaymentVoided,
    Charge => payments::Charge,
    Void => payments::Void,
    NotificationSent => notifications::NotificationSent,
    NotificationFailed => notifications::NotificationFailed,
    SendEmail => notifications::SendEmail,
    SendWebhook => notifications::SendWebhook,
}
