//! Quiet hours: a daily window of local time (default 21:00 to 08:00) during which
//! marketing messages are held, and the rule for which local time applies: the
//! customer's time zone, else the phone number's country's (where it has one zone),
//! else the shop's.

use chrono::{DateTime, Duration, LocalResult, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::phone::PhoneNumber;

/// A daily window `[start, end)` of local time; it may cross midnight (21:00-08:00).
/// `start == end` means no quiet hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    pub fn contains(&self, local: NaiveTime) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => false,
            std::cmp::Ordering::Less => self.start <= local && local < self.end,
            std::cmp::Ordering::Greater => local >= self.start || local < self.end,
        }
    }

    /// `None` if `at` is outside quiet hours in `zone`; otherwise the first moment after
    /// `at` when they end there.
    pub fn hold_until(&self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&zone);
        if !self.contains(local.time()) {
            return None;
        }
        // The end is today if it is still ahead, else tomorrow.
        let mut day = local.date_naive();
        if local.time() >= self.end {
            day = day.succ_opt()?;
        }
        Some(resolve_local(zone, day.and_time(self.end)))
    }
}

/// A local time as UTC; a time skipped by a DST change is moved past the gap, and an
/// ambiguous one (clocks back) takes its first occurrence.
fn resolve_local(zone: Tz, naive: chrono::NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => resolve_local(zone, naive + Duration::hours(1)),
    }
}

/// The time zone of a number's country, for countries with a single zone. Numbers of
/// multi-zone plans (+1, +7, +61, +55...) have none: the shop's zone applies.
/// The time zone quiet hours are read in: the customer's (an IANA name), else the phone
/// number's country's (single-zone countries), else the shop's, else UTC. The API uses
/// it when accepting a message and the sender again at the moment of sending.
pub fn recipient_zone(customer_zone: Option<&str>, to: &PhoneNumber, shop_zone: &str) -> Tz {
    customer_zone
        .and_then(|zone| zone.parse().ok())
        .or_else(|| phone_time_zone(to))
        .or_else(|| shop_zone.parse().ok())
        .unwrap_or(Tz::UTC)
}

pub fn phone_time_zone(phone: &PhoneNumber) -> Option<Tz> {
    const SINGLE_ZONE: [(&str, Tz); 24] = [
        ("44", Tz::Europe__London),
        ("33", Tz::Europe__Paris),
        ("49", Tz::Europe__Berlin),
        ("34", Tz::Europe__Madrid),
        ("39", Tz::Europe__Rome),
        ("31", Tz::Europe__Amsterdam),
        ("32", Tz::Europe__Brussels),
        ("41", Tz::Europe__Zurich),
        ("43", Tz::Europe__Vienna),
        ("45", Tz::Europe__Copenhagen),
        ("46", Tz::Europe__Stockholm),
        ("47", Tz::Europe__Oslo),
        ("48", Tz::Europe__Warsaw),
        ("353", Tz::Europe__Dublin),
        ("351", Tz::Europe__Lisbon),
        ("91", Tz::Asia__Kolkata),
        ("81", Tz::Asia__Tokyo),
        ("82", Tz::Asia__Seoul),
        ("86", Tz::Asia__Shanghai),
        ("65", Tz::Asia__Singapore),
        ("971", Tz::Asia__Dubai),
        ("972", Tz::Asia__Jerusalem),
        ("27", Tz::Africa__Johannesburg),
        ("64", Tz::Pacific__Auckland),
    ];
    let digits = &phone.as_str()[1..];
    SINGLE_ZONE
        .iter()
        .filter(|(code, _)| digits.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map(|(_, zone)| *zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const NIGHT: QuietHours = QuietHours {
        start: NaiveTime::from_hms_opt(21, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
    };

    #[test]
    fn windows_across_midnight_and_within_a_day() {
        assert!(
            NIGHT.contains(hm(21, 0)) && NIGHT.contains(hm(23, 59)) && NIGHT.contains(hm(7, 59))
        );
        assert!(!NIGHT.contains(hm(8, 0)) && !NIGHT.contains(hm(20, 59)));
        let lunch = QuietHours {
            start: hm(12, 0),
            end: hm(13, 0),
        };
        assert!(lunch.contains(hm(12, 30)) && !lunch.contains(hm(13, 0)));
        let none = QuietHours {
            start: hm(9, 0),
            end: hm(9, 0),
        };
        assert!(!none.contains(hm(9, 0)));
    }

    #[test]
    fn held_messages_go_at_the_end_of_the_quiet_hours_in_the_recipients_zone() {
        // 22:30 in Paris (21:30 UTC in winter): held until 08:00 Paris next day.
        assert_eq!(
            NIGHT.hold_until(utc("2026-01-15T21:30:00Z"), Tz::Europe__Paris),
            Some(utc("2026-01-16T07:00:00Z"))
        );
        // 06:00 in Kolkata: held until 08:00 the same day.
        assert_eq!(
            NIGHT.hold_until(utc("2026-01-15T00:30:00Z"), Tz::Asia__Kolkata),
            Some(utc("2026-01-15T02:30:00Z"))
        );
        // 14:00 in Paris: not held.
        assert_eq!(
            NIGHT.hold_until(utc("2026-01-15T13:00:00Z"), Tz::Europe__Paris),
            None
        );
    }

    #[test]
    fn an_end_skipped_by_daylight_saving_moves_past_the_gap() {
        // New York springs forward at 02:00 on 2026-03-08; a window ending at 02:30
        // ends at 03:30 local (07:30 UTC) that night.
        let early = QuietHours {
            start: hm(1, 0),
            end: hm(2, 30),
        };
        assert_eq!(
            early.hold_until(utc("2026-03-08T06:30:00Z"), Tz::America__New_York),
            Some(utc("2026-03-08T07:30:00Z"))
        );
    }

    #[test]
    fn single_zone_countries_have_a_zone_and_multi_zone_plans_do_not() {
        let zone = |n: &str| phone_time_zone(&PhoneNumber::parse(n).unwrap());
        assert_eq!(zone("+447700900123"), Some(Tz::Europe__London));
        assert_eq!(zone("+353851234567"), Some(Tz::Europe__Dublin));
        assert_eq!(zone("+919876543210"), Some(Tz::Asia__Kolkata));
        assert_eq!(zone("+14155550100"), None);
        assert_eq!(zone("+61412345678"), None);
    }
}
