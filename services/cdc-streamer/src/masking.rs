//! Columns that never leave the database. A rule drops the column from every record
//! or replaces its value by a keyed hash (HMAC-SHA256, hex), which still lets analytics
//! join and count on it without reading it. Nudge's own secrets are masked by default
//! and `CDC_MASK` cannot unmask them; it can only add rules.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::Sha256;

/// What happens to a masked column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    Drop,
    Hash,
}

/// Nudge's columns that hold secrets or their verifiers. A new secret column needs a
/// line here (and a test in tests/streaming.rs proves the defaults hold).
pub const DEFAULT_MASKS: &[(&str, &str, Mask)] = &[
    ("api_keys", "key_hash", Mask::Drop),
    // A pending verification code's hash: six digits are found again by trying them.
    ("verified_numbers", "code_hash", Mask::Drop),
    // Sealed, but a sealed secret is still the secret for whoever holds the key.
    ("provider_accounts", "auth_token_sealed", Mask::Drop),
    ("webhook_endpoints", "secret", Mask::Drop),
    ("bot_rules", "fulfilment_secret", Mask::Drop),
    ("console_users", "password_hash", Mask::Drop),
    // A 6-digit code's hash is found again by trying a million codes.
    ("console_reset_codes", "code_hash", Mask::Drop),
    // Queued emails hold single-use links until sent (the table is excluded by default).
    ("console_emails", "text_body", Mask::Drop),
    ("console_emails", "html_body", Mask::Drop),
    // Invitations are streamed (who invited whom, when); their link's hash is not.
    ("console_invitations", "token_hash", Mask::Drop),
];

