//! What happens to one queue message: parse, claim, send, record. A plain async
//! function over the database and the provider that returns what to do with the queue
//! message; the worker applies it.

use std::time::{Duration, Instant};

use std::sync::Arc;

use nudge_db::messages::{Claim, SentRecord};
use nudge_db::models::Message;
use nudge_db::{DbError, DbPool};
use nudge_domain::{Envelope, MessageStatus, OutboundSmsV1};
use nudge_queue::{Disposition, ReceivedMessage};
use serde_json::json;

use crate::accounts::Accounts;
use crate::batches::Batches;
use crate::metrics::{Metrics, Outcome};
use crate::retry::{backoff_seconds, classify, next_attempt_in, UNSUBSCRIBED};
use crate::throughput::Throttle;
use crate::twilio::{OutboundSms, ProviderError, TwilioClient};

/// Seconds before a message whose database was unreachable is tried again, doubled at
/// each receive up to [`DATABASE_RETRY_CAP_SECONDS`]: with the queue's five receives a
/// message rides out about five minutes of database outage (an RDS failover takes one
/// or two) before it is dead-lettered.
const DATABASE_RETRY_SECONDS: u32 = 10;
const DATABASE_RETRY_CAP_SECONDS: u32 = 160;
/// Seconds before a scheduled message that is not yet `queued` is looked at again.
const RELEASE_RETRY_SECONDS: u32 = 5;
/// How long the provider may read an MMS image's URL (Twilio fetches it when sending).
const MEDIA_URL_VALID_FOR: std::time::Duration = std::time::Duration::from_secs(3600);
/// Seconds at least before a message whose attempt had no answer is reconciled: time for
/// the provider's list to show a message it created as the answer was lost.
const IN_DOUBT_MIN_SECONDS: u32 = 5;
/// Seconds before a message claimed by someone else is looked at again.
const IN_FLIGHT_RETRY_SECONDS: u32 = 60;

pub struct Sender {
    pub pool: DbPool,
    pub twilio: TwilioClient,
    /// Which account each sender number sends through (a tenant's own, or the platform's).
    pub accounts: Accounts,
    pub status_callback: Option<String>,
    /// MMS images: the provider gets a time-limited URL of the message's image.
    pub media: nudge_aws::media_store::MediaStore,
    /// Where poison messages are recorded as coming from.
    pub queue_name: String,
    pub max_attempts: u32,
    /// This replica's name in the leases it takes.
    pub worker_id: String,
    /// How long a claim protects a message being sent (outlasts a provider call).
    pub lease: chrono::Duration,
    /// The lookups, claims and records of the messages in hand, made together.
    pub batches: Batches,
    /// Throughput limits per sender number and for the account.
    pub throttle: Throttle,
    pub metrics: Metrics,
}

/// How long a message waits in the worker for its sender number's turn before it goes
/// back to the queue (well within the queue's visibility timeout).
const THROTTLE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// How far back, before a message was created, a provider's clock may be.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// Most of the provider's list read when reconciling (50 per page).
const RECONCILE_LIST_LIMIT: usize = 200;

