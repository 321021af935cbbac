//! A tap on the domain events, for operators who want to watch them flow.
//!
//! The tap owns a server-named, exclusive, auto-delete queue bound to the event exchanges: it
//! takes copies (fanout) without touching any service's queue, and vanishes with its
//! connection. Deliveries are auto-acked — watching is best-effort by design.

use contracts::RawEnvelope;
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use crate::BusError;
use crate::connection::Bus;

/// One event seen on the tap.
#[derive(Debug, Clone)]
pub struct Tapped {
    pub exchange: String,
    /// The envelope, or why the body is not one.
    pub envelope: Result<RawEnvelope, String>,
}

/// A live tap; read it with [`Tap::next`].
pub struct Tap {
    consumer: lapin::Consumer,
}

impl Tap {
    /// The next event, or `None` once the tap is closed.
    pub async fn next(&mut self) -> Option<Result<Tapped, BusError>> {
        let delivery = match self.consumer.next().await? {
            Ok(delivery) => delivery,
            Err(error) => return Some(Err(error.into())),
        };
        Some(Ok(Tapped {
            exchange: delivery.exchange.to_string(),
            envelope: RawEnvelope::from_slice(&delivery.data).map_err(|e| e.to_string()),
        }))
    }
}

impl Bus {
    /// Taps `exchanges` (fanout event exchanges, e.g. `contracts::exchanges::EVENTS`).
    pub async fn tap(&self, exchanges: &[&str]) -> Result<Tap, BusError> {
        let channel = self.channel().await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        for exchange in exchanges {
            channel
                .queue_bind(
                    queue.name().clone(),
                    (*exchange).into(),
                    "".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let consumer = channel
            .basic_consume(
                queue.name().clone(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    exclusive: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(Tap { consumer })
    }
}
