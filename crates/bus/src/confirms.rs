//! Publisher confirms that name the right message.
//!
//! RabbitMQ answers an unroutable `mandatory` publish with a `basic.return`, then its
//! `basic.ack`. lapin keeps returns in one queue and hands the oldest to *whichever* confirm
//! completes next — with confirms completing out of order (a quorum queue acks after its
//! fsync, an unroutable message at once) and `multiple` acks completed in hash-map order, the
//! return often lands on another publish's confirm. Trusting it reads a lost command as
//! delivered (and a delivered one as lost).
//!
//! [`Confirms`] pairs them by content instead: every confirm of the channel is awaited by one
//! task, which sets each return aside under its message's address (exchange, routing key,
//! message id) and gives a publish the verdict "returned" only when a return with its own
//! address has been seen.
//!
//! Why that is exact: the broker sends a message's return before its ack, so by the time its
//! confirm completes, the return has been handed to a confirm that completed no later. The
//! task looks at every completed confirm, and at every publish sent so far, before it settles
//! any (the send lock makes "sent" and "registered here" one step), so that return has been set
//! aside already. Two messages with one address are routed alike, so which of them takes the
//! return does not matter.

use std::collections::HashMap;

use futures_util::FutureExt;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::message::BasicReturnMessage;
use lapin::{Confirmation, PublisherConfirm};
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

/// Where a message was sent: how a return is matched to its publish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Address {
    pub exchange: String,
    pub routing_key: String,
    pub message_id: Option<String>,
}

impl Address {
    fn of_return(message: &BasicReturnMessage) -> Self {
        Self {
            exchange: message.delivery.exchange.to_string(),
            routing_key: message.delivery.routing_key.to_string(),
            message_id: message
                .delivery
                .properties
                .message_id()
                .as_ref()
                .map(ToString::to_string),
        }
    }
}

/// The broker's answer to one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    Returned,
    Nacked,
}

pub(crate) type Answer = Result<Verdict, lapin::Error>;

struct Tracked {
    address: Address,
    confirm: PublisherConfirm,
    answer: oneshot::Sender<Answer>,
}

/// The one waiter of a channel's confirms. Cheap to share behind an `Arc`.
pub(crate) struct Confirms {
    /// Held while a message is sent and registered, and while confirms are settled, so the
    /// settling task never misses a publish that is already on the wire.
    sending: Mutex<mpsc::UnboundedSender<Tracked>>,
}

/// Permission to publish on the channel: send, then [`Sending::track`] the confirm.
pub(crate) struct Sending<'a> {
    registry: MutexGuard<'a, mpsc::UnboundedSender<Tracked>>,
}

impl Sending<'_> {
    /// Hands a publish's confirm to the settling task; the receiver gets its verdict.
    pub(crate) fn track(
        &self,
        address: Address,
        confirm: PublisherConfirm,
    ) -> oneshot::Receiver<Answer> {
        let (answer, verdict) = oneshot::channel();
        // The task lives as long as the channel's publisher; if it is gone, the dropped sender
        // reads as "no confirm", which callers already treat as a failed publish.
        let _ = self.registry.send(Tracked {
            address,
            confirm,
            answer,
        });
        verdict
    }
}

impl Confirms {
    /// Starts the settling task (on the current runtime).
    pub(crate) fn start() -> std::sync::Arc<Self> {
        let (registry, tracked) = mpsc::unbounded_channel();
        let confirms = std::sync::Arc::new(Self {
            sending: Mutex::new(registry),
        });
        tokio::spawn(settle(std::sync::Arc::downgrade(&confirms), tracked));
        confirms
    }

    /// Waits for the right to publish (publishes on a channel are serial anyway).
    pub(crate) async fn sending(&self) -> Sending<'_> {
        Sending {
            registry: self.sending.lock().await,
        }
    }
}

type Waiting = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = (
                    Address,
                    oneshot::Sender<Answer>,
                    Result<Confirmation, lapin::Error>,
                ),
            > + Send,
    >,
>;

async fn settle(
    confirms: std::sync::Weak<Confirms>,
    mut tracked: mpsc::UnboundedReceiver<Tracked>,
) {
    let mut waiting: FuturesUnordered<Waiting> = FuturesUnordered::new();
    // Returns seen but not yet claimed by their publish, counted per address.
    let mut returned: HashMap<Address, usize> = HashMap::new();
    loop {
        let first = tokio::select! {
            next = tracked.recv() => match next {
                Some(t) => {
                    waiting.push(wait(t));
                    continue;
                }
                None => return,
            },
            Some(done) = waiting.next(), if !waiting.is_empty() => done,
        };
        // Stop new sends, take every publish already sent, then every confirm completed by now.
        let Some(confirms) = confirms.upgrade() else {
            return;
        };
        let _sending = confirms.sending.lock().await;
        while let Ok(t) = tracked.try_recv() {
            waiting.push(wait(t));
        }
        let mut completed = vec![first];
        while let Some(Some(done)) = waiting.next().now_or_never() {
            completed.push(done);
        }
        let completed: Vec<_> = completed
            .into_iter()
            .map(|(address, answer, confirmation)| {
                let verdict = confirmation.map(|c| {
                    let (verdict, message) = match c {
                        Confirmation::Ack(message) => (Verdict::Delivered, message),
                        Confirmation::Nack(message) => (Verdict::Nacked, message),
                        // The channel is always in confirm mode; treat the impossible as a refusal.
                        Confirmation::NotRequested => (Verdict::Nacked, None),
                    };
                    if let Some(message) = message {
                        *returned.entry(Address::of_return(&message)).or_default() += 1;
                    }
                    verdict
                });
                (address, answer, verdict)
            })
            .collect();
        for (address, answer, verdict) in completed {
            let verdict = verdict.map(|verdict| match returned.get_mut(&address) {
                Some(count) if verdict == Verdict::Delivered => {
                    *count -= 1;
                    if *count == 0 {
                        returned.remove(&address);
                    }
                    Verdict::Returned
                }
                _ => verdict,
            });
            let _ = answer.send(verdict);
        }
        if waiting.is_empty() {
            // Every publish sent so far is settled: a return left over has no owner to wait for
            // (e.g. its publish failed with the channel); do not keep it.
            returned.clear();
        }
    }
}

fn wait(t: Tracked) -> Waiting {
    Box::pin(
        t.confirm
            .map(move |confirmation| (t.address, t.answer, confirmation)),
    )
}
