//! `messaging-api admin dlq list|redrive`: what is in each dead-letter queue and why,
//! and moving messages back once the cause is fixed (docs/operations.md).
//!
//! SQS does not say why a message was dead-lettered, so the reason is put together
//! from what Nudge knows: a poison message's recorded rejection, else the state of the
//! message the envelope points at, else the receive count alone.

use chrono::{DateTime, Utc};
use nudge_db::models::{Message, MessageEvent, QueueRejection};
use nudge_db::AsyncPgConnection;
use nudge_domain::{Envelope, InboundSmsV1, OutboundSmsV1};
use nudge_queue::{DeadLetter, RedriveReport, SqsQueue};
use serde::Serialize;

/// The queues Nudge defines (localstack/resources.json), looked at when none is named.
pub const QUEUES: &[&str] = &["outbound-sms", "inbound-sms", "lead-searches"];

/// What a queue's dead-letter queue holds.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub queue: String,
    pub dead_letter_queue: String,
    pub messages: Vec<DeadLetterView>,
}

/// One message in a dead-letter queue, with why it is there.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetterView {
    pub sqs_message_id: String,
    pub receive_count: u32,
    pub sent_at: Option<DateTime<Utc>>,
    pub reason: String,
    pub body: String,
}

/// Which messages a redrive moves.
#[derive(Debug, Clone)]
pub enum Selection {
    All,
    /// SQS message ids, as `list` shows them.
    Ids(Vec<String>),
}

impl Selection {
    fn takes(&self, letter: &DeadLetter) -> bool {
        match self {
            Selection::All => true,
            Selection::Ids(ids) => ids.contains(&letter.message_id),
        }
    }
}

/// The dead-letter queue behind `source`, or an error saying it has none.
async fn dead_letter_queue(source: &SqsQueue) -> anyhow::Result<SqsQueue> {
    source.dead_letter_queue().await?.ok_or_else(|| {
        anyhow::anyhow!(
            "queue '{}' has no redrive policy, so no dead-letter queue",
            source.name()
        )
    })
}

/// Up to `limit` messages of `source`'s dead-letter queue, each with its reason. The
/// messages stay where they are.
pub async fn list(
    conn: &mut AsyncPgConnection,
    source: &SqsQueue,
    limit: usize,
) -> anyhow::Result<Listing> {
    let dlq = dead_letter_queue(source).await?;
    let letters = dlq.peek(limit).await?;
    let ids: Vec<String> = letters.iter().map(|l| l.message_id.clone()).collect();
    let bodies: Vec<String> = letters.iter().map(|l| l.body.clone()).collect();
    let rejections = nudge_db::rejections::for_messages(conn, &ids, &bodies).await?;
    let mut views = Vec::with_capacity(letters.len());
    for letter in letters {
        let rejection = rejections.iter().find(|r| {
            r.sqs_message_id == letter.message_id
                || r.body_excerpt == nudge_db::rejections::excerpt(&letter.body)
        });
        let reason = match rejection {
            Some(rejection) => rejected(rejection),
            None => explain(conn, &letter).await?,
        };
        views.push(DeadLetterView {
            sqs_message_id: letter.message_id,
            receive_count: letter.receive_count,
            sent_at: letter.sent_at,
            reason,
            body: letter.body,
        });
    }
    Ok(Listing {
        queue: source.name().to_owned(),
        dead_letter_queue: dlq.name().to_owned(),
        messages: views,
    })
}

/// Moves the selected messages of `source`'s dead-letter queue back to `source`.
pub async fn redrive(
    source: &SqsQueue,
    selection: &Selection,
    limit: usize,
) -> anyhow::Result<RedriveReport> {
    let dlq = dead_letter_queue(source).await?;
    Ok(dlq
        .redrive_to(source, limit, |letter| selection.takes(letter))
        .await?)
}

fn rejected(rejection: &QueueRejection) -> String {
    format!(
        "poison: {} (recorded {})",
        rejection.reason,
        rejection.at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// Why a message nobody rejected is here, from the state of what it points at.
async fn explain(conn: &mut AsyncPgConnection, letter: &DeadLetter) -> anyhow::Result<String> {
    if let Ok(inbound) = Envelope::<InboundSmsV1>::from_json(&letter.body) {
        return explain_inbound(conn, &inbound).await;
    }
    let Ok(envelope) = Envelope::<OutboundSmsV1>::from_json(&letter.body) else {
        return Ok(
            "no recorded reason: no worker refused it, and it is neither an outbound_sms.v1 \
             nor an inbound_sms.v1 envelope (see its body with --json)"
                .to_owned(),
        );
    };
    let id = envelope.payload.message_id;
    let Some(message) = nudge_db::messages::find(conn, envelope.tenant_id, id).await? else {
        return Ok(format!(
            "message {id} does not exist for tenant {}",
            envelope.tenant_id
        ));
    };
    let events = nudge_db::messages::events(conn, envelope.tenant_id, id).await?;
    Ok(message_state(&message, events.last()))
}

/// An inbound message's state in words: processed (a redrive does nothing) or not.
async fn explain_inbound(
    conn: &mut AsyncPgConnection,
    envelope: &Envelope<InboundSmsV1>,
) -> anyhow::Result<String> {
    let id = envelope.payload.inbound_message_id;
    let Some(context) = nudge_db::inbound::load(conn, envelope.tenant_id, id).await? else {
        return Ok(format!(
            "inbound message {id} does not exist for tenant {}",
            envelope.tenant_id
        ));
    };
    let inbound = context.inbound;
    Ok(match (inbound.processed_at, inbound.outcome) {
        (Some(at), Some(outcome)) => format!(
            "inbound message {id} was processed at {} ({outcome}); redrive is harmless",
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        _ => format!(
            "inbound message {id} (received {}) is not processed; redrive processes it",
            inbound.received_at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
    })
}

/// A message's state in words: what an operator needs to decide on a redrive.
pub fn message_state(message: &Message, last: Option<&MessageEvent>) -> String {
    let mut text = format!("message {} is {}", message.id, message.status);
    if let Some(code) = message.error_code {
        text.push_str(&format!(" (error {code})"));
    }
    if let Some(event) = last {
        text.push_str(&format!(
            "; last event {} at {}",
            event.event_type,
            event.at.format("%Y-%m-%d %H:%M:%S UTC")
        ));
        if let Some(error) = event.detail.get("error").and_then(|e| e.as_str()) {
            text.push_str(&format!(": {error}"));
        }
    }
    text.push_str(match message.status.as_str() {
        "queued" => "; redrive sends it",
        "sending" => "; redrive reconciles it with the provider, then sends it only if the provider does not have it",
        _ => "; redrive is harmless (the sender drops it as already processed)",
    });
    text
}

/// Listings as text for a terminal.
pub fn table(listings: &[Listing]) -> String {
    let mut out = String::new();
    for listing in listings {
        out.push_str(&format!(
            "{} (dead letters of {}): {} message(s)\n",
            listing.dead_letter_queue,
            listing.queue,
            listing.messages.len()
        ));
        for view in &listing.messages {
            let sent = view
                .sent_at
                .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "  {}  receives={}  sent={}  {}\n",
                view.sqs_message_id, view.receive_count, sent, view.reason
            ));
        }
    }
    out
}