impl Sender {
    /// Processes one received message. Never panics, never loops: every path ends in a
    /// disposition, and only `Delete` removes the message from the queue.
    pub async fn process(&self, received: &ReceivedMessage) -> Disposition {
        let envelope = match Envelope::<OutboundSmsV1>::from_json(&received.body) {
            Ok(envelope) => envelope,
            Err(error) => return self.reject(received, &error.to_string()).await,
        };
        let message_id = envelope.payload.message_id;
        tracing::Span::current().record("message_id", tracing::field::display(message_id));
        if let Some(disposition) = self.throttle(received, &envelope).await {
            return disposition;
        }
        match self.claim(&envelope).await {
            Ok(Claim::Claimed(message)) => self.send(received, *message).await,
            Ok(Claim::TakenOver(message)) => self.reconcile(received, *message).await,
            Ok(Claim::InFlight { lease_until }) => {
                // Another worker is sending it; look again just after its lease ends.
                tracing::info!(%lease_until, "message is being sent by another worker");
                let left = (lease_until - chrono::Utc::now()).num_seconds().max(0) + 1;
                let seconds = u32::try_from(left).unwrap_or(IN_FLIGHT_RETRY_SECONDS);
                self.counted(Outcome::Deferred, None, Disposition::RetryAfter(seconds))
            }
            Ok(Claim::NotQueued(MessageStatus::Scheduled)) => {
                // Relayed at its send_at; the relay's move to `queued` commits a moment
                // after SQS has the message.
                let retry = Disposition::RetryAfter(RELEASE_RETRY_SECONDS);
                self.counted(Outcome::Deferred, None, retry)
            }
            Ok(Claim::Withdrawn(refusal)) => {
                tracing::info!(%refusal, "not sent: consent changed after acceptance; cancelled");
                self.counted(Outcome::Withdrawn, None, Disposition::Delete)
            }
            Ok(Claim::Held { until }) => {
                // A new outbox row brings it back at `until`; this queue message is done.
                tracing::info!(%until, "held: inside the recipient's quiet hours now");
                self.counted(Outcome::Held, None, Disposition::Delete)
            }
            Ok(Claim::NotQueued(status)) => {
                tracing::info!(
                    status = status.as_str(),
                    "duplicate delivery of a processed message; dropped"
                );
                self.counted(Outcome::Duplicate, None, Disposition::Delete)
            }
            Ok(Claim::Missing) => {
                self.reject(
                    received,
                    &format!("no message {message_id} for tenant {}", envelope.tenant_id),
                )
                .await
            }
            Err(error) => {
                tracing::warn!(%error, "could not claim the message; will retry");
                let retry = database_retry_for(&error, received.receive_count);
                self.counted(Outcome::DatabaseError, None, retry)
            }
        }
    }

    /// Counts the outcome and passes the disposition on.
    fn counted(
        &self,
        outcome: Outcome,
        error_code: Option<String>,
        disposition: Disposition,
    ) -> Disposition {
        self.metrics.outcome(outcome, error_code);
        disposition
    }

    /// Waits for the sender number's (and the account's) turn before a queued message
    /// is claimed; `Some` when it must go back to the queue instead. Other states are
    /// left to the claim.
    async fn throttle(
        &self,
        received: &ReceivedMessage,
        envelope: &Envelope<OutboundSmsV1>,
    ) -> Option<Disposition> {
        let item = (envelope.tenant_id, envelope.payload.message_id);
        let found = self.batches.lookups.submit(item).await;
        let message = match found {
            Ok(Some(message)) if message.status == MessageStatus::Queued.as_str() => message,
            Ok(_) => return None,
            Err(error) => {
                tracing::warn!(%error, "could not read the message; will retry");
                let retry = database_retry_for(&error, received.receive_count);
                return Some(self.counted(Outcome::DatabaseError, None, retry));
            }
        };
        let turn = self
            .throttle
            .wait_for_turn(&message.from_number, message.segments, THROTTLE_PATIENCE)
            .await;
        match turn {
            Ok(true) => None,
            Ok(false) => {
                tracing::info!(from = %message.from_number, "over the throughput limit; back to the queue");
                Some(self.counted(Outcome::Throttled, None, Disposition::RetryAfter(1)))
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the throughput limits; will retry");
                let retry = database_retry(received.receive_count);
                Some(self.counted(Outcome::DatabaseError, None, retry))
            }
        }
    }

    async fn claim(&self, envelope: &Envelope<OutboundSmsV1>) -> Result<Claim, Arc<DbError>> {
        let item = (envelope.tenant_id, envelope.payload.message_id);
        self.batches.claims.submit(item).await
    }

