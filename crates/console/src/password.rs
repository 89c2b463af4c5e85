//! Console passwords: argon2id with the crate's defaults (OWASP's first recommended
//! setting: 19 MiB, 2 passes, 1 lane), stored as PHC strings, so the parameters can be
//! raised later and old hashes still verify. Hashing takes tens of milliseconds of CPU
//! on purpose, so it runs on the blocking pool, never on the server's threads, and at
//! most one hash per core at a time ([`HASHING`]): each takes 19 MiB, and a crowd of
//! sign-ins (or an attacker's) would otherwise fill the blocking pool's 512 threads
//! with 10 GB of hashing. The rest wait their turn.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use std::sync::LazyLock;
use tokio::sync::Semaphore;

/// Hashes running at once: one per core.
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
});

/// Runs `work` on the blocking pool once a place in [`HASHING`] is free.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let _place = HASHING.acquire().await?;
    tokio::task::spawn_blocking(work).await?
}

/// Shortest and longest passwords accepted, in characters (NIST SP 800-63B: at
/// least 8, and allow at least 64).
pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 128;

/// Why a new password is refused, in words for the person typing it.
pub fn check_new(password: &str, email: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err("Use at least 10 characters.");
    }
    if chars > MAX_CHARS {
        return Err("Use at most 128 characters.");
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err("Your password cannot be your email address.");
    }
    Ok(())
}

/// The PHC string of a new password.
pub async fn hash(password: String) -> anyhow::Result<String> {
    hashing(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
}

/// Whether `password` matches `stored`. With no stored hash (no such account, or one
/// without a password) a hash is still computed, so the answer takes as long either
/// way and timing tells nobody which addresses have accounts.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    hashing(move || {
        let Some(stored) = stored else {
            let _ = Argon2::default().hash_password(password.as_bytes());
            return Ok(false);
        };
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let calls: Vec<_> = (0..24)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(hashing(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }))
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=cores).contains(&most),
            "{most} at once on {cores} cores"
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery".into(), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!verify("correct horse battery!".into(), Some(stored))
            .await
            .unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn new_passwords_have_a_length_and_are_not_the_address() {
        assert!(check_new("short", "a@b.c").is_err());
        assert!(check_new(&"x".repeat(129), "a@b.c").is_err());
        assert!(check_new("jane@shop.example", "Jane@Shop.example").is_err());
        assert!(check_new("a long enough passphrase", "a@b.c").is_ok());
        // Characters, not bytes: ten accented letters are ten.
        assert!(check_new("éééééééééé", "a@b.c").is_ok());
    }
}
