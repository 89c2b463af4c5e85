//! Throughput limits: message segments per second per sender number (by kind, with
//! per-number overrides) and for the whole provider account, shared by every replica
//! through `nudge_db::rate`. Work over the limit waits in the worker (which then
//! receives no more than it can hold), it is never failed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use nudge_db::rate::Rate;
use nudge_db::{AsyncPgConnection, DbError, DbPool};
use nudge_domain::SenderKind;

use crate::batcher::{BatchAnswer, Batcher};

/// Segments per second, by sender kind, per number and per account.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub long_code: f64,
    pub toll_free: f64,
    pub short_code: f64,
    /// Per-number rates that replace the kind's (a number Twilio raised, say).
    pub overrides: HashMap<String, f64>,
    /// All numbers of the provider account together.
    pub account: f64,
}

impl Limits {
    /// The rate of one sender number.
    pub fn for_number(&self, number: &str) -> f64 {
        if let Some(rate) = self.overrides.get(number) {
            return *rate;
        }
        match SenderKind::of(number) {
            SenderKind::LongCode => self.long_code,
            SenderKind::TollFree => self.toll_free,
            SenderKind::ShortCode => self.short_code,
        }
    }

    /// `+15017122661=10,+18885550100=30`: per-number rates, in segments per second.
    pub fn parse_overrides(raw: &str) -> Result<HashMap<String, f64>, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (number, rate) = entry
                    .split_once('=')
                    .ok_or_else(|| format!("'{entry}' is not number=rate"))?;
                let rate: f64 = rate
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r > 0.0)
                    .ok_or_else(|| format!("'{entry}': the rate must be a positive number"))?;
                Ok((number.trim().to_owned(), rate))
            })
            .collect()
    }
}

/// Burst: a second's worth, and at least one segment.
fn rate(per_second: f64) -> Rate {
    Rate {
        per_second,
        burst: per_second.max(1.0),
    }
}

/// Longest a worker waits for its turn in one go before it re-reads the buckets.
const MAX_NAP: Duration = Duration::from_secs(5);

/// A message's wish to go now: its sender number and its segments. The answer is
/// `None` when its tokens were taken, or how long to wait.
type Turn = (String, i32);

/// The throughput limits of one replica's messages in hand. Their tokens are taken in
/// batches: the messages from one number whose turns are asked for together take their
/// segments together when the buckets hold them all now (one statement, one lock of the
/// hot rows for all of them); otherwise each asks alone, as it would have.
pub struct Throttle {
    turns: Batcher<Turn, Option<Duration>>,
}

impl Throttle {
    pub fn start(pool: DbPool, limits: Limits, account_sid: String, max: usize) -> Self {
        let limits = Arc::new(limits);
        let turns = Batcher::start(max, move |wanted: Vec<Turn>| {
            let (pool, limits, account_sid) = (pool.clone(), limits.clone(), account_sid.clone());
            async move {
                let mut conn = pool.get().await?;
                take_turns(&mut conn, &limits, &account_sid, &wanted).await
            }
        });
        Self { turns }
    }

    /// Waits until `segments` may go from `from` (and the account), up to `patience`.
    /// Returns false when the patience ran out (the caller puts the message back).
    pub async fn wait_for_turn(
        &self,
        from: &str,
        segments: i32,
        patience: Duration,
    ) -> Result<bool, Arc<DbError>> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let Some(wait) = self.turns.submit((from.to_owned(), segments)).await? else {
                return Ok(true);
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(wait.min(MAX_NAP).min(deadline - now)).await;
        }
    }
}

/// The answers to a batch of turns, in order. A database error part-way leaves the
/// tokens taken so far spent and unused: the limit errs slow, never fast.
async fn take_turns(
    conn: &mut AsyncPgConnection,
    limits: &Limits,
    account_sid: &str,
    wanted: &[Turn],
) -> BatchAnswer<Option<Duration>> {
    let account_key = format!("account:{account_sid}");
    // Every turn belongs to exactly one number's group below, so each is answered.
    let mut answers: Vec<Option<Option<Duration>>> = vec![None; wanted.len()];
    let mut by_number: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, (from, _)) in wanted.iter().enumerate() {
        by_number.entry(from.as_str()).or_default().push(index);
    }
    for (from, indexes) in by_number {
        let number_key = format!("number:{from}");
        let keys = [
            (number_key.as_str(), rate(limits.for_number(from))),
            (account_key.as_str(), rate(limits.account)),
        ];
        let segments = |index: usize| f64::from(wanted[index].1.max(1));
        if indexes.len() > 1 {
            let total: f64 = indexes.iter().map(|&index| segments(index)).sum();
            if nudge_db::rate::take_all_present(conn, &keys, total)
                .await?
                .is_none()
            {
                for index in indexes {
                    answers[index] = Some(None);
                }
                continue;
            }
        }
        for index in indexes {
            answers[index] = Some(nudge_db::rate::take(conn, &keys, segments(index)).await?);
        }
    }
    let unanswered = || DbError::Corrupt("a throughput turn was left unanswered".into());
    Ok(answers
        .into_iter()
        .map(|answer| answer.ok_or_else(unanswered))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            long_code: 1.0,
            toll_free: 3.0,
            short_code: 100.0,
            overrides: Limits::parse_overrides("+15017122661=10").unwrap(),
            account: 100.0,
        }
    }

    #[test]
    fn each_kind_has_its_rate_and_overrides_win() {
        let limits = limits();
        assert_eq!(limits.for_number("+15017122661"), 10.0);
        assert_eq!(limits.for_number("+15017122662"), 1.0);
        assert_eq!(limits.for_number("+18885550100"), 3.0);
        assert_eq!(limits.for_number("898211"), 100.0);
    }

    #[test]
    fn bad_overrides_are_named() {
        assert!(Limits::parse_overrides("").unwrap().is_empty());
        assert!(Limits::parse_overrides("+15017122661")
            .unwrap_err()
            .contains("number=rate"));
        assert!(Limits::parse_overrides("+15017122661=0")
            .unwrap_err()
            .contains("positive"));
        assert!(Limits::parse_overrides("+15017122661=fast").is_err());
    }
}