    /// A message whose previous sender died mid-send: it may or may not be at the
    /// provider. Look for it there (same To and From, same body, created since the
    /// message was, and not a sid we already recorded for another message); adopt its
    /// sid if found, send only if not.
    async fn reconcile(&self, received: &ReceivedMessage, message: Message) -> Disposition {
        let started = Instant::now();
        // Reconciliation looks in the account the message went through.
        let listed = match self.accounts.for_number(&message.from_number).await {
            Ok(account) => {
                self.twilio
                    .list_messages_in(
                        account.as_deref(),
                        &message.to_number,
                        &message.from_number,
                        RECONCILE_LIST_LIMIT,
                    )
                    .await
            }
            Err(error) => Err(ProviderError::Unreachable(format!(
                "the sender number's account: {error}"
            ))),
        };
        let took = started.elapsed();
        self.metrics
            .provider_call("list_messages", listed.is_ok(), took);
        let listed = match listed {
            Ok(listed) => listed,
            Err(error) => {
                // Still ours until the lease ends; whoever sees it next reconciles.
                tracing::warn!(%error, "could not list the provider's messages; will reconcile later");
                let seconds =
                    u32::try_from(self.lease.num_seconds() + 1).unwrap_or(IN_FLIGHT_RETRY_SECONDS);
                let retry = Disposition::RetryAfter(seconds);
                return self.counted(Outcome::Deferred, Some(error.label()), retry);
            }
        };
        let since = message.created_at - CLOCK_SKEW;
        let candidates: Vec<_> = listed
            .into_iter()
            .filter(|m| m.body == message.body && m.created_at().is_some_and(|at| at >= since))
            .collect();
        let sids: Vec<String> = candidates.iter().map(|m| m.sid.clone()).collect();
        let known = match self.known_sids(&sids).await {
            Ok(known) => known,
            Err(error) => {
                tracing::warn!(%error, "could not reconcile; will look again");
                let retry = database_retry(received.receive_count);
                return self.counted(Outcome::DatabaseError, None, retry);
            }
        };
        // Oldest first: the provider lists newest first.
        let adopted = candidates.iter().rev().find(|m| !known.contains(&m.sid));
        let Some(found) = adopted else {
            if received.receive_count > self.max_attempts {
                // Its attempts are spent: the last had no answer, and the provider
                // does not have it. Failed, and not sent again.
                let error = ProviderError::NoAnswer(format!(
                    "no answer to the last of {} attempts, and the provider does not have the message",
                    self.max_attempts
                ));
                return self.fail(&message, &error, received.receive_count).await;
            }
            tracing::info!("not at the provider; sending");
            let again = async {
                let mut conn = self.pool.get().await?;
                nudge_db::messages::attempt_again(&mut conn, &message, &self.worker_id).await
            };
            return match again.await {
                Ok(message) => self.send(received, message).await,
                Err(error) => {
                    tracing::warn!(%error, "could not start the new attempt; will look again");
                    let retry = database_retry(received.receive_count);
                    self.counted(Outcome::DatabaseError, None, retry)
                }
            };
        };
        let detail = json!({
            "provider_sid": found.sid,
            "provider_status": found.status,
            "num_segments": found.num_segments,
            "reconciled": true,
        });
        let record = SentRecord {
            message: message.clone(),
            provider_sid: found.sid.clone(),
            provider_segments: provider_segments(found.num_segments.as_deref()),
            detail,
        };
        let recorded = with_retries(|| self.batches.records.submit(record.clone())).await;
        match recorded {
            Ok(()) => {
                tracing::info!(provider_sid = %found.sid, "found at the provider; adopted, not resent");
                self.counted(Outcome::Adopted, None, Disposition::Delete)
            }
            Err(error) => {
                tracing::error!(provider_sid = %found.sid, %error, "found at the provider, but could not record it");
                let retry = database_retry(received.receive_count);
                self.counted(Outcome::Unrecorded, None, retry)
            }
        }
    }

    async fn known_sids(&self, sids: &[String]) -> Result<Vec<String>, DbError> {
        let mut conn = self.pool.get().await?;
        nudge_db::messages::known_provider_sids(&mut conn, sids).await
    }

