//! The listener's routes: health checks and the provider's webhooks.

mod health;
mod inbound;
mod signed_form;
mod status;

use actix_web::web;

pub use signed_form::SignedForm;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/twilio/status", web::post().to(status::receive))
        .route("/twilio/inbound", web::post().to(inbound::receive));
}

/// Twilio's webhooks are outside input, and anyone can post to the listener: any body
/// is read as a form or refused, any form as a callback or a 400, never a panic; and a
/// signature holds for exactly the parameters it was made over.
#[cfg(test)]
mod arbitrary_forms {
    use proptest::prelude::*;

    use super::signed_form::{parse_params, Signer};
    use super::SignedForm;

    /// Form bodies: arbitrary bytes, and forms with Twilio's names and arbitrary values.
    fn bodies() -> impl Strategy<Value = Vec<u8>> {
        let names = prop::sample::select(vec![
            "MessageSid",
            "SmsSid",
            "MessageStatus",
            "SmsStatus",
            "ErrorCode",
            "From",
            "To",
            "Body",
            "NumMedia",
            "AccountSid",
        ]);
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            prop::collection::vec((names, any::<String>()), 0..12).prop_map(|pairs| {
                serde_urlencoded::to_string(&pairs)
                    .unwrap_or_default()
                    .into_bytes()
            }),
        ]
    }

    proptest! {
        #[test]
        fn any_body_is_a_callback_a_text_or_a_refusal(body in bodies()) {
            if let Ok(params) = parse_params(&body) {
                let form = SignedForm { params, signer: Signer::Platform };
                let _ = form.to_json();
                if let Ok(report) = super::status::read(&form) {
                    prop_assert!(report.sid.len() == 34);
                }
                if let Ok(sms) = super::inbound::read(&form) {
                    prop_assert!((0..=10).contains(&sms.num_media));
                    prop_assert!(!sms.to.is_empty());
                }
            }
        }

        #[test]
        fn a_signature_holds_for_its_parameters_only(
            pairs in prop::collection::vec((any::<String>(), any::<String>()), 1..8),
            tamper in any::<prop::sample::Index>(),
            extra in any::<String>(),
        ) {
            let url = "https://hooks.example.com/twilio/status";
            let token = "the-auth-token";
            let signature = nudge_domain::twilio_signature::sign(token, url, &pairs);
            prop_assert!(nudge_domain::twilio_signature::verify(token, url, &pairs, &signature));
            let mut changed = pairs.clone();
            let i = tamper.index(changed.len());
            changed[i].1.push_str(&extra);
            changed[i].1.push('x');
            prop_assert!(!nudge_domain::twilio_signature::verify(token, url, &changed, &signature));
            prop_assert!(!nudge_domain::twilio_signature::verify("another-token", url, &pairs, &signature));
        }
    }
}
