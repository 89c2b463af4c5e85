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
