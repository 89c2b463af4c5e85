//! `/v1/bot-rules`: a shop's help-desk bot. Each rule matches customers' texts by
//! keywords (the whole text is the word) or intent examples (phrases whose meaning a
//! text must carry, whatever its wording), and answers with a static reply or with the
//! merchant's fulfilment endpoint (signed calls; its secret is shown once, at creation).

use actix_web::{delete, get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use nudge_db::models::BotRule;
use nudge_domain::{intent, BotRuleId, ComplianceKeywords, ShopId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::error::{ApiError, FieldError, Problem};
use crate::extract::{check, JsonBody, PageQuery, PathId};
use crate::startup::AppState;
use crate::views::ListView;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(show)
        .service(remove);
}

#[derive(Serialize, ToSchema)]
pub struct BotRuleView {
    pub id: Uuid,
    pub shop_id: Uuid,
    pub name: String,
    pub keywords: Vec<String>,
    pub examples: Vec<String>,
    pub reply: Option<String>,
    pub fulfilment_url: Option<String>,
    pub priority: i32,
    /// Only in the creation's answer, and only for fulfilment rules: the `whsec_`
    /// secret the fulfilment calls are signed with. Store it; it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfilment_secret: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl BotRuleView {
    fn new(rule: BotRule, show_secret: bool) -> Self {
        BotRuleView {
            id: rule.id,
            shop_id: rule.shop_id,
            name: rule.name,
            keywords: serde_json::from_value(rule.keywords).unwrap_or_default(),
            examples: serde_json::from_value(rule.examples).unwrap_or_default(),
            reply: rule.reply,
            fulfilment_url: rule.fulfilment_url,
            priority: rule.priority,
            fulfilment_secret: rule.fulfilment_secret.filter(|_| show_secret),
            created_at: rule.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBotRule {
    shop_id: String,
    /// Unique per shop; fulfilment calls carry it as `intent`.
    name: String,
    /// Whole-text keywords, e.g. `["HOURS"]` (case and trailing punctuation ignored).
    #[serde(default)]
    keywords: Vec<String>,
    /// Intent examples, e.g. `["where is my order"]`.
    #[serde(default)]
    examples: Vec<String>,
    /// A static answer (1 to 1,600 characters)...
    reply: Option<String>,
    /// ...or the merchant's endpoint that computes one (docs/conversations.md).
    fulfilment_url: Option<String>,
    /// Lower first when two rules match equally well (default 100).
    #[serde(default = "default_priority")]
    priority: i32,
}

fn default_priority() -> i32 {
    100
}

#[utoipa::path(
    tag = "conversations",
    summary = "Create a bot rule",
    request_body = CreateBotRule,
    responses(
        (status = 201, description = "The rule (with its fulfilment secret, once)", body = BotRuleView),
        (status = 409, description = "`conflict`: the shop has a rule with this name", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/bot-rules")]
async fn create(
    auth: Authenticated,
    state: web::Data<AppState>,
    JsonBody(body): JsonBody<CreateBotRule>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let shop_id = body.shop_id.parse::<ShopId>().ok();
    if shop_id.is_none() {
        errors.push(FieldError::new("shop_id", "must be a shop id"));
    }
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    let keywords = check_keywords(&body.keywords, &mut errors);
    let examples = check_examples(&body.examples, &mut errors);
    if keywords.is_empty() && examples.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "keywords",
            "give at least one keyword or example",
        ));
    }
    let (reply, fulfilment_url) = match (body.reply, body.fulfilment_url) {
        (Some(reply), None) => {
            let reply = reply.trim().to_owned();
            if reply.is_empty() || reply.chars().count() > 1_600 {
                errors.push(FieldError::new("reply", "must be 1 to 1600 characters"));
            }
            (Some(reply), None)
        }
        (None, Some(url)) => match state.webhook_policy.check_url(&url) {
            Ok(url) => (None, Some(url.to_string())),
            Err(refusal) => {
                errors.push(FieldError::new("fulfilment_url", refusal.to_string()));
                (None, None)
            }
        },
        _ => {
            errors.push(FieldError::new(
                "reply",
                "give either reply or fulfilment_url",
            ));
            (None, None)
        }
    };
    if !(0..=10_000).contains(&body.priority) {
        errors.push(FieldError::new("priority", "must be from 0 to 10000"));
    }
    check(errors)?;
    let shop_id = shop_id.ok_or_else(|| ApiError::invalid("shop_id", "must be a shop id"))?;
    let mut conn = state.conn().await?;
    nudge_db::shops::find(&conn, auth.tenant, shop_id)
        .await?
        .ok_or_else(|| ApiError::invalid("shop_id", "no such shop"))?;
    let now = Utc::now();
    let rule = BotRule {
        id: BotRuleId::new().as_uuid(),
        tenant_id: auth.tenant.as_uuid(),
        shop_id: shop_id.as_uuid(),
        name,
        keywords: serde_json::json!(keywords),
        examples: serde_json::json!(examples),
        reply,
        fulfilment_secret: fulfilment_url
            .as_ref()
            .map(|_| nudge_domain::standard_webhooks::new_secret()),
        fulfilment_url,
        priority: body.priority,
        created_at: now,
        updated_at: now,
    };
    let rule = nudge_db::bot_rules::insert(&mut conn, &rule)
        .await
        .map_err(|error| match error {
            nudge_db::DbError::Conflict(_) => {
                ApiError::Conflict("the shop already has a rule with this name".into())
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Created().json(BotRuleView::new(rule, true)))
}

/// Keywords as matched (upper case); a compliance word is refused: STOP, START and HELP
/// are answered before the bot, so such a rule could never fire.
fn check_keywords(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let compliance = ComplianceKeywords::default();
    let mut out = Vec::new();
    for word in raw {
        let keyword = intent::normalise_keyword(word);
        if keyword.is_empty() || keyword.chars().count() > 30 {
            errors.push(FieldError::new(
                "keywords",
                "each must be 1 to 30 characters",
            ));
        } else if compliance.classify(&keyword).is_some() {
            errors.push(FieldError::new(
                "keywords",
                format!("'{keyword}' is a compliance keyword, answered before the bot"),
            ));
        } else if !out.contains(&keyword) {
            out.push(keyword);
        }
    }
    if out.len() > 50 {
        errors.push(FieldError::new("keywords", "at most 50"));
    }
    out
}

fn check_examples(raw: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut out = Vec::new();
    for example in raw {
        let example = example.trim().to_owned();
        if example.is_empty() || example.chars().count() > 200 {
            errors.push(FieldError::new(
                "examples",
                "each must be 1 to 200 characters",
            ));
        } else if intent::concepts(&example).is_empty() {
            errors.push(FieldError::new(
                "examples",
                format!("'{example}' has only filler words and would match nothing"),
            ));
        } else {
            out.push(example);
        }
    }
    if out.len() > 50 {
        errors.push(FieldError::new("examples", "at most 50"));
    }
    out
}

#[derive(Deserialize)]
struct ListQuery {
    shop_id: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

#[utoipa::path(
    tag = "conversations",
    summary = "List bot rules",
    params(("shop_id" = Option<Uuid>, Query, description = "Only this shop's rules"), PageQuery),
    responses((status = 200, description = "A page of rules, newest first", body = ListView<BotRuleView>))
)]
#[get("/bot-rules")]
async fn list(
    auth: Authenticated,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let shop = query.shop_id.as_deref().and_then(|raw| {
        raw.parse::<ShopId>()
            .map_err(|_| errors.push(FieldError::new("shop_id", "must be a shop id")))
            .ok()
    });
    let page = query.page.to_request(&mut errors);
    check(errors)?;
    let mut conn = state.conn().await?;
    let page = nudge_db::bot_rules::list(&mut conn, auth.tenant, shop, page).await?;
    Ok(HttpResponse::Ok().json(ListView::from_page(page, |r| BotRuleView::new(r, false))))
}

#[utoipa::path(
    tag = "conversations",
    summary = "Show a bot rule",
    params(("id" = Uuid, Path, description = "The rule's id")),
    responses((status = 200, description = "The rule", body = BotRuleView))
)]
#[get("/bot-rules/{id}")]
async fn show(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<BotRuleId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    let rule = nudge_db::bot_rules::find(&mut conn, auth.tenant, id)
        .await?
        .ok_or(ApiError::NotFound("bot rule"))?;
    Ok(HttpResponse::Ok().json(BotRuleView::new(rule, false)))
}

#[utoipa::path(
    tag = "conversations",
    summary = "Delete a bot rule",
    params(("id" = Uuid, Path, description = "The rule's id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/bot-rules/{id}")]
async fn remove(
    auth: Authenticated,
    state: web::Data<AppState>,
    PathId(id): PathId<BotRuleId>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.conn().await?;
    if nudge_db::bot_rules::delete(&mut conn, auth.tenant, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("bot rule"))
    }
}
