//! The Twilio-shaped endpoints: create and fetch a Message, plus `/sandbox/messages`.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use nudge_domain::PhoneNumber;
use rand::RngCore;
use serde_json::{json, Value};

use crate::store::{SentMessage, Store};
use crate::Credentials;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_message)
        .service(list_messages)
        .service(fetch_message)
        .service(list_sent)
        .service(clear_sent)
        .service(healthz);
}

/// Twilio's limit on a message body.
const MAX_BODY_CHARS: usize = 1_600;

/// A Twilio error: HTTP status, code and message, in Twilio's body shape.
struct TwilioError {
    status: u16,
    code: u32,
    message: String,
}

impl TwilioError {
    fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn response(&self) -> HttpResponse {
        let status = actix_web::http::StatusCode::from_u16(self.status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
        HttpResponse::build(status).json(json!({
            "code": self.code,
            "message": self.message,
            "more_info": format!("https://www.twilio.com/docs/errors/{}", self.code),
            "status": self.status,
        }))
    }
}

/// Twilio's magic test numbers (test credentials), plus two of the sandbox's own for
/// exercising retries: they fail the way the real API does for these inputs.
fn magic_to(to: &str) -> Option<TwilioError> {
    Some(match to {
        "+15005550001" => TwilioError::new(400, 21211, format!("Invalid 'To' Phone Number: {to}")),
        "+15005550002" => TwilioError::new(400, 21612, "The 'To' phone number is not currently reachable via SMS."),
        "+15005550003" => TwilioError::new(
            400,
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
        ),
        "+15005550004" => TwilioError::new(400, 21610, "Attempt to send to unsubscribed recipient"),
        "+15005550009" => TwilioError::new(400, 21614, format!("'To' number {to} is not a valid mobile number")),
        // Sandbox-only: capacity and outage, to exercise the sender's retries.
        "+15005559429" => TwilioError::new(429, 20429, "Too Many Requests"),
        "+15005559500" => TwilioError::new(500, 20500, "Internal Server Error"),
        _ => return None,
    })
}

fn magic_from(from: &str) -> Option<TwilioError> {
    Some(match from {
        "+15005550001" => TwilioError::new(400, 21212, format!("The 'From' number {from} is not a valid phone number.")),
        "+15005550007" => TwilioError::new(
            400,
            21606,
            "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
        ),
        "+15005550008" => TwilioError::new(
            400,
            21611,
            "This 'From' number has exceeded the maximum number of queued messages.",
        ),
        _ => return None,
    })
}

/// Basic auth with the account SID as user and the auth token as password, for the
/// account in the path.
fn authenticate(
    req: &HttpRequest,
    credentials: &Credentials,
    path_account: &str,
) -> Result<(), TwilioError> {
    let unauthorized = || TwilioError::new(401, 20003, "Authenticate");
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(unauthorized)?;
    let encoded = value.strip_prefix("Basic ").ok_or_else(unauthorized)?;
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthorized())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthorized())?;
    let (user, password) = decoded.split_once(':').ok_or_else(unauthorized)?;
    if credentials.token_of(user) != Some(password) {
        return Err(unauthorized());
    }
    if path_account != user {
        return Err(TwilioError::new(
            404,
            20404,
            "The requested resource was not found",
        ));
    }
    Ok(())
}

pub(crate) fn new_sid() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("SM{}", hex::encode(bytes))
}

/// The Message resource as Twilio renders it (every property of
/// `api.v2010.account.message`, dates in RFC 2822).
fn message_resource(message: &SentMessage) -> Value {
    let uri = format!(
        "/2010-04-01/Accounts/{}/Messages/{}.json",
        message.account_sid, message.sid
    );
    let date = message.date_created.to_rfc2822();
    json!({
        "account_sid": message.account_sid,
        "api_version": "2010-04-01",
        "body": message.body,
        "date_created": date,
        "date_sent": null,
        "date_updated": date,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": message.from,
        "messaging_service_sid": null,
        "num_media": message.media_urls.len().to_string(),
        "num_segments": message.num_segments.to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {
            "media": format!("/2010-04-01/Accounts/{}/Messages/{}/Media.json", message.account_sid, message.sid)
        },
        "to": message.to,
        "uri": uri,
    })
}

