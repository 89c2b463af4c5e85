//! Every service reaches Postgres through `nudge_db::build_pool` or `nudge_db::connect`,
//! which honour `sslmode` and `sslrootcert` as libpq does. The TLS server is the one
//! `./nudge test` starts for cdc-streamer (its certificate is for 127.0.0.1 and
//! localhost, signed by a throwaway CA); the plain one is a cluster without TLS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is how a test fails"
)]

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_testkit::TestDb;

#[derive(QueryableByName)]
struct Encrypted {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

async fn encrypted(conn: &mut AsyncPgConnection) -> bool {
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Encrypted>(conn)
        .await
        .expect("pg_stat_ssl")
        .ssl
}

fn test_ca() -> String {
    std::env::var("NUDGE_TEST_LOGICAL_PG_CA")
        .expect("NUDGE_TEST_LOGICAL_PG_CA is not set: run the tests with ./nudge test")
}

/// `url` with its host replaced by a name the certificate was not issued for, while
/// still reaching 127.0.0.1 (libpq's `hostaddr`).
fn under_another_name(url: &str) -> String {
    url.replacen("@127.0.0.1:", "@db.nudge-test.invalid:", 1)
}

#[tokio::test]
async fn verify_full_with_the_servers_ca_pools_migrates_and_encrypts() {
    let db = TestDb::logical().await;
    let url = format!("{}?sslmode=verify-full&sslrootcert={}", db.url, test_ca());
    let pool = nudge_db::build_pool(&url, 2).unwrap();
    let mut conn = pool.get().await.expect("a verified connection");
    assert!(
        encrypted(&mut conn).await,
        "the pool's connection is encrypted"
    );
    drop(conn);

    // Migrations and the admin CLI's one-off connections go the same way.
    assert_eq!(nudge_db::migrate::run_pending(&url).await.unwrap(), 0);
    let mut one = nudge_db::connect(&url).await.unwrap();
    assert!(encrypted(&mut one).await);
}

#[tokio::test]
async fn a_certificate_no_trusted_authority_signed_is_refused() {
    let db = TestDb::logical().await;
    // Without sslrootcert the public CAs are trusted, and none signed the test server's.
    for mode in ["verify-full", "verify-ca"] {
        let url = format!("{}?sslmode={mode}", db.url);
        let error = nudge_db::connect(&url).await.err().expect("refused");
        let text = error.to_string();
        assert!(text.contains("certificate"), "{mode}: {text}");
        assert!(!text.contains("postgres://"), "no URL in errors: {text}");
        let pool = nudge_db::build_pool(&url, 1).unwrap();
        assert!(pool.get().await.is_err(), "{mode}: the pool refuses it too");
    }
}

#[tokio::test]
async fn verify_full_checks_the_name_and_verify_ca_does_not() {
    let db = TestDb::logical().await;
    let host = format!(
        "{}?hostaddr=127.0.0.1&sslrootcert={}",
        under_another_name(&db.url),
        test_ca()
    );
    let error = nudge_db::connect(&format!("{host}&sslmode=verify-full"))
        .await
        .err()
        .expect("a certificate for another name is refused");
    assert!(error.to_string().contains("certificate"), "{error}");
    let mut conn = nudge_db::connect(&format!("{host}&sslmode=verify-ca"))
        .await
        .expect("verify-ca checks the chain only");
    assert!(encrypted(&mut conn).await);
}

#[tokio::test]
async fn require_never_falls_back_to_plain_text_and_prefer_does() {
    let cluster = nudge_testkit::Cluster::start();
    let db = TestDb::on(cluster.url.clone()).await;
    let error = nudge_db::connect(&format!("{}?sslmode=require", db.url))
        .await
        .err()
        .expect("a server without TLS is refused under require");
    assert!(error.to_string().contains("TLS"), "{error}");
    for url in [
        format!("{}?sslmode=prefer", db.url),
        db.url.clone(),
        format!("{}?sslmode=disable", db.url),
    ] {
        let mut conn = nudge_db::connect(&url).await.expect("plain is allowed");
        assert!(!encrypted(&mut conn).await);
    }
    // `prefer` (the default) takes TLS where the server offers it.
    let tls = TestDb::logical().await;
    let mut conn = nudge_db::connect(&tls.url).await.unwrap();
    assert!(encrypted(&mut conn).await);
}

#[tokio::test]
async fn unusable_tls_options_stop_the_pool_at_build_time() {
    for url in [
        "postgres://nudge:hunter2@127.0.0.1:5432/nudge?sslmode=sometimes".to_owned(),
        "postgres://nudge:hunter2@127.0.0.1:5432/nudge?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem".to_owned(),
    ] {
        let error = nudge_db::build_pool(&url, 1).err().expect("refused");
        let text = error.to_string();
        assert!(text.starts_with("database configuration: "), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
