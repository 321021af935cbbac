//! Sending mail: the `notifications.send-email` consumer renders a logged delivery with the
//! store's template (or the default) in the store's language and hands it to SMTP with lettre.
//!
//! - One circuit for the SMTP server: while it is open, attempts fail fast (no connection
//!   tried) and wait for their retry like any other failure.
//! - A transient failure (server away, 4xx) is retried with the workspace backoff (full jitter)
//!   through the bus's retry store; after the last attempt the delivery is `dead`,
//!   NotificationFailed says why, and the command is dead-lettered with the reason. A
//!   permanent refusal (5xx: no such mailbox) is dead at once.
//! - Every mail carries the delivery's stable `Message-ID`, the same on every attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::{Handler, Incoming, Outcome};
use contracts::Message;
use contracts::notifications::SendEmail;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use resilience::CircuitBreaker;
use sqlx::PgPool;

use crate::config::NotificationsConfig;
use crate::deliveries::{self, Attempt, Delivery, Lease};
use crate::mail::Kind;
use crate::stores;
use crate::templates::{self, Source};

/// The SMTP server behind its circuit.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Address,
    breaker: Arc<CircuitBreaker>,
}

/// Why a mail did not go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailError {
    /// No retry can help (the server refused the recipient for good, the address is invalid).
    pub permanent: bool,
    pub code: Option<i32>,
    pub reason: String,
}

impl Mailer {
    pub fn new(config: &NotificationsConfig) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)?
            .timeout(Some(config.smtp_timeout))
            .build();
        Ok(Self {
            transport,
            from: config.mail_from.parse()?,
            breaker: Arc::new(CircuitBreaker::new("smtp", config.breaker())),
        })
    }

    /// The SMTP circuit, for readiness.
    pub fn breaker(&self) -> &Arc<CircuitBreaker> {
        &self.breaker
    }

    /// Sends one mail; `Ok` is the server's reply code once it accepted it.
    pub async fn send(&self, mail: lettre::Message) -> Result<u16, MailError> {
        let permit = self
            .breaker
            .try_acquire::<std::convert::Infallible>()
            .map_err(|open| MailError {
                permanent: false,
                code: None,
                reason: format!("SMTP {open}"),
            })?;
        match self.transport.send(mail).await {
            Ok(response) => {
                permit.success();
                Ok(u16::from(response.code()))
            }
            Err(error) => {
                let permanent = error.is_permanent();
                let code = error.status().map(|c| i32::from(u16::from(c)));
                // A recipient refused for good says nothing about the server's health.
                if permanent {
                    permit.success();
                } else {
                    permit.failure();
                }
                Err(MailError {
                    permanent,
                    code,
                    reason: format!("SMTP: {}", service_kit::problem::cause_chain(&error)),
                })
            }
        }
    }

    /// A mail from the store (its name as the sender's), to `to`, with both parts.
    pub fn compose(
        &self,
        store_name: &str,
        to: &str,
        message_id: &str,
        rendered: &templates::Rendered,
    ) -> Result<lettre::Message, MailError> {
        let invalid = |reason: String| MailError {
            permanent: true,
            code: None,
            reason,
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| invalid(format!("invalid recipient {to:?}: {e}")))?;
        lettre::Message::builder()
            .from(Mailbox::new(Some(store_name.to_owned()), self.from.clone()))
            .to(to)
            .subject(rendered.subject.clone())
            .message_id(Some(message_id.to_owned()))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|e| invalid(format!("cannot build the mail: {e}")))
    }
}

/// What is kept of the lease when the record of an accepted mail is retried: the last retry
/// ends this long before another sender could take the delivery.
const RECORD_MARGIN: Duration = Duration::from_secs(2);

/// The `notifications.send-email` consumer.
pub struct EmailSender {
    pool: PgPool,
    mailer: Mailer,
    /// The consumer's attempts: the last one dead-letters.
    max_attempts: u32,
    /// How long a sender holds a delivery: longer than one SMTP conversation can take.
    hold: Duration,
}

