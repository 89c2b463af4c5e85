//! Secrets at rest: a tenant's provider auth token is stored sealed with AES-256-GCM
//! under a key from configuration, never in plain text. A keyring holds several keys so
//! that they can be rotated: the first seals, any of them opens (each sealed value names
//! its key), and `admin accounts reseal` moves every value to the first key, after which
//! the old one can go.
//!
//! Sealed form: `v1:{key id}:{base64(nonce ‖ ciphertext ‖ tag)}`. The nonce is 96
//! random bits per value; the associated data binds a value to its row (the account
//! SID), so a sealed token copied onto another account does not open.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// The configuration's keys: `id:base64-of-32-bytes`, comma-separated, the sealing key
/// first.
pub struct Keyring {
    keys: Vec<(String, LessSafeKey)>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key ids only: the keys themselves never print.
        f.debug_struct("Keyring")
            .field(
                "key_ids",
                &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the keyring is not `id:base64key[,id:base64key...]`: {0}")]
    BadKeyring(String),
    #[error("the sealed value is not in the v1 form")]
    Malformed,
    #[error("no key '{0}' in the keyring (was it rotated out too early?)")]
    UnknownKey(String),
    /// Wrong key, tampered value, or a value sealed for another row.
    #[error("the sealed value does not open")]
    DoesNotOpen,
    #[error("no randomness for a nonce")]
    NoRandomness,
}

const VERSION: &str = "v1";

impl Keyring {
    /// Parses `id:base64key,...` (ids of letters, digits, `-` and `_`; keys of 32 bytes).
    pub fn parse(raw: &str) -> Result<Self, SealError> {
        let mut keys = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| SealError::BadKeyring("an entry without ':'".into()))?;
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(SealError::BadKeyring(format!("key id '{id}'")));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(SealError::BadKeyring(format!("key id '{id}' twice")));
            }
            let bytes = STANDARD
                .decode(key)
                .map_err(|_| SealError::BadKeyring(format!("key '{id}' is not base64")))?;
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| SealError::BadKeyring(format!("key '{id}' is not 32 bytes")))?;
            keys.push((id.to_owned(), LessSafeKey::new(unbound)));
        }
        if keys.is_empty() {
            return Err(SealError::BadKeyring("no key".into()));
        }
        Ok(Self { keys })
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].0
    }

    /// Seals `secret` for the row named by `bound_to`.
    pub fn seal(&self, secret: &str, bound_to: &str) -> Result<String, SealError> {
        let (id, key) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::NoRandomness)?;
        let mut in_out = secret.as_bytes().to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(bound_to.as_bytes()),
            &mut in_out,
        )
        .map_err(|_| SealError::DoesNotOpen)?;
        let mut payload = nonce.to_vec();
        payload.extend_from_slice(&in_out);
        Ok(format!("{VERSION}:{id}:{}", STANDARD.encode(payload)))
    }

    /// Opens a value sealed for `bound_to` by any key of the ring.
    pub fn open(&self, sealed: &str, bound_to: &str) -> Result<String, SealError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(id), Some(payload)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let key = self
            .keys
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, key)| key)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let payload = STANDARD.decode(payload).map_err(|_| SealError::Malformed)?;
        if payload.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = payload.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut in_out = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(bound_to.as_bytes()), &mut in_out)
            .map_err(|_| SealError::DoesNotOpen)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::DoesNotOpen)
    }

    /// `SECRETS_KEYRING` as the services read it: unset or empty is no keyring (only the
    /// platform's provider account then works); anything else must parse.
    pub fn from_config(raw: Option<&str>) -> Result<Option<Self>, crate::config::ConfigError> {
        match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
            None => Ok(None),
            Some(raw) => Self::parse(raw)
                .map(Some)
                .map_err(|e| crate::config::ConfigError::Invalid(format!("SECRETS_KEYRING: {e}"))),
        }
    }

    /// The id of the key a sealed value names, if it is in the v1 form.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, ':');
        (parts.next() == Some(VERSION))
            .then(|| parts.next())
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:HxsdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    #[test]
    fn a_sealed_secret_opens_for_its_row_only_and_never_shows_in_the_sealed_form() {
        let ring = Keyring::parse(K1).unwrap();
        let sealed = ring.seal("auth-token-123", "AC1").unwrap();
        assert!(sealed.starts_with("v1:k1:"));
        assert!(!sealed.contains("auth-token-123"));
        assert_eq!(ring.open(&sealed, "AC1").unwrap(), "auth-token-123");
        assert_eq!(ring.open(&sealed, "AC2"), Err(SealError::DoesNotOpen));
        // Two seals of one secret differ (random nonces).
        assert_ne!(ring.seal("auth-token-123", "AC1").unwrap(), sealed);
        // A flipped bit is refused.
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(ring
            .open(std::str::from_utf8(&tampered).unwrap(), "AC1")
            .is_err());
    }

    #[test]
    fn a_rotated_ring_seals_with_the_new_key_and_still_opens_the_old() {
        let old = Keyring::parse(K1).unwrap();
        let sealed_before = old.seal("token", "AC1").unwrap();
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.sealing_key_id(), "k2");
        assert_eq!(rotated.open(&sealed_before, "AC1").unwrap(), "token");
        let resealed = rotated.seal("token", "AC1").unwrap();
        assert_eq!(Keyring::key_id_of(&resealed), Some("k2"));
        // Once k1 is gone, what it sealed does not open; what k2 sealed does.
        let k2_only = Keyring::parse(K2).unwrap();
        assert_eq!(
            k2_only.open(&sealed_before, "AC1"),
            Err(SealError::UnknownKey("k1".into()))
        );
        assert_eq!(k2_only.open(&resealed, "AC1").unwrap(), "token");
    }

    #[test]
    fn bad_keyrings_are_refused_and_keys_never_print() {
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("k1:short").is_err());
        assert!(Keyring::parse("nocolon").is_err());
        assert!(Keyring::parse(&format!("{K1},{K1}")).is_err());
        let ring = Keyring::parse(K1).unwrap();
        assert!(!format!("{ring:?}").contains("AAECAw"));
    }
}
