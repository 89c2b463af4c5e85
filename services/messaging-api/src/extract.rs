//! Turning raw requests into typed values, with errors a client can act on: a body of
//! the wrong shape is a 422 naming the field (not actix's plain-text 400), a cursor or
//! an id that does not parse is a 422 or a 404.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nudge_db::page::{DEFAULT_LIMIT, MAX_LIMIT};
use nudge_db::PageRequest;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// Largest JSON body accepted (a message with its data is far smaller).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body deserialized into `T`, or a problem that names the offending field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().ends_with("json"));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if is_json == Some(false) {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = bytes
                .await
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            if bytes.len() > MAX_BODY_BYTES {
                return Err(ApiError::MalformedJson(format!(
                    "body is larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// Parses JSON, telling syntax errors (400) from shape errors (422 with the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(inner.to_string());
        }
        let message = strip_position(&inner.to_string());
        ApiError::Validation(vec![shape_error(&path, &message)])
    })
}

/// serde says "missing field `x`" at the parent's path; name the field itself.
fn shape_error(path: &str, message: &str) -> FieldError {
    let parent = if path == "." { "" } else { path };
    for prefix in ["missing field `", "unknown field `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let name = rest.split('`').next().unwrap_or_default();
            // For an unknown field the path already ends at the field itself.
            let field = if parent == name || parent.ends_with(&format!(".{name}")) {
                parent.to_owned()
            } else if parent.is_empty() {
                name.to_owned()
            } else {
                format!("{parent}.{name}")
            };
            let detail = if prefix.starts_with("missing") {
                "is required".to_owned()
            } else {
                "is not a known field".to_owned()
            };
            return FieldError::new(field, detail);
        }
    }
    let field = if parent.is_empty() { "body" } else { parent };
    FieldError::new(field, message)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// `?limit=&cursor=` of every list endpoint.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page asked for, or a 422 naming `limit` / `cursor`.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let mut errors = Vec::new();
        let page = self.to_request(&mut errors);
        check(errors)?;
        Ok(page)
    }

    /// The page asked for; problems join `errors` (for handlers with other filters).
    pub fn to_request(&self, errors: &mut Vec<FieldError>) -> PageRequest {
        let limit = match self.limit.as_deref().map(str::parse::<i64>) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            }
        };
        let before = match self.cursor.as_deref().map(decode_cursor) {
            None => None,
            Some(Some(id)) => Some(id),
            Some(None) => {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                ));
                None
            }
        };
        PageRequest { limit, before }
    }
}

pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// The typed id of a route's `{id}`: `PathId(id): PathId<TemplateId>`. An id that does
/// not parse cannot exist, so it is a 404 naming the resource, like any unknown id.
pub struct PathId<T>(pub T);

/// What a path's id names, for its 404.
pub trait Resource: std::str::FromStr {
    const NAME: &'static str;
}

macro_rules! resources {
    ($($id:ty => $name:literal),* $(,)?) => {
        $(impl Resource for $id {
            const NAME: &'static str = $name;
        })*
    };
}

resources! {
    nudge_domain::ApiKeyId => "API key",
    nudge_domain::BotRuleId => "bot rule",
    nudge_domain::CampaignId => "campaign",
    nudge_domain::ConversationId => "conversation",
    nudge_domain::CustomerId => "customer",
    nudge_domain::LeadId => "lead",
    nudge_domain::LeadSearchId => "lead search",
    nudge_domain::MessageId => "message",
    nudge_domain::ShopId => "shop",
    nudge_domain::TemplateId => "template",
    nudge_domain::WebhookEndpointId => "webhook endpoint",
}

impl<T: Resource> FromRequest for PathId<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.match_info()
                .get("id")
                .and_then(|raw| raw.parse().ok())
                .map(PathId)
                .ok_or(ApiError::NotFound(T::NAME)),
        )
    }
}

/// For a PATCH field that may be set to `null`: tells `null` (`Some(None)`) from a
/// field left out (`None`, with `#[serde(default, deserialize_with = "present")]`).
pub fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A time field that must lie in a window ahead of `now` (`expires_at`, `send_at`).
pub use nudge_usecases::fields::TimeAhead;

/// Fails with every collected field error, if any.
pub fn check(errors: Vec<FieldError>) -> Result<(), ApiError> {
    Ok(nudge_usecases::check(errors)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Sample {
        name: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "fields exist to be deserialized")]
    struct Nested {
        count: u32,
    }

    fn field_errors(error: ApiError) -> Vec<FieldError> {
        match error {
            ApiError::Validation(errors) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_missing_unknown_and_mistyped_fields() {
        let missing = parse_json::<Sample>(br#"{}"#).unwrap_err();
        assert_eq!(
            field_errors(missing),
            vec![FieldError::new("name", "is required")]
        );

        let unknown = parse_json::<Sample>(br#"{"name":"a","extra":1}"#).unwrap_err();
        assert_eq!(field_errors(unknown)[0].field, "extra");

        let mistyped = parse_json::<Sample>(br#"{"name":"a","nested":{"count":"x"}}"#).unwrap_err();
        let errors = field_errors(mistyped);
        assert_eq!(errors[0].field, "nested.count");
        assert!(
            errors[0].detail.starts_with("invalid type: string"),
            "{errors:?}"
        );
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(
            parse_json::<Sample>(b"{\"name\": "),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Uuid::now_v7();
        let mut errors = Vec::new();
        let query = PageQuery {
            limit: Some("10".into()),
            cursor: Some(encode_cursor(id)),
        };
        assert_eq!(
            query.to_request(&mut errors),
            PageRequest {
                limit: 10,
                before: Some(id)
            }
        );
        assert!(errors.is_empty());

        let bad = PageQuery {
            limit: Some("0".into()),
            cursor: Some("!!".into()),
        };
        bad.to_request(&mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["limit", "cursor"]);
    }
}
