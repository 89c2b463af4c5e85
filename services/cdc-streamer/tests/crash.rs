//! `cdc-streamer` killed with SIGKILL again and again while a workload runs: afterwards
//! every row's every version is on the stream, in order, with no gap (duplicates from
//! the replays are allowed and recognisable).
//!
//! Size: `NUDGE_CDC_CHAOS_CHANGES` (default 10,000) and `NUDGE_CDC_CHAOS_KILLS` (at
//! least, default 10); docs/cdc.md has a bigger run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use rand::Rng;
use serde_json::Value;
use support::{lsn_value, Setup, Streamer};

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const ROWS: i32 = 1_000;
const EXISTING: i32 = 500;

#[tokio::test]
async fn killed_again_and_again_the_streamer_leaves_no_gap() {
    let changes = setting("NUDGE_CDC_CHAOS_CHANGES", 10_000);
    let min_kills = setting("NUDGE_CDC_CHAOS_KILLS", 10);
    let setup = Setup::new("chaos", 2).await;
    setup
        .execute(&format!(
            "CREATE TABLE workload (id integer PRIMARY KEY, n integer NOT NULL);
             INSERT INTO workload (id, n) SELECT g, 0 FROM generate_series(0, {}) g;",
            EXISTING - 1
        ))
        .await;
    let mut streamer = setup.start(&[]).await;
    // The kills start once the snapshot is complete: a copy cut short is made again
    // from a new slot, and what changed in between arrives as its result, not change by
    // change (the next test covers that case).
    nudge_testkit::eventually(
        "the snapshot complete",
        Duration::from_secs(120),
        || async {
            let done = setup
                .sql
                .query(
                    "SELECT 1 FROM cdc_snapshots WHERE slot_name = $1 AND completed_at IS NOT NULL",
                    &[&setup.slot],
                )
                .await
                .ok()?;
            (!done.is_empty()).then_some(())
        },
    )
    .await;

    // The workload: upserts of random rows in transactions of 1 to 5, paced so that it
    // spans many kills. Each change moves its row's `n` up by one.
    let workload = {
        let url = setup.db.url.clone();
        tokio::spawn(async move {
            let (sql, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let mut done = 0;
            while done < changes {
                let size = rand::rng().random_range(1..=5).min(changes - done);
                let mut statements = String::from("BEGIN;");
                for _ in 0..size {
                    let id = rand::rng().random_range(0..ROWS);
                    statements.push_str(&format!(
                        "INSERT INTO workload (id, n) VALUES ({id}, 1) \
                         ON CONFLICT (id) DO UPDATE SET n = workload.n + 1;"
                    ));
                }
                statements.push_str("COMMIT;");
                sql.batch_execute(&statements).await.unwrap();
                done += size;
                if done % 50 < size {
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            }
        })
    };

    let mut kills = 0;
    while kills < min_kills || !workload.is_finished() {
        let wait = rand::rng().random_range(300..900);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        streamer.kill();
        kills += 1;
        streamer = setup.start(&[]).await;
    }
    workload.await.unwrap();

    // Every row's final version reaches the stream.
    let finals: BTreeMap<i64, i64> = setup
        .sql
        .query("SELECT id::int8, n::int8 FROM workload", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected_versions: usize = finals
        .iter()
        .map(|(&id, &n)| {
            if id < i64::from(EXISTING) {
                n as usize + 1
            } else {
                n as usize
            }
        })
        .sum();
    let stream = setup
        .wait_for_distinct(expected_versions, Duration::from_secs(180))
        .await;
    drop(streamer);

    // Per row, the versions in the order they first appear: exactly every version, in
    // order (a replay after a kill repeats versions already seen, never skips one).
    let mut seen = HashSet::new();
    let mut versions: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for change in &stream {
        if !seen.insert(change.identity()) {
            continue;
        }
        let id = change.record.key.as_ref().unwrap()["id"].as_i64().unwrap();
        let n = change.after_field("n").and_then(Value::as_i64).unwrap();
        versions.entry(id).or_default().push(n);
    }
    for (id, n) in &finals {
        let first = if *id < i64::from(EXISTING) { 0 } else { 1 };
        let expected: Vec<i64> = (first..=*n).collect();
        assert_eq!(
            versions.get(id),
            Some(&expected),
            "row {id}: versions on the stream"
        );
    }
    let duplicates = stream.len() - seen.len();
    eprintln!(
        "{kills} kills, {} changes + {EXISTING} snapshot rows, {duplicates} records sent again",
        expected_versions - EXISTING as usize
    );
}

#[tokio::test]
async fn a_snapshot_cut_short_by_a_kill_is_copied_again_whole() {
    let setup = Setup::new("snapcut", 1).await;
    setup
        .execute(
            "CREATE TABLE workload (id integer PRIMARY KEY, n integer NOT NULL);
             INSERT INTO workload (id, n) SELECT g, 0 FROM generate_series(1, 5000) g;",
        )
        .await;
    let streamer = Streamer::start(setup.env(&[]), &setup.logs);
    streamer.wait_streaming().await;
    // Killed once the copy has started and before it has finished.
    nudge_testkit::eventually("the snapshot copying", Duration::from_secs(60), || async {
        let copied = streamer.metric("nudge_cdc_snapshot_rows_total").await?;
        (copied > 0.0).then_some(())
    })
    .await;
    let running = streamer.metric("nudge_cdc_snapshot_running").await;
    streamer.kill();
    assert_eq!(
        running,
        Some(1.0),
        "the kill must land during the copy; make the table bigger"
    );

    // Restarted: the slot is made again and every row copied, then changes stream.
    let _streamer = setup.start(&[]).await;
    setup
        .execute("UPDATE workload SET n = 1 WHERE id = 1;")
        .await;
    // The update streams only once the second copy is in Kinesis.
    let stream = nudge_testkit::eventually(
        "the update after the copy",
        Duration::from_secs(120),
        || async {
            let stream = setup.changes().await;
            stream
                .iter()
                .any(|c| !c.record.source.snapshot && c.after_field("n") == Some(&Value::from(1)))
                .then_some(stream)
        },
    )
    .await;
    let last_copy = stream
        .iter()
        .filter(|c| c.record.source.snapshot)
        .map(|c| c.record.source.commit_lsn.clone())
        .max_by_key(|lsn| lsn_value(lsn))
        .unwrap();
    let copied_again: HashSet<i64> = stream
        .iter()
        .filter(|c| c.record.source.snapshot && c.record.source.commit_lsn == last_copy)
        .map(|c| c.record.key.as_ref().unwrap()["id"].as_i64().unwrap())
        .collect();
    assert_eq!(copied_again.len(), 5_000, "the second copy is whole");
}