    /// A URL of the message's image that the provider can read for an hour, if the
    /// message carries one.
    async fn media_url(&self, message: &Message) -> Result<Option<String>, String> {
        if message.media_id.is_none() {
            return Ok(None);
        }
        let tenant = nudge_domain::TenantId::from_uuid(message.tenant_id);
        let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
        let media = nudge_db::media::of_message(&mut conn, tenant, message.media_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the message's image is gone")?;
        self.media
            .presigned_url(&media.s3_key, MEDIA_URL_VALID_FOR)
            .await
            .map(Some)
            .map_err(|e| e.to_string())
    }

    async fn send(&self, received: &ReceivedMessage, message: Message) -> Disposition {
        let started = Instant::now();
        // An image or an account that cannot be had now fails the attempt as a
        // provider outage would: retried later, never sent without the image or
        // through another account.
        let account = self.accounts.for_number(&message.from_number).await;
        let created = match (self.media_url(&message).await, account) {
            (Ok(media_url), Ok(account)) => {
                let sms = OutboundSms {
                    to: &message.to_number,
                    from: &message.from_number,
                    body: &message.body,
                    status_callback: self.status_callback.as_deref(),
                    media_url: media_url.as_deref(),
                };
                self.twilio
                    .create_message_in(account.as_deref(), &sms)
                    .await
            }
            (Err(error), _) => Err(ProviderError::Unreachable(format!(
                "the message's image: {error}"
            ))),
            (_, Err(error)) => Err(ProviderError::Unreachable(format!(
                "the sender number's account: {error}"
            ))),
        };
        self.metrics
            .provider_call("create_message", created.is_ok(), started.elapsed());
        match created {
            Ok(created) => {
                let detail = json!({
                    "provider_sid": created.sid,
                    "provider_status": created.status,
                    "num_segments": created.num_segments,
                });
                let record = SentRecord {
                    message: message.clone(),
                    provider_sid: created.sid.clone(),
                    provider_segments: provider_segments(created.num_segments.as_deref()),
                    detail,
                };
                let recorded = with_retries(|| self.batches.records.submit(record.clone())).await;
                match recorded {
                    Ok(()) => {
                        tracing::info!(provider_sid = %created.sid, "message sent");
                        self.counted(Outcome::Sent, None, Disposition::Delete)
                    }
                    Err(error) => {
                        // Twilio has it; we could not write that down. Never resend: the
                        // row stays `sending` and the queue message goes to the DLQ,
                        // where an operator reconciles by the sid logged here.
                        tracing::error!(provider_sid = %created.sid, %error, "sent, but could not record it");
                        let retry = Disposition::RetryAfter(IN_FLIGHT_RETRY_SECONDS);
                        self.counted(Outcome::Unrecorded, None, retry)
                    }
                }
            }
            Err(error) if error.outcome_unknown() => {
                self.in_doubt(received, &message, &error).await
            }
            Err(error) => {
                let action = classify(&error);
                let delay = next_attempt_in(action, received.receive_count)
                    .filter(|_| received.receive_count < self.max_attempts);
                let Some(delay) = delay else {
                    return self.fail(&message, &error, received.receive_count).await;
                };
                tracing::warn!(%error, attempt = received.receive_count, delay, policy = action.as_str(), "send failed; will retry");
                let detail = json!({
                    "attempt": received.receive_count,
                    "retry_in_seconds": delay,
                    "policy": action.as_str(),
                    "error_code": error.code(),
                    "error": error.to_string(),
                });
                let (pool, message) = (&self.pool, &message);
                let released = with_retries(|| {
                    let detail = detail.clone();
                    async move {
                        let mut conn = pool.get().await?;
                        nudge_db::messages::release_for_retry(&mut conn, message, detail).await
                    }
                })
                .await;
                if let Err(db_error) = released {
                    tracing::error!(%db_error, "could not release the message for retry");
                }
                let retry = Disposition::RetryAfter(delay);
                self.counted(Outcome::Retry, Some(error.label()), retry)
            }
        }
    }

    /// An attempt whose outcome is unknown: the provider may have the message. It is
    /// not released to `queued` (that would send it again) but left `sending` with its
    /// lease ended: when the queue message comes back after the backoff, the claim
    /// takes it over and [`Self::reconcile`] asks the provider first.
    async fn in_doubt(
        &self,
        received: &ReceivedMessage,
        message: &Message,
        error: &ProviderError,
    ) -> Disposition {
        let delay = backoff_seconds(received.receive_count).max(IN_DOUBT_MIN_SECONDS);
        tracing::warn!(%error, attempt = received.receive_count, delay, "the provider may have the message; will reconcile before any new attempt");
        let detail = json!({
            "attempt": received.receive_count,
            "retry_in_seconds": delay,
            "policy": "reconcile first",
            "error_code": error.code(),
            "error": error.to_string(),
        });
        let pool = &self.pool;
        let released = with_retries(|| {
            let detail = detail.clone();
            async move {
                let mut conn = pool.get().await?;
                nudge_db::messages::release_in_doubt(&mut conn, message, detail).await
            }
        })
        .await;
        // Not written: the lease still ends, later; the queue message waits for it.
        let delay = match released {
            Ok(()) => delay,
            Err(db_error) => {
                tracing::error!(%db_error, "could not record the unknown outcome; the lease will end it");
                delay.max(
                    u32::try_from(self.lease.num_seconds() + 1).unwrap_or(IN_FLIGHT_RETRY_SECONDS),
                )
            }
        };
        self.counted(
            Outcome::InDoubt,
            Some(error.label()),
            Disposition::RetryAfter(delay),
        )
    }

    async fn fail(&self, message: &Message, error: &ProviderError, attempt: u32) -> Disposition {
        tracing::warn!(%error, "send failed for good");
        let (text, more_info) = match error {
            ProviderError::Rejected {
                message, more_info, ..
            } => (message.clone(), more_info.clone()),
            other => (other.to_string(), None),
        };
        let detail = json!({
            "attempt": attempt,
            "error_code": error.code(),
            "error": text,
            "more_info": more_info,
        });
        let (pool, text_ref) = (&self.pool, text.as_str());
        let recorded = with_retries(|| {
            let detail = detail.clone();
            async move {
                let mut conn = pool.get().await?;
                match error.code() {
                    // The recipient texted STOP to the sender number: remember it.
                    Some(code @ UNSUBSCRIBED) => {
                        nudge_db::messages::record_failed_unsubscribed(
                            &mut conn, message, code, text_ref, detail,
                        )
                        .await
                    }
                    code => {
                        nudge_db::messages::record_failed(
                            &mut conn, message, code, text_ref, detail,
                        )
                        .await
                    }
                }
            }
        })
        .await;
        match recorded {
            Ok(()) => self.counted(Outcome::Failed, Some(error.label()), Disposition::Delete),
            Err(db_error) => {
                tracing::error!(%db_error, "could not record the failure; will look again");
                let retry = database_retry(attempt);
                self.counted(Outcome::DatabaseError, None, retry)
            }
        }
    }

    /// Records a message that can never be processed, then lets the redrive policy
    /// move it to the dead-letter queue.
    async fn reject(&self, received: &ReceivedMessage, reason: &str) -> Disposition {
        let disposition =
            nudge_queue::consumer::reject(&self.pool, &self.queue_name, received, reason).await;
        self.counted(Outcome::Poison, None, disposition)
    }
}

/// When to look again at a message whose database work failed on its `receive_count`th
/// delivery.
fn database_retry(receive_count: u32) -> Disposition {
    let doubled = DATABASE_RETRY_SECONDS
        .saturating_mul(1 << receive_count.saturating_sub(1).min(8))
        .min(DATABASE_RETRY_CAP_SECONDS);
    Disposition::RetryAfter(doubled)
}

/// After a database error before the claim (nothing changed yet): when the database
/// is away, the consumer holds the message until it answers ([`Disposition::Unavailable`]);
/// any other error is looked at again later.
fn database_retry_for(error: &DbError, receive_count: u32) -> Disposition {
    match error {
        DbError::Unavailable(_) => Disposition::Unavailable,
        _ => database_retry(receive_count),
    }
}

/// Twilio's `num_segments` (a string in its resources), when it is a positive count.
fn provider_segments(raw: Option<&str>) -> Option<i32> {
    raw.and_then(|n| n.parse::<i32>().ok()).filter(|n| *n >= 1)
}

/// A database write that follows a provider call is worth a few quick retries: its
/// failure leaves the message in doubt.
async fn with_retries<F, Fut, E>(mut write: F) -> Result<(), E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: From<DbError>,
{
    let mut last = None;
    for attempt in 0..3u64 {
        match write().await {
            Ok(()) => return Ok(()),
            Err(error) => last = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
    }
    Err(last.unwrap_or_else(|| DbError::Unavailable("no attempt made".into()).into()))
}

#[cfg(test)]
mod tests {
    use super::database_retry;
    use nudge_queue::Disposition;

    #[test]
    fn database_retries_double_up_to_a_cap() {
        let delays: Vec<_> = (1..=7).map(database_retry).collect();
        let expected = [10, 20, 40, 80, 160, 160, 160].map(Disposition::RetryAfter);
        assert_eq!(delays, expected);
        assert_eq!(database_retry(0), Disposition::RetryAfter(10));
        assert_eq!(database_retry(u32::MAX), Disposition::RetryAfter(160));
    }
}
