//! The one way into a webhook handler: the body as a form whose Twilio signature has
//! been checked. A handler that takes a [`SignedForm`] cannot see an unsigned request.
//!
//! The key is the token of the account the form names (`AccountSid`): a tenant's own
//! subaccount's (stored sealed) when it is one, else the platform's. The form then
//! carries who signed it ([`Signer`]), and storing the request checks that the signer
//! is the account of what it touches (`nudge_db::inbound::store` for the number texted,
//! `nudge_db::callbacks::record` for the message reported on): a tenant holds its own
//! token and could otherwise sign requests about another tenant's numbers and messages.

use actix_web::{web, HttpRequest};

use crate::error::ListenerError;
use crate::startup::AppState;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// Whose token signed a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The platform's account.
    Platform,
    /// A tenant's own account (its id in `provider_accounts`).
    Account(uuid::Uuid),
}

impl Signer {
    /// The account as `sender_numbers.account_id` names it (`None`: the platform's).
    pub fn account_id(self) -> Option<uuid::Uuid> {
        match self {
            Signer::Platform => None,
            Signer::Account(id) => Some(id),
        }
    }
}

/// A form posted by the provider, signature checked; parameters in posted order.
#[derive(Debug)]
pub struct SignedForm {
    pub params: Vec<(String, String)>,
    pub signer: Signer,
}

impl SignedForm {
    /// Checks the signature of `body` as posted to `request`, with the token of the
    /// account the form names.
    pub async fn verify(
        state: &AppState,
        request: &HttpRequest,
        body: &web::Bytes,
    ) -> Result<Self, ListenerError> {
        let claimed = request
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or(ListenerError::BadSignature)?;
        let params = parse_params(body)?;
        let url = state.public_url(request);
        let account_sid = params
            .iter()
            .find(|(key, _)| key == "AccountSid")
            .map(|(_, value)| value.as_str());
        let tenant_account = match account_sid {
            Some(sid) => {
                let mut conn = state.conn().await?;
                nudge_db::provider_accounts::find_by_sid(&mut conn, sid).await?
            }
            None => None,
        };
        let (token, signer) = match &tenant_account {
            None => (
                secrecy::SecretString::from(state.auth_token()),
                Signer::Platform,
            ),
            Some(account) => {
                let opened = state
                    .keyring
                    .as_ref()
                    .map(|keyring| keyring.open(&account.auth_token_sealed, &account.account_sid));
                match opened {
                    Some(Ok(token)) => (
                        secrecy::SecretString::from(token),
                        Signer::Account(account.id),
                    ),
                    Some(Err(error)) => {
                        tracing::error!(account = %account.account_sid, %error, "webhook refused: the account's token does not open");
                        return Err(ListenerError::BadSignature);
                    }
                    None => {
                        tracing::error!(account = %account.account_sid, "webhook refused: a tenant's account, and SECRETS_KEYRING is not set");
                        return Err(ListenerError::BadSignature);
                    }
                }
            }
        };
        use secrecy::ExposeSecret;
        if !nudge_domain::twilio_signature::verify(token.expose_secret(), &url, &params, claimed) {
            tracing::warn!(%url, "webhook refused: bad signature");
            return Err(ListenerError::BadSignature);
        }
        Ok(Self { params, signer })
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The message's sid (`MessageSid`, or the older `SmsSid`), checked to be one.
    pub fn message_sid(&self) -> Result<&str, ListenerError> {
        self.get("MessageSid")
            .or_else(|| self.get("SmsSid"))
            .filter(|sid| is_message_sid(sid))
            .ok_or_else(|| {
                ListenerError::BadRequest(
                    "MessageSid must be a message sid (SM or MM and 32 hex digits)".into(),
                )
            })
    }

    /// The parameters as a JSON object (the last value of a repeated name).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.params
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }
}

/// `SM` (SMS) or `MM` (MMS) and 32 hex digits.
/// A form body's parameters, in order (a name may repeat); a body that is not a form
/// is refused as unsigned.
pub fn parse_params(body: &[u8]) -> Result<Vec<(String, String)>, ListenerError> {
    serde_urlencoded::from_bytes(body).map_err(|_| ListenerError::BadSignature)
}

fn is_message_sid(sid: &str) -> bool {
    sid.len() == 34
        && (sid.starts_with("SM") || sid.starts_with("MM"))
        && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::is_message_sid;

    #[test]
    fn message_sids_are_recognised() {
        assert!(is_message_sid("SM1234567890abcdef1234567890abcdef"));
        assert!(is_message_sid("MM1234567890ABCDEF1234567890ABCDEF"));
        assert!(!is_message_sid("CA1234567890abcdef1234567890abcdef"));
        assert!(!is_message_sid("SM1234"));
        assert!(!is_message_sid("SM1234567890abcdef1234567890abcdeg"));
    }
}
