//! `POST /sandbox/inbound`: makes a customer text one of our numbers. The sandbox posts
//! the SMS to the number's inbound webhook (`SANDBOX_INBOUND_URL`, Twilio's "A message
//! comes in" URL) as Twilio does: the same form fields, signed with the account's auth
//! token over that URL. Answers with the new message's sid and what the webhook said.

use actix_web::{post, web, HttpResponse};
use nudge_domain::PhoneNumber;
use serde::Deserialize;
use serde_json::json;

use crate::{Credentials, InboundTarget};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectInbound {
    /// The customer's number (E.164).
    from: String,
    /// Our number it is sent to.
    to: String,
    body: String,
    /// The account the number is in (a subaccount the sandbox knows); default the
    /// platform's. Its token signs the webhook.
    account_sid: Option<String>,
}

#[post("/sandbox/inbound")]
pub async fn inject(
    http: web::Data<reqwest::Client>,
    credentials: web::Data<Credentials>,
    target: web::Data<InboundTarget>,
    request: web::Json<InjectInbound>,
) -> HttpResponse {
    let Some(url) = target.url.as_deref() else {
        return HttpResponse::BadRequest().json(
            json!({ "message": "SANDBOX_INBOUND_URL is not set: nowhere to post inbound SMS" }),
        );
    };
    let (Ok(from), Ok(to)) = (
        PhoneNumber::parse(&request.from),
        PhoneNumber::parse(&request.to),
    ) else {
        return HttpResponse::BadRequest()
            .json(json!({ "message": "from and to must be E.164 numbers" }));
    };
    let account_sid = request
        .account_sid
        .clone()
        .unwrap_or_else(|| credentials.account_sid.clone());
    let Some(token) = credentials.token_of(&account_sid).map(str::to_owned) else {
        return HttpResponse::BadRequest()
            .json(json!({ "message": format!("the sandbox knows no account {account_sid}") }));
    };
    let sid = crate::twilio::new_sid();
    let params: Vec<(String, String)> = [
        ("AccountSid", account_sid.as_str()),
        ("ApiVersion", "2010-04-01"),
        ("Body", request.body.as_str()),
        ("From", from.as_str()),
        ("MessageSid", sid.as_str()),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsMessageSid", sid.as_str()),
        ("SmsSid", sid.as_str()),
        ("SmsStatus", "received"),
        ("To", to.as_str()),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = nudge_domain::twilio_signature::sign(&token, url, &params);
    let posted = http
        .post(url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await;
    match posted {
        Ok(response) => HttpResponse::Ok().json(json!({
            "message_sid": sid,
            "webhook_status": response.status().as_u16(),
        })),
        Err(error) => HttpResponse::BadGateway().json(json!({
            "message_sid": sid,
            "message": format!("the inbound webhook could not be reached: {error}"),
        })),
    }
}
