use std::path::Path;

use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

/// Advisory lock key serialising template creation across test processes ("nudge").
const TEMPLATE_LOCK: i64 = 0x006e_7564_6765;

/// A database of its own for one test, dropped when the value is dropped.
pub struct TestDb {
    pub url: String,
    name: String,
    server: String,
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

/// The Postgres server tests use (`NUDGE_TEST_PG_URL`, else the local one), without a
/// database name.
pub fn server_url() -> String {
    std::env::var("NUDGE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Template name keyed by the migrations' content: a changed migration gets a new one.
fn template_name() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../db/migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).expect("read migration"));
    }
    format!("nudge_tpl_{}", &hex::encode(hasher.finalize())[..12])
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("migrations dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn admin(server: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("cannot reach Postgres at {server} ({e}); is it running?"))
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
        .bind::<Text, _>(name)
        .get_result::<Exists>(conn)
        .await
        .expect("query pg_database")
        .exists
}

impl TestDb {
    /// A fresh, migrated database named `nudge_test_<random>`.
    pub async fn new() -> Self {
        Self::on(server_url()).await
    }

    /// As [`TestDb::new`], on the throwaway server with `wal_level=logical` that
    /// `./nudge test` starts for cdc-streamer's tests (`NUDGE_TEST_LOGICAL_PG_URL`).
    pub async fn logical() -> Self {
        let server = std::env::var("NUDGE_TEST_LOGICAL_PG_URL").expect(
            "NUDGE_TEST_LOGICAL_PG_URL is not set: run the tests with ./nudge test, which starts a \
             Postgres with wal_level=logical, or point it at one",
        );
        Self::on(server).await
    }

    /// As [`TestDb::new`], on the server at `server` (a [`crate::Cluster`]'s, say).
    pub async fn on(server: String) -> Self {
        let template = template_name();
        let mut conn = admin(&server).await;
        // One process builds the template; the others wait on the lock, then find it.
        diesel::sql_query("SELECT pg_advisory_lock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .await
            .expect("advisory lock");
        if !database_exists(&mut conn, &template).await {
            let building = format!("{template}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                .execute(&mut conn)
                .await
                .expect("drop stale template");
            diesel::sql_query(format!("CREATE DATABASE {building}"))
                .execute(&mut conn)
                .await
                .expect("create template");
            nudge_db::migrate::run_pending(&format!("{server}/{building}"))
                .await
                .expect("migrate template");
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {template}"))
                .execute(&mut conn)
                .await
                .expect("rename template");
        }
        diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<BigInt, _>(TEMPLATE_LOCK)
            .execute(&mut conn)
            .await
            .expect("advisory unlock");
        let name = format!("nudge_test_{}", uuid::Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Self {
            url: format!("{server}/{name}"),
            name,
            server,
        }
    }

    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url)
            .await
            .expect("connect to test database")
    }

    pub fn pool(&self) -> nudge_db::DbPool {
        nudge_db::build_pool(&self.url, 4).expect("pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        crate::clean_up_in_drop(move || async move {
            let mut conn = admin(&server).await;
            // A replication slot holds its database; slots are dropped first.
            let _ = diesel::sql_query(format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE database = '{name}' AND NOT active"
            ))
            .execute(&mut conn)
            .await;
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        });
    }
}
