//! A Postgres server of a test's own (`initdb`, `pg_ctl`), with `wal_level=logical`,
//! that the test may restart or stop: what a shared server cannot allow. Removed when
//! dropped. As root, the server runs as `postgres` (as `./nudge` runs its own).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:{port}` (no database).
    pub url: String,
}

fn as_postgres(program: &str) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false);
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Cluster {
    /// A new cluster on a free port, started.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("nudge-cluster-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let _ = Command::new("chown").arg("postgres").arg(&dir).status();
        run(
            as_postgres("initdb").arg("-D").arg(&dir).args([
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]),
            "initdb",
        );
        let cluster = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}"),
            dir,
            port,
        };
        cluster.pg_ctl(&["start"], "start");
        cluster
    }

    fn pg_ctl(&self, action: &[&str], what: &str) {
        let options = format!(
            "-p {} -k /tmp -c listen_addresses=127.0.0.1 -c wal_level=logical \
             -c max_replication_slots=10 -c max_wal_senders=10 -c fsync=off \
             -c full_page_writes=off -c max_connections=200",
            self.port
        );
        run(
            as_postgres("pg_ctl")
                .arg("-D")
                .arg(&self.dir)
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "120", "-o", &options])
                .args(action),
            &format!("pg_ctl {what}"),
        );
    }

    /// `pg_ctl restart -m fast`, as an operator restarts a server: returns how long
    /// it took (it waits for every backend and WAL sender to finish).
    pub fn restart_fast(&self) -> Duration {
        let started = Instant::now();
        self.pg_ctl(&["restart", "-m", "fast"], "restart -m fast");
        started.elapsed()
    }

    /// `pg_ctl stop -m fast`.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"], "stop");
    }

    /// `pg_ctl start` after [`Cluster::stop`].
    pub fn start_again(&self) {
        self.pg_ctl(&["start"], "start");
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
