//! The rules a valid send must pass, in the order a merchant would want to hear about
//! them: the tenant's daily cap, consent, then quiet hours (which hold, not refuse).
//! The frequency cap is checked inside the insert transaction (`nudge_db::messages`).

use chrono::{DateTime, Duration, Utc};
use nudge_db::models::{Customer, Shop};
use nudge_domain::{
    recipient_zone, Consent, ConsentRefusal, MessageCategory, PhoneNumber, QuietHours,
};
use serde_json::Value;

use super::Sender;
use crate::Refusal;

/// The daily cap: approximate (sends in flight at the same moment may pass it together,
/// and a replica learns other replicas' sends at its next count: [`super::DailyCounts`]),
/// which bounds spending without serialising a tenant's sends.
pub fn check_daily_cap(sender: Sender<'_>, today: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
    if today < i64::from(sender.daily_message_cap) {
        return Ok(());
    }
    let tomorrow = (now + Duration::days(1))
        .date_naive()
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    Err(Refusal::DailyMessageCapReached {
        cap: sender.daily_message_cap,
        retry_after: u64::try_from((tomorrow - now).num_seconds().max(1)).unwrap_or(86_400),
    })
}

/// Marketing needs an opt-in; nothing goes to a customer who opted out.
pub fn check_consent(
    category: MessageCategory,
    customer: Option<&Customer>,
) -> Result<(), Refusal> {
    let consent = customer
        .and_then(|c| Consent::parse(&c.consent))
        .unwrap_or(Consent::Unknown);
    category
        .permitted_by(consent)
        .map_err(|refusal| match refusal {
            ConsentRefusal::OptedOut => Refusal::RecipientOptedOut(refusal.to_string()),
            ConsentRefusal::OptInRequired(_) => Refusal::ConsentRequired(format!(
                "{refusal}; send it as transactional only if it is an order or shipping update"
            )),
        })
}

/// Marketing that would land in the shop's quiet hours, in the recipient's local time,
/// waits for their end. Returns the send time to use and the first event's detail.
pub fn apply_quiet_hours(
    category: MessageCategory,
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    customer: Option<&Customer>,
    to: &PhoneNumber,
    shop: &Shop,
) -> (Option<DateTime<Utc>>, Value) {
    let hold = (category == MessageCategory::Marketing)
        .then(|| {
            let zone = recipient_zone(
                customer.and_then(|c| c.time_zone.as_deref()),
                to,
                &shop.time_zone,
            );
            let quiet = QuietHours {
                start: shop.quiet_hours_start,
                end: shop.quiet_hours_end,
            };
            quiet
                .hold_until(requested.unwrap_or(now), zone)
                .map(|until| (until, zone))
        })
        .flatten();
    match (hold, requested) {
        (Some((until, zone)), requested) => (
            Some(until),
            serde_json::json!({
                "send_at": until,
                "reason": "quiet_hours",
                "time_zone": zone.name(),
                "requested_send_at": requested,
            }),
        ),
        (None, Some(at)) => (
            Some(at),
            serde_json::json!({ "send_at": at, "reason": "requested" }),
        ),
        (None, None) => (None, serde_json::json!({})),
    }
}