fn validate(
    form: &[(String, String)],
) -> Result<(String, String, String, Option<String>), TwilioError> {
    let get = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    };
    let to = get("To")
        .ok_or_else(|| TwilioError::new(400, 21604, "A 'To' phone number is required."))?;
    let from = get("From")
        .ok_or_else(|| TwilioError::new(400, 21603, "A 'From' phone number is required."))?;
    let body =
        get("Body").ok_or_else(|| TwilioError::new(400, 21602, "Message body is required."))?;
    if PhoneNumber::parse(&to).map(|p| p.to_string()).as_deref() != Ok(to.as_str()) {
        return Err(TwilioError::new(
            400,
            21211,
            format!("Invalid 'To' Phone Number: {to}"),
        ));
    }
    if let Some(error) = magic_to(&to) {
        return Err(error);
    }
    if PhoneNumber::parse(&from).map(|p| p.to_string()).as_deref() != Ok(from.as_str()) {
        return Err(TwilioError::new(
            400,
            21212,
            format!("The 'From' number {from} is not a valid phone number."),
        ));
    }
    if let Some(error) = magic_from(&from) {
        return Err(error);
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(TwilioError::new(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    Ok((to, from, body, get("StatusCallback")))
}

#[post("/2010-04-01/Accounts/{account_sid}/Messages.json")]
async fn create_message(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    store: web::Data<Store>,
    credentials: web::Data<Credentials>,
    http: web::Data<reqwest::Client>,
    timing: web::Data<crate::callbacks::Timing>,
) -> HttpResponse {
    if let Err(error) = authenticate(&req, &credentials, &path) {
        return error.response();
    }
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return TwilioError::new(400, 20001, "Invalid form body").response(),
    };
    let (to, from, text, status_callback) = match validate(&form) {
        Ok(fields) => fields,
        Err(error) => return error.response(),
    };
    let message = SentMessage {
        sid: new_sid(),
        account_sid: path.into_inner(),
        to,
        from,
        num_segments: nudge_domain::count_segments(&text).segments,
        body: text,
        status: "queued".into(),
        status_callback,
        media_urls: form
            .iter()
            .filter(|(name, _)| name == "MediaUrl")
            .map(|(_, url)| url.clone())
            .collect(),
        date_created: Utc::now(),
    };
    let resource = message_resource(&message);
    store.add(message.clone());
    // Signed as Twilio signs: with the token of the account the message is in.
    let token = credentials
        .token_of(&message.account_sid)
        .unwrap_or(&credentials.auth_token)
        .to_owned();
    crate::callbacks::spawn(http.get_ref().clone(), store, token, **timing, message);
    let created = HttpResponse::Created().json(resource);
    let fault = req
        .app_data::<web::Data<crate::faults::Faults>>()
        .and_then(|faults| faults.next());
    match fault {
        Some(fault) => crate::faults::answer(fault, created).await,
        None => created,
    }
}

#[get("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json")]
async fn fetch_message(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    store: web::Data<Store>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    let (account_sid, sid) = path.into_inner();
    if let Err(error) = authenticate(&req, &credentials, &account_sid) {
        return error.response();
    }
    match store.find(&account_sid, &sid) {
        Some(message) => HttpResponse::Ok().json(message_resource(&message)),
        None => TwilioError::new(404, 20404, "The requested resource was not found").response(),
    }
}

/// `ListMessage`'s query: filters and paging (Twilio's names).
#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "To")]
    to: Option<String>,
    #[serde(rename = "From")]
    from: Option<String>,
    #[serde(rename = "PageSize")]
    page_size: Option<usize>,
    #[serde(rename = "Page")]
    page: Option<usize>,
}

/// Twilio's list of Messages: newest first, filtered by `To` and `From`, in pages of
/// `PageSize` (default 50, at most 1,000) linked by `next_page_uri`.
#[get("/2010-04-01/Accounts/{account_sid}/Messages.json")]
async fn list_messages(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
    store: web::Data<Store>,
    credentials: web::Data<Credentials>,
) -> HttpResponse {
    let account_sid = path.into_inner();
    if let Err(error) = authenticate(&req, &credentials, &account_sid) {
        return error.response();
    }
    let page_size = query.page_size.unwrap_or(50);
    if !(1..=1_000).contains(&page_size) {
        return TwilioError::new(400, 20001, "PageSize must be between 1 and 1000").response();
    }
    let page = query.page.unwrap_or(0);
    let mut matching: Vec<SentMessage> = store
        .all()
        .into_iter()
        .filter(|m| m.account_sid == account_sid)
        .filter(|m| query.to.as_ref().is_none_or(|to| &m.to == to))
        .filter(|m| query.from.as_ref().is_none_or(|from| &m.from == from))
        .collect();
    matching.reverse();
    let start = page.saturating_mul(page_size);
    let slice: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(page_size)
        .map(message_resource)
        .collect();
    let base = format!("/2010-04-01/Accounts/{account_sid}/Messages.json");
    let filters: Vec<(&str, &String)> = [("To", &query.to), ("From", &query.from)]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| (name, v)))
        .collect();
    let filters = match serde_urlencoded::to_string(&filters) {
        Ok(encoded) if !encoded.is_empty() => format!("&{encoded}"),
        _ => String::new(),
    };
    let page_uri = |page: usize| format!("{base}?PageSize={page_size}&Page={page}{filters}");
    let more = start + slice.len() < matching.len();
    HttpResponse::Ok().json(json!({
        "messages": slice,
        "end": (start + slice.len()).saturating_sub(1),
        "first_page_uri": page_uri(0),
        "next_page_uri": if more { Some(page_uri(page + 1)) } else { None },
        "page": page,
        "page_size": page_size,
        "previous_page_uri": if page > 0 { Some(page_uri(page - 1)) } else { None },
        "start": start,
        "uri": page_uri(page),
    }))
}

/// Everything the sandbox accepted, oldest first.
#[get("/sandbox/messages")]
async fn list_sent(store: web::Data<Store>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "messages": store.all() }))
}

#[delete("/sandbox/messages")]
async fn clear_sent(store: web::Data<Store>) -> HttpResponse {
    store.clear();
    HttpResponse::NoContent().finish()
}

#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
