//! The OpenAPI 3.1 description of the API, generated from the handlers' annotations
//! (`#[utoipa::path]` beside each `#[get]`/`#[post]`) and the views' `ToSchema`
//! derives. `messaging-api openapi` prints it; `docs/openapi.yaml` is its output, and a
//! test fails when the two differ (`./nudge openapi` rewrites the file).
//!
//! What every `/v1` operation shares (the bearer key, `Idempotency-Key` on POST, the
//! rate-limit headers, the errors any request can meet) is added here in one place by
//! [`Conventions`], so that each handler only describes what is its own.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr, Required, Response, Type,
};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

use crate::error::{FieldError, Problem};
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Nudge merchant API",
        version = "1",
        description = "SMS for e-commerce merchants: shops, customers and their consent, templates, messages and campaigns, conversations and the bot, event webhooks, lead searches. Guides: docs/api.md; error types: docs/errors.md.",
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&Conventions),
    tags(
        (name = "messages", description = "Sending, the log and each message's timeline"),
        (name = "campaigns", description = "A template to a segment of a shop's customers"),
        (name = "conversations", description = "Customers' texts, the bot that answers them and the care queue"),
        (name = "webhooks", description = "Event webhooks to the merchant's endpoints, signed and retried"),
        (name = "leads", description = "Lead searches over LinkedIn profiles and the leads they find"),
        (name = "customers", description = "A shop's customers and their SMS consent"),
        (name = "templates", description = "Message bodies with `{{variables}}`"),
        (name = "shops", description = "Sender number (one of the tenant's), time zone, quiet hours, frequency cap"),
        (name = "api-keys", description = "The tenant's keys"),
        (name = "health", description = "For load balancers and orchestrators"),
        (name = "docs", description = "This description, as JSON and as a page"),
    ),
)]
struct Base;

/// The whole description: the routes as [`routes::configure`] mounts them, each with
/// its handler's operation.
pub fn document() -> Document {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(Base::openapi())
        .configure(routes::configure)
        .split_for_parts();
    // Modifiers run on the base before the routes are added; apply them to the whole.
    Conventions.modify(&mut doc);
    doc
}

/// The description as YAML, as written to `docs/openapi.yaml`.
pub fn yaml() -> anyhow::Result<String> {
    Ok(document().to_yaml()?)
}

/// Problem responses shared by many operations, by component name.
const SHARED: [(&str, &str); 8] = [
    ("BadRequest", "`malformed-json`: the body is not JSON"),
    (
        "Unauthorized",
        "`unauthorized`: missing, unknown or revoked API key",
    ),
    (
        "NotFound",
        "`not-found`: no such resource in this tenant (another tenant's ids included)",
    ),
    (
        "UnsupportedMediaType",
        "`unsupported-media-type`: the body must be `application/json`",
    ),
    (
        "Conflict",
        "`idempotency-key-in-flight`: a request with this Idempotency-Key is in progress",
    ),
    (
        "Invalid",
        "`validation` (with `errors`, one per field), or `idempotency-key-reused`",
    ),
    (
        "RateLimited",
        "`rate-limited`: too many requests with this key this minute",
    ),
    (
        "Unavailable",
        "`unavailable`: a dependency is down; retry after `Retry-After`",
    ),
];

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer nudge_…`"))
                    .build(),
            ),
        );
        for (name, description) in SHARED {
            let mut response = problem_response(description);
            if matches!(name, "RateLimited" | "Unavailable") {
                response
                    .headers
                    .insert("Retry-After".into(), integer_header("Seconds to wait"));
            }
            if name == "RateLimited" {
                add_rate_limit_headers(&mut response);
            }
            components.responses.insert(name.into(), RefOr::T(response));
        }
        components.responses.insert(
            "Internal".into(),
            RefOr::T(problem_response(
                "`internal`: a bug on our side; it has been logged",
            )),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            let versioned = path.starts_with("/v1/");
            for (method, operation) in [
                ("get", item.get.as_mut()),
                ("post", item.post.as_mut()),
                ("patch", item.patch.as_mut()),
                ("delete", item.delete.as_mut()),
            ] {
                let Some(operation) = operation else { continue };
                operation.operation_id = Some(operation_id(method, path));
                if versioned {
                    versioned_conventions(operation, method, path);
                }
                share(operation, "500", "Internal");
            }
        }
        doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "api_key",
            Vec::<String>::new(),
        )]);
    }
}

/// `post /v1/campaigns/{id}/cancel` -> `post_campaigns_id_cancel`: stable, readable
/// names for generated clients.
fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<&str> = path
        .trim_start_matches("/v1")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    format!("{method}_{}", words.join("_"))
}

fn versioned_conventions(operation: &mut Operation, method: &str, path: &str) {
    let has_body = operation.request_body.is_some();
    if method == "post" {
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        parameters.push(
            ParameterBuilder::new()
                .name(crate::idempotency::HEADER)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "Makes a retry safe: the same key and body within 24 hours replay the first answer (docs/idempotency.md)",
                ))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).max_length(Some(255))))
                .build(),
        );
        share(operation, "409", "Conflict");
        share(operation, "422", "Invalid");
    }
    if has_body {
        share(operation, "400", "BadRequest");
        share(operation, "415", "UnsupportedMediaType");
        share(operation, "422", "Invalid");
    }
    let has_query = operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Query);
    if has_query {
        share(operation, "422", "Invalid");
    }
    if path.contains("{id}") {
        share(operation, "404", "NotFound");
    }
    share(operation, "401", "Unauthorized");
    share(operation, "429", "RateLimited");
    share(operation, "503", "Unavailable");
    // Every answer that got past authentication carries the rate-limit headers.
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (RefOr::T(response), true) = (response, status.starts_with('2')) {
            add_rate_limit_headers(response);
            if method == "post" {
                response.headers.insert(
                    crate::idempotency::REPLAYED_HEADER.into(),
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("`true` when this answer is the replay of an earlier request with the same Idempotency-Key"))
                        .build(),
                );
            }
        }
    }
}

/// Adds a shared response unless the operation describes that status itself.
fn share(operation: &mut Operation, status: &str, component: &str) {
    operation
        .responses
        .responses
        .entry(status.into())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(component)));
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer))
        .description(Some(description))
        .build()
}

/// draft-ietf-httpapi-ratelimit-headers, as `crate::limits` sends them.
fn add_rate_limit_headers(response: &mut Response) {
    for (name, description) in [
        (
            "RateLimit-Limit",
            "Requests allowed per minute for this key",
        ),
        ("RateLimit-Remaining", "Requests left in this minute"),
        ("RateLimit-Reset", "Seconds until the window resets"),
    ] {
        response
            .headers
            .insert(name.into(), integer_header(description));
    }
    response.headers.insert(
        "RateLimit-Policy".into(),
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("The policy, e.g. `600;w=60`"))
            .build(),
    );
}