/// Tables that hold secrets through and through: session and CSRF tokens, single-use
/// links and codes, OIDC verifiers and nonces, emails that carry links, and the stored
/// answers of idempotent calls (some of which showed a new secret). They are never
/// published, whatever `CDC_TABLES` or `CDC_EXCLUDE_TABLES` say: `CDC_TABLES` naming
/// one is refused. tests/secrets.rs scans the schema: a new secret column must be in
/// one of these tables or in [`DEFAULT_MASKS`].
pub const SECRET_TABLES: &[&str] = &[
    "idempotency_keys",
    "console_sessions",
    "console_email_tokens",
    "console_emails",
    "console_reset_codes",
    "console_oidc_logins",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaskError {
    #[error("CDC_MASK: '{0}' is not table.column=drop or table.column=hash")]
    Malformed(String),
    #[error("CDC_MASK hashes columns ({0}) but CDC_HASH_KEY is not set: an unkeyed hash of a phone number or an email is easy to reverse")]
    HashWithoutKey(String),
    #[error("CDC_MASK cannot unmask {0}: it holds a secret")]
    Unmask(String),
}

/// The rules in force, by table then column.
#[derive(Clone, Default)]
pub struct Masks {
    rules: HashMap<String, HashMap<String, Mask>>,
    hash_key: Option<SecretString>,
}

impl std::fmt::Debug for Masks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masks")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Masks {
    /// The defaults plus `setting` (`CDC_MASK`: `customers.phone=hash,shops.help_text=drop`).
    pub fn parse(setting: Option<&str>, hash_key: Option<SecretString>) -> Result<Self, MaskError> {
        let mut masks = Masks {
            rules: HashMap::new(),
            hash_key,
        };
        for (table, column, mask) in DEFAULT_MASKS {
            masks.set(table, column, *mask);
        }
        let mut hashed = Vec::new();
        for entry in setting
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let malformed = || MaskError::Malformed(entry.to_owned());
            let (column_path, action) = entry.split_once('=').ok_or_else(malformed)?;
            let (table, column) = column_path.trim().split_once('.').ok_or_else(malformed)?;
            if table.is_empty() || column.is_empty() {
                return Err(malformed());
            }
            let mask = match action.trim() {
                "drop" => Mask::Drop,
                "hash" => Mask::Hash,
                "keep" => return Err(MaskError::Unmask(column_path.trim().to_owned())),
                _ => return Err(malformed()),
            };
            // A default Drop is never weakened to a Hash.
            if masks.rule(table, column) == Some(Mask::Drop) {
                continue;
            }
            if mask == Mask::Hash {
                hashed.push(column_path.trim().to_owned());
            }
            masks.set(table, column, mask);
        }
        if !hashed.is_empty() && masks.hash_key.is_none() {
            return Err(MaskError::HashWithoutKey(hashed.join(", ")));
        }
        Ok(masks)
    }

    fn set(&mut self, table: &str, column: &str, mask: Mask) {
        self.rules
            .entry(table.to_owned())
            .or_default()
            .insert(column.to_owned(), mask);
    }

    pub fn rule(&self, table: &str, column: &str) -> Option<Mask> {
        self.rules.get(table)?.get(column).copied()
    }

    /// Applies the table's rules to one row image in place.
    pub fn apply(&self, table: &str, row: &mut Map<String, Value>) {
        let Some(rules) = self.rules.get(table) else {
            return;
        };
        for (column, mask) in rules {
            match mask {
                Mask::Drop => {
                    row.remove(column);
                }
                Mask::Hash => {
                    if let Some(value) = row.get_mut(column) {
                        if !value.is_null() {
                            *value = Value::String(self.hash(value));
                        }
                    }
                }
            }
        }
    }

    fn hash(&self, value: &Value) -> String {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // `parse` refuses hash rules without a key, so the key is there.
        let key = self
            .hash_key
            .as_ref()
            .map(|k| k.expose_secret().as_bytes().to_vec())
            .unwrap_or_default();
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return String::new();
        };
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn nudge_secrets_are_dropped_by_default() {
        let masks = Masks::parse(None, None).unwrap();
        let mut key = row(json!({"id": "k1", "prefix": "nk_live_ab", "key_hash": "9f86d0"}));
        masks.apply("api_keys", &mut key);
        assert_eq!(key, row(json!({"id": "k1", "prefix": "nk_live_ab"})));
        let mut endpoint = row(json!({"id": "e1", "secret": "whsec_x", "url": "https://x"}));
        masks.apply("webhook_endpoints", &mut endpoint);
        assert!(!endpoint.contains_key("secret"));
        let mut rule = row(json!({"id": "r1", "fulfilment_secret": "s"}));
        masks.apply("bot_rules", &mut rule);
        assert!(!rule.contains_key("fulfilment_secret"));
        let mut person = row(json!({"id": "u1", "email": "a@b.c", "password_hash": "$argon2id$x"}));
        masks.apply("console_users", &mut person);
        assert_eq!(person, row(json!({"id": "u1", "email": "a@b.c"})));
        let mut email = row(json!({"id": "m1", "text_body": "link", "html_body": "link"}));
        masks.apply("console_emails", &mut email);
        assert_eq!(email, row(json!({"id": "m1"})));
        let mut invitation = row(json!({"id": "i1", "role": "marketer", "token_hash": "ab12"}));
        masks.apply("console_invitations", &mut invitation);
        assert_eq!(invitation, row(json!({"id": "i1", "role": "marketer"})));
    }

    #[test]
    fn configured_hashes_are_keyed_stable_and_leave_nulls() {
        let key = Some(SecretString::from("k1"));
        let masks = Masks::parse(Some("customers.phone=hash, customers.name=drop"), key).unwrap();
        let mut a = row(json!({"phone": "+14155550100", "name": "Asha", "email": null}));
        let mut b = row(json!({"phone": "+14155550100"}));
        masks.apply("customers", &mut a);
        masks.apply("customers", &mut b);
        let hashed = a["phone"].as_str().unwrap();
        assert_eq!(hashed.len(), 64);
        assert_ne!(hashed, "+14155550100");
        assert_eq!(a["phone"], b["phone"]);
        assert!(!a.contains_key("name"));
        let other_key =
            Masks::parse(Some("customers.phone=hash"), Some(SecretString::from("k2"))).unwrap();
        let mut c = row(json!({"phone": "+14155550100", "email": null}));
        other_key.apply("customers", &mut c);
        assert_ne!(c["phone"], a["phone"]);
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert_eq!(
            Masks::parse(Some("customers.phone=hash"), None).unwrap_err(),
            MaskError::HashWithoutKey("customers.phone".into())
        );
        assert!(matches!(
            Masks::parse(Some("phone=drop"), None),
            Err(MaskError::Malformed(_))
        ));
        assert!(matches!(
            Masks::parse(Some("customers.phone=blur"), None),
            Err(MaskError::Malformed(_))
        ));
        assert_eq!(
            Masks::parse(Some("api_keys.key_hash=keep"), None).unwrap_err(),
            MaskError::Unmask("api_keys.key_hash".into())
        );
        // A default drop is not weakened to a hash.
        let masks = Masks::parse(
            Some("api_keys.key_hash=hash"),
            Some(SecretString::from("k")),
        )
        .unwrap();
        assert_eq!(masks.rule("api_keys", "key_hash"), Some(Mask::Drop));
    }

    #[test]
    fn debug_output_does_not_show_the_hash_key() {
        let masks = Masks::parse(None, Some(SecretString::from("very-secret"))).unwrap();
        assert!(!format!("{masks:?}").contains("very-secret"));
    }
}
