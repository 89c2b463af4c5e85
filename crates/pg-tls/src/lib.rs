//! How every Nudge service connects to Postgres: libpq's `sslmode` and `sslrootcert`,
//! read from the `DATABASE_URL` as libpq reads them, over rustls.
//!
//! tokio-postgres (the driver under diesel-async) knows only `disable`, `prefer` and
//! `require`, has no `sslrootcert`, and ships no TLS. On AWS the database is RDS, whose
//! `rds.force_ssl = 1` refuses plain connections and whose certificates are signed by
//! Amazon's RDS CAs (docs/security.md says where the bundle comes from). So the
//! libpq-only options are taken out of the URL here and applied with rustls:
//!
//! | `sslmode` | encrypted | server certificate checked |
//! | --- | --- | --- |
//! | `disable` | no | |
//! | `allow`, `prefer` (the default) | if the server offers it | no |
//! | `require` | yes, never plain | no; as `verify-ca` when `sslrootcert` is given (libpq does the same) |
//! | `verify-ca` | yes | signed by `sslrootcert` (or, without it, a public CA) |
//! | `verify-full` | yes | as `verify-ca`, and issued for the host |
//!
//! Errors never carry the URL: it holds the password.

mod stream;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres::{Client, Socket};

pub use stream::{RustlsConnect, RustlsStream};

/// A connection's I/O half, to be polled (spawned) beside its [`Client`].
pub type Connection = tokio_postgres::Connection<Socket, RustlsStream<Socket>>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL or a file it names is unusable: a configuration mistake.
    #[error("DATABASE_URL: {0}")]
    Config(String),
    /// The server could not be reached, refused us, or could not be trusted (the text
    /// says which: see [`describe`]).
    #[error("cannot connect to Postgres: {0}")]
    Connect(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// What a URL asks for: tokio-postgres's config (without the libpq-only options), the
/// mode, and the CA file.
#[derive(Debug, Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// Reads a `postgres://` URL the way libpq does.
pub fn parse(database_url: &str) -> Result<Target, Error> {
    let bad = |what: String| Error::Config(what);
    let mut url = url::Url::parse(database_url).map_err(|e| bad(e.to_string()))?;
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" => {
                mode = match value.as_ref() {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => return Err(bad(format!("unknown sslmode '{other}'"))),
                }
            }
            // libpq 16's `system`: the public CAs, which is what no file means here too.
            "sslrootcert" if value == "system" => root_cert = None,
            "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(bad(format!(
                    "{key}: client certificates are not supported; use a password or IAM token"
                )))
            }
            // The replication connection's business (cdc-streamer), not this one's.
            "replication" => {}
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    // As libpq: `require` with a CA file named checks the chain (as `verify-ca`).
    if mode == SslMode::Require && root_cert.is_some() {
        mode = SslMode::VerifyCa;
    }
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    let mut config: tokio_postgres::Config = url
        .as_str()
        .parse()
        .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
    config.ssl_mode(match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tokio_postgres::config::SslMode::Require
        }
    });
    Ok(Target {
        config,
        mode,
        root_cert,
    })
}

impl Target {
    /// The TLS side of a connection to this target (unused when `sslmode=disable`).
    pub fn tls(&self) -> Result<RustlsConnect, Error> {
        Ok(RustlsConnect::new(Arc::new(client_config(
            self.mode,
            self.root_cert.as_ref(),
        )?)))
    }

    /// Opens a connection; the caller polls (spawns) the [`Connection`].
    pub async fn connect(&self) -> Result<(Client, Connection), Error> {
        self.config
            .connect(self.tls()?)
            .await
            .map_err(|e| Error::Connect(describe(&e)))
    }
}

/// [`parse`] then [`Target::connect`].
pub async fn connect(database_url: &str) -> Result<(Client, Connection), Error> {
    parse(database_url)?.connect().await
}

/// A driver error in one line: the server's code and message, or the whole chain of
/// causes (a refused certificate is a cause of "error performing TLS handshake").
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db_error) => format!("{}: {}", db_error.code().code(), db_error.message()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

fn client_config(mode: SslMode, root_cert: Option<&PathBuf>) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    Ok(match mode {
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(root_cert)?)
            .with_no_client_auth(),
        SslMode::VerifyCa => builder
            .dangerous()
            .with_custom_certificate_verifier(verify::any_host_name(roots(root_cert)?, provider)?)
            .with_no_client_auth(),
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(verify::unchecked(provider))
            .with_no_client_auth(),
    })
}

/// The CAs a certificate must lead to: the file's, or the public ones.
fn roots(root_cert: Option<&PathBuf>) -> Result<RootCertStore, Error> {
    let Some(path) = root_cert else {
        return Ok(webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect());
    };
    let unreadable = |e: String| Error::Config(format!("sslrootcert {}: {e}", path.display()));
    let mut store = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(e.to_string()))? {
        store
            .add(certificate.map_err(|e| unreadable(e.to_string()))?)
            .map_err(|e| unreadable(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(unreadable("no certificate in the file".into()));
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_options_are_read_and_taken_out_of_the_url() {
        let target = parse(
            "postgres://cdc:pw@db.example.com:5432/nudge?sslmode=verify-full&sslrootcert=/etc/rds-ca.pem&application_name=cdc",
        )
        .unwrap();
        assert_eq!(target.mode, SslMode::VerifyFull);
        assert_eq!(target.root_cert, Some(PathBuf::from("/etc/rds-ca.pem")));
        assert_eq!(target.config.get_application_name(), Some("cdc"));
        assert_eq!(
            target.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(parse("postgres://db/nudge").unwrap().mode, SslMode::Prefer);
        assert_eq!(
            parse("postgres://db/nudge?sslmode=disable")
                .unwrap()
                .config
                .get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
    }

    #[test]
    fn require_with_a_ca_file_checks_the_chain_as_libpq_does() {
        let target = parse("postgres://db/nudge?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(target.mode, SslMode::VerifyCa);
        let public = parse("postgres://db/nudge?sslmode=verify-full&sslrootcert=system").unwrap();
        assert_eq!(public.root_cert, None);
    }

    #[test]
    fn unknown_or_unsupported_options_are_refused_without_echoing_the_password() {
        for url in [
            "postgres://cdc:hunter2@db/nudge?sslmode=sometimes",
            "postgres://cdc:hunter2@db/nudge?sslcert=/client.pem",
        ] {
            let error = parse(url).unwrap_err().to_string();
            assert!(error.starts_with("DATABASE_URL: "), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_configuration_error() {
        let path = std::env::temp_dir().join(format!("nudge-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let target = parse(&format!(
            "postgres://db/nudge?sslmode=verify-full&sslrootcert={}",
            path.display()
        ))
        .unwrap();
        let error = target
            .tls()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        assert!(error.contains("no certificate"), "{error}");
    }
}
