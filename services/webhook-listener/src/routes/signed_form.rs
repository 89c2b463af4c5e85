//! The one way into a webhook handler: the body as a form whose Twilio signature has
//! been checked. A handler that takes a [`SignedForm`] cannot see an unsigned request.

use actix_web::{web, HttpRequest};

use crate::error::ListenerError;
use crate::startup::AppState;

pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// A form posted by the provider, signature checked; parameters in posted order.
#[derive(Debug)]
pub struct SignedForm {
    pub params: Vec<(String, String)>,
}

impl SignedForm {
    /// Checks the signature of `body` as posted to `request`.
    pub fn verify(
        state: &AppState,
        request: &HttpRequest,
        body: &web::Bytes,
    ) -> Result<Self, ListenerError> {
        let claimed = request
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or(ListenerError::BadSignature)?;
        let params: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|_| ListenerError::BadSignature)?;
        let url = state.public_url(request);
        if !nudge_domain::twilio_signature::verify(state.auth_token(), &url, &params, claimed) {
            tracing::warn!(%url, "webhook refused: bad signature");
            return Err(ListenerError::BadSignature);
        }
        Ok(Self { params })
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
