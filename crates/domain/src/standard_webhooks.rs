//! Signing what Nudge posts to merchants (event webhooks, care hand-offs, bot
//! fulfilment) with the Standard Webhooks scheme (<https://www.standardwebhooks.com>):
//!
//! - `webhook-id`: the delivery's id, the same on every retry (receivers dedupe on it);
//! - `webhook-timestamp`: Unix seconds of this attempt (receivers refuse old ones);
//! - `webhook-signature`: `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//!   keyed with the base64 part of the endpoint's `whsec_...` secret.
//!
//! Any Standard Webhooks library verifies these; [`verify`] is ours, for tests and for
//! merchants' Rust code.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const SECRET_PREFIX: &str = "whsec_";
/// How far a timestamp may be from now when verifying (the scheme's recommendation).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A new endpoint secret: `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0_u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the secret is not a whsec_ secret")]
    BadSecret,
    #[error("the timestamp is missing or too far from now")]
    BadTimestamp,
    #[error("no signature matches")]
    NoMatch,
}

/// The `webhook-signature` header value for one attempt.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, SignatureError> {
    let mac = mac_over(secret, id, timestamp, body)?;
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Checks a received delivery: the timestamp within [`TOLERANCE_SECONDS`] of `now`, and
/// one of the header's space-separated `v1,` signatures ours (constant-time).
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
    signature_header: &str,
    now: i64,
) -> Result<(), SignatureError> {
    if (now - timestamp).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::BadTimestamp);
    }
    for candidate in signature_header.split_whitespace() {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(claimed) = STANDARD.decode(encoded) else {
            continue;
        };
        if mac_over(secret, id, timestamp, body)?
            .verify_slice(&claimed)
            .is_ok()
        {
            return Ok(());
        }
    }
    Err(SignatureError::NoMatch)
}

fn mac_over(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<HmacSha256, SignatureError> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .filter(|key| !key.is_empty())
        .ok_or(SignatureError::BadSecret)?;
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(&key).map_err(|_| SignatureError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks reference libraries' test suites.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_reference_vector() {
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY).unwrap(), SIGNATURE);
        verify(SECRET, ID, TIMESTAMP, BODY, SIGNATURE, TIMESTAMP + 10).unwrap();
        // Several signatures in the header (a key rotation): one match is enough.
        verify(
            SECRET,
            ID,
            TIMESTAMP,
            BODY,
            &format!("v1,bm9wZQ== {SIGNATURE}"),
            TIMESTAMP,
        )
        .unwrap();
    }

    #[test]
    fn tampering_and_staleness_are_refused() {
        let now = TIMESTAMP;
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, br#"{"test": 1}"#, SIGNATURE, now),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, "msg_other", TIMESTAMP, BODY, SIGNATURE, now),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(
                SECRET,
                ID,
                TIMESTAMP,
                BODY,
                SIGNATURE,
                now + TOLERANCE_SECONDS + 1
            ),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            verify(SECRET, ID, TIMESTAMP, BODY, "v2,whatever", now),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            sign("not-a-secret", ID, TIMESTAMP, BODY),
            Err(SignatureError::BadSecret)
        );
    }

    #[test]
    fn new_secrets_are_usable_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let signature = sign(&a, ID, TIMESTAMP, BODY).unwrap();
        verify(&a, ID, TIMESTAMP, BODY, &signature, TIMESTAMP).unwrap();
        assert!(verify(&b, ID, TIMESTAMP, BODY, &signature, TIMESTAMP).is_err());
    }
}