impl EmailSender {
    pub fn new(pool: PgPool, mailer: Mailer, config: &NotificationsConfig) -> Self {
        Self {
            pool,
            mailer,
            max_attempts: config.email_attempts,
            hold: config.smtp_timeout * 2 + Duration::from_secs(5),
        }
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    async fn send(&self, command: &SendEmail, attempt: u32) -> Result<Outcome, sqlx::Error> {
        let mut leased = Instant::now();
        let mut delivery =
            match deliveries::lease(&self.pool, command.store_id, command.delivery_id, self.hold)
                .await?
            {
                Lease::Got(delivery) => delivery,
                Lease::Sent | Lease::Missing => return Ok(Outcome::Done),
                Lease::Held => {
                    return Ok(Outcome::Retry(
                        "another sender holds this delivery".to_owned(),
                    ));
                }
            };
        let started = Instant::now();
        let result = match self.render(&delivery).await? {
            Ok((store_name, rendered)) => match self.mailer.compose(
                &store_name,
                &delivery.recipient,
                &delivery.message_id,
                &rendered,
            ) {
                Ok(mail) => {
                    // Rendering may have been slow (a loaded database): send only under a
                    // lease renewed now, so the SMTP exchange and its record fit inside it.
                    let renewed_at = Instant::now();
                    if !deliveries::renew(&self.pool, &mut delivery, self.hold).await? {
                        return Ok(Outcome::Retry(
                            "the lease ran out before sending; another sender has the delivery"
                                .to_owned(),
                        ));
                    }
                    leased = renewed_at;
                    self.mailer.send(mail).await
                }
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        if result.is_err() {
            return self.record(&delivery, &result, attempt, started).await;
        }
        // SMTP accepted the mail. If the database is away now, failing here would leave the
        // delivery unsent in the log and the command unacknowledged: the mail would go again
        // (docs/notifications.md, "Where a crash can still duplicate"). So the record is
        // tried again, with a capped backoff, for as long as our lease keeps other senders off
        // the delivery; only a longer outage leaves the duplicate to the Message-ID.
        let mut pause = Duration::from_millis(100);
        loop {
            let left = self.hold.saturating_sub(leased.elapsed() + RECORD_MARGIN);
            let tried =
                tokio::time::timeout(left, self.record(&delivery, &result, attempt, started)).await;
            match tried {
                Ok(Ok(outcome)) => return Ok(outcome),
                Ok(Err(error)) if leased.elapsed() + pause + RECORD_MARGIN < self.hold => {
                    tracing::warn!(delivery = %delivery.id, %error, "mail accepted but not yet recorded; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    // The commit may have landed with its answer lost: then nothing is left to do.
                    if let Ok(Lease::Sent) = deliveries::status_is_sent(&self.pool, &delivery).await
                    {
                        return Ok(Outcome::Done);
                    }
                }
                Ok(Err(error)) => return Err(error),
                Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut),
            }
        }
    }

    /// Records what SMTP answered (`result`) with the attempt, in one transaction; the
    /// consumer's outcome.
    async fn record(
        &self,
        delivery: &Delivery,
        result: &Result<u16, MailError>,
        attempt: u32,
        started: Instant,
    ) -> Result<Outcome, sqlx::Error> {
        let mut tx = service_kit::tenant::begin_for(&self.pool, delivery.store_id).await?;
        let outcome = match result {
            Ok(code) => {
                let code = *code;
                let attempt = Attempt {
                    ok: true,
                    status_code: Some(i32::from(code)),
                    latency: started.elapsed(),
                    ..Attempt::default()
                };
                deliveries::record_sent(&mut tx, delivery, &attempt).await?;
                metrics::counter!("summit_notifications_sent_total", "channel" => "email")
                    .increment(1);
                Outcome::Done
            }
            Err(error) => {
                let last = error.permanent || attempt >= self.max_attempts;
                let record = Attempt {
                    ok: false,
                    status_code: error.code,
                    latency: started.elapsed(),
                    error: Some(error.reason.clone()),
                    ..Attempt::default()
                };
                deliveries::record_failure(&mut tx, delivery, &record, &error.reason, last).await?;
                tracing::warn!(delivery = %delivery.id, attempt, last, reason = %error.reason, "mail not sent");
                if error.permanent {
                    Outcome::Reject(error.reason.clone())
                } else {
                    Outcome::Retry(error.reason.clone())
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// The store's name and the rendered mail (the store's template, or the default when it
    /// has none or it fails — logged).
    async fn render(
        &self,
        delivery: &Delivery,
    ) -> Result<Result<(String, templates::Rendered), MailError>, sqlx::Error> {
        let Some(kind) = Kind::parse(&delivery.template) else {
            return Ok(Err(MailError {
                permanent: true,
                code: None,
                reason: format!("unknown mail kind {:?}", delivery.template),
            }));
        };
        let mut tx = service_kit::tenant::begin_for(&self.pool, delivery.store_id).await?;
        let store = stores::load(&mut tx, delivery.store_id).await?;
        let language = store
            .as_ref()
            .map_or(crate::mail::Language::Pt, stores::Store::language);
        let custom: Option<Source> = sqlx::query_as::<_, (String, String, String)>(
            "SELECT subject, html, text FROM templates
             WHERE store_id = $1 AND kind = $2 AND language = $3",
        )
        .bind(delivery.store_id)
        .bind(kind.as_str())
        .bind(language.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(|(subject, html, text)| Source {
            subject,
            html,
            text,
        });
        tx.commit().await?;
        let context = crate::mail::context(&delivery.data.0, language);
        let (rendered, failure) =
            templates::render_or_default(kind, language, custom.as_ref(), &context);
        if let Some(failure) = failure {
            tracing::warn!(
                store = %delivery.store_id,
                kind = kind.as_str(),
                language = language.as_str(),
                %failure,
                "the store's template failed; sent the default"
            );
        }
        let name = store
            .map(|s| s.name)
            .or_else(|| delivery.data.0["store"]["name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "Summit".to_owned());
        Ok(Ok((name, rendered)))
    }
}

impl Handler for EmailSender {
    async fn handle(&self, incoming: Incoming) -> Outcome {
        let Message::SendEmail(command) = &incoming.message else {
            return Outcome::Reject(format!(
                "{} does not belong on notifications.send-email",
                incoming.message.kind()
            ));
        };
        match self.send(command, incoming.attempt).await {
            Ok(outcome) => outcome,
            Err(error) => outbox::classify::outcome_of(&error),
        }
    }
}
