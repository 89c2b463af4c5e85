//! Templates in the console: the list, creating and editing (owners and marketers),
//! deleting, and a live preview of what a template sends: the text rendered with sample
//! values, its characters, its encoding (GSM-7, or UCS-2 and the characters that force
//! it) and its segment count, with and without smart encoding. The rules of names and
//! bodies are the API's (`routes::templates`).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use chrono::Utc;
use nudge_db::models::{TemplateChanges, TemplateRow};
use nudge_db::{DbError, PageRequest};
use nudge_domain::{
    count_segments, segments::gsm7_units, smart_encode, MessageCategory, SmsEncoding, Template,
    TemplateId,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ConsoleError;
use super::pages::{
    html, Nav, Notice, PreviewFragment, TemplateFormPage, TemplateRowView, TemplatesPage,
};
use super::roles::Permission;
use super::session::{check_session_form, CsrfForm, SignedIn};
use crate::ConsoleState;
use nudge_usecases::fields::{check_template_body, check_template_name};
use nudge_usecases::FieldError as ApiFieldError;

/// Templates listed (the newest).
const LISTED: i64 = 200;

fn encoding_label(encoding: SmsEncoding) -> &'static str {
    match encoding {
        SmsEncoding::Gsm7 => "GSM-7",
        SmsEncoding::Ucs2 => "UCS-2 (Unicode)",
    }
}

/// `name: value` (or `name=value`) lines of sample values.
fn parse_samples(samples: &str) -> Vec<(String, String)> {
    samples
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':').or_else(|| line.split_once('='))?;
            let name = name.trim();
            (!name.is_empty()).then(|| (name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Puts `value` at the dotted `name` of `data` (`customer.name` -> `{"customer": {"name": ..}}`).
fn insert_dotted(data: &mut Map<String, Value>, name: &str, value: String) {
    let mut parts = name.split('.').peekable();
    let mut node = data;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            node.insert(part.to_owned(), Value::String(value));
            return;
        }
        let child = node
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !child.is_object() {
            *child = Value::Object(Map::new());
        }
        let Value::Object(next) = child else { return };
        node = next;
    }
}

/// What a template sends, for the preview.
#[derive(Debug, PartialEq, Eq)]
pub struct Preview {
    pub rendered: String,
    /// Variables without a sample value (shown as written).
    pub missing: Vec<String>,
    /// Why the body is not a template, if it is not.
    pub error: Option<String>,
    pub chars: usize,
    pub encoding: &'static str,
    pub segments: usize,
    /// Characters that GSM-7 cannot carry (they make it UCS-2), the first few.
    pub unicode_chars: Vec<char>,
    /// Encoding and segments after smart encoding, when it changes anything.
    pub smart: Option<(&'static str, usize)>,
}

pub fn preview(body: &str, samples: &str) -> Preview {
    let (rendered, missing, error) = match Template::parse(body) {
        Err(e) => (body.to_owned(), Vec::new(), Some(e.to_string())),
        Ok(template) => {
            let given = parse_samples(samples);
            let mut data = Map::new();
            let mut missing = Vec::new();
            for name in template.variables() {
                match given.iter().find(|(n, _)| n == name) {
                    Some((_, value)) => insert_dotted(&mut data, name, value.clone()),
                    None => {
                        missing.push(name.to_owned());
                        insert_dotted(&mut data, name, format!("{{{{{name}}}}}"));
                    }
                }
            }
            match template.render(&data) {
                Ok(text) => (text, missing, None),
                Err(e) => (body.to_owned(), missing, Some(e.to_string())),
            }
        }
    };
    let count = count_segments(&rendered);
    let mut unicode_chars: Vec<char> = Vec::new();
    for c in rendered.chars().filter(|c| gsm7_units(*c).is_none()) {
        if !unicode_chars.contains(&c) && unicode_chars.len() < 5 {
            unicode_chars.push(c);
        }
    }
    let smart = match smart_encode(&rendered) {
        std::borrow::Cow::Owned(encoded) => {
            let after = count_segments(&encoded);
            Some((encoding_label(after.encoding), after.segments))
        }
        std::borrow::Cow::Borrowed(_) => None,
    };
    Preview {
        chars: rendered.chars().count(),
        encoding: encoding_label(count.encoding),
        segments: count.segments,
        rendered,
        missing,
        error,
        unicode_chars,
        smart,
    }
}

fn fragment(preview: Preview) -> PreviewFragment {
    PreviewFragment {
        unicode_chars: preview
            .unicode_chars
            .iter()
            .map(|c| format!("“{c}”"))
            .collect::<Vec<_>>()
            .join(", "),
        missing: preview.missing.join(", "),
        preview,
    }
}

/// Sample lines for a template's variables (`customer.name: ` ...), to fill in.
fn sample_lines(body: &str) -> String {
    Template::parse(body)
        .map(|t| {
            t.variables()
                .iter()
                .map(|name| format!("{name}: "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

pub(super) async fn list(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let page = nudge_db::templates::list(
        &mut conn,
        signed_in.tenant(),
        PageRequest {
            limit: LISTED,
            before: None,
        },
    )
    .await?;
    html(
        StatusCode::OK,
        &TemplatesPage {
            templates: page
                .items
                .iter()
                .map(|t| TemplateRowView {
                    id: t.id.to_string(),
                    name: t.name.clone(),
                    category: t.category.clone(),
                    preview: t.body.chars().take(80).collect(),
                    truncated: t.body.chars().count() > 80,
                })
                .collect(),
            can_edit: can_edit(&signed_in),
            signed_in: Some(Nav::of(&signed_in)),
        },
    )
}

fn can_edit(signed_in: &SignedIn) -> bool {
    signed_in
        .role()
        .is_some_and(|role| role.may(Permission::ManageTemplates))
}

/// The form as typed.
#[derive(Deserialize, Default)]
pub(super) struct TemplateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    samples: String,
    /// An image of the tenant's that its messages carry (MMS); empty: none.
    #[serde(default)]
    media: String,
}

struct FormState<'a> {
    /// The template being edited (`None`: a new one).
    id: Option<String>,
    form: &'a TemplateForm,
    errors: Vec<(&'static str, String)>,
}

async fn render_form(
    signed_in: &SignedIn,
    app: &ConsoleState,
    status: StatusCode,
    state: FormState<'_>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = app.conn().await?;
    let images = nudge_db::media::list(&mut conn, signed_in.tenant(), 100).await?;
    let samples = if state.form.samples.trim().is_empty() {
        sample_lines(&state.form.body)
    } else {
        state.form.samples.clone()
    };
    html(
        status,
        &TemplateFormPage {
            id: state.id,
            name: state.form.name.trim(),
            body: &state.form.body,
            category: state.form.category.trim(),
            preview: fragment(preview(&state.form.body, &samples)),
            samples: &samples,
            images: super::media::rows(&images),
            media: state.form.media.trim(),
            can_edit: can_edit(signed_in),
            errors: state.errors,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

pub(super) async fn new_form(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::ManageTemplates)?;
    let form = TemplateForm {
        category: "marketing".into(),
        ..TemplateForm::default()
    };
    render_form(
        &signed_in,
        &state,
        StatusCode::OK,
        FormState {
            id: None,
            form: &form,
            errors: Vec::new(),
        },
    )
    .await
}

pub(super) async fn show(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<TemplateId>,
) -> Result<HttpResponse, ConsoleError> {
    let conn = state.conn().await?;
    // Another tenant's template is as absent as one that never was.
    let row = nudge_db::templates::find(&conn, signed_in.tenant(), *id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let form = TemplateForm {
        name: row.name,
        body: row.body,
        category: row.category,
        media: row.media_id.map(|m| m.to_string()).unwrap_or_default(),
        ..TemplateForm::default()
    };
    render_form(
        &signed_in,
        &state,
        StatusCode::OK,
        FormState {
            id: Some(id.to_string()),
            form: &form,
            errors: Vec::new(),
        },
    )
    .await
}

/// The form's image, if one is chosen: it must be the tenant's.
async fn chosen_image(
    signed_in: &SignedIn,
    state: &ConsoleState,
    form: &TemplateForm,
    errors: &mut Vec<(&'static str, String)>,
) -> Result<Option<uuid::Uuid>, ConsoleError> {
    let raw = form.media.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let conn = state.conn().await?;
    let found = match raw.parse::<uuid::Uuid>() {
        Ok(id) => nudge_db::media::find(&conn, signed_in.tenant(), id).await?,
        Err(_) => None,
    };
    if found.is_none() {
        errors.push(("media", "Image: choose one of your images.".into()));
    }
    Ok(found.map(|m| m.id))
}

/// The form's checks: the API's rules for name and body, and a category.
fn check(
    form: &TemplateForm,
) -> (
    String,
    String,
    Option<MessageCategory>,
    Vec<(&'static str, String)>,
) {
    let mut api_errors: Vec<ApiFieldError> = Vec::new();
    let name = check_template_name(&form.name, &mut api_errors);
    let body = check_template_body(&form.body, &mut api_errors);
    let mut errors: Vec<(&'static str, String)> = api_errors
        .into_iter()
        .map(|e| {
            let field = if e.field == "name" { "name" } else { "body" };
            let label = if field == "name" { "Name" } else { "Text" };
            (field, format!("{label}: {}", e.detail))
        })
        .collect();
    let category =
        MessageCategory::parse(form.category.trim()).filter(|c| *c != MessageCategory::Compliance);
    if category.is_none() {
        errors.push((
            "category",
            "Choose whether it is transactional or marketing.".into(),
        ));
    }
    (name, body, category, errors)
}

pub(super) async fn create(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<TemplateForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTemplates)?;
    let (name, body, category, mut errors) = check(&form);
    let media_id = chosen_image(&signed_in, &state, &form, &mut errors).await?;
    if let (true, Some(category)) = (errors.is_empty(), category) {
        let now = Utc::now();
        let row = TemplateRow {
            id: TemplateId::new().as_uuid(),
            tenant_id: signed_in.tenant().as_uuid(),
            name,
            body,
            created_at: now,
            updated_at: now,
            category: category.as_str().to_owned(),
            media_id,
        };
        let mut conn = state.conn().await?;
        match nudge_db::templates::insert(&mut conn, &row).await {
            Ok(row) => return Ok(to_template(TemplateId::from_uuid(row.id))),
            Err(DbError::Conflict(_)) => errors.push(name_taken()),
            Err(other) => return Err(other.into()),
        }
    }
    render_form(
        &signed_in,
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        FormState {
            id: None,
            form: &form,
            errors,
        },
    )
    .await
}

pub(super) async fn update(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<TemplateId>,
    form: web::Form<TemplateForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTemplates)?;
    let id = id.into_inner();
    let (name, body, category, mut errors) = check(&form);
    let media_id = chosen_image(&signed_in, &state, &form, &mut errors).await?;
    if let (true, Some(category)) = (errors.is_empty(), category) {
        let changes = TemplateChanges {
            name: Some(name),
            body: Some(body),
            category: Some(category.as_str().to_owned()),
            media_id: Some(media_id),
        };
        let mut conn = state.conn().await?;
        match nudge_db::templates::update(&mut conn, signed_in.tenant(), id, &changes).await {
            Ok(Some(_)) => return Ok(to_template(id)),
            Ok(None) => return Err(ConsoleError::NotFound),
            Err(DbError::Conflict(_)) => errors.push(name_taken()),
            Err(other) => return Err(other.into()),
        }
    }
    render_form(
        &signed_in,
        &state,
        StatusCode::UNPROCESSABLE_ENTITY,
        FormState {
            id: Some(id.to_string()),
            form: &form,
            errors,
        },
    )
    .await
}

pub(super) async fn delete(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    id: web::Path<TemplateId>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::ManageTemplates)?;
    let mut conn = state.conn().await?;
    match nudge_db::templates::delete(&mut conn, signed_in.tenant(), *id).await {
        Ok(true) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/console/templates"))
            .finish()),
        Ok(false) => Err(ConsoleError::NotFound),
        // A campaign uses it (the foreign key says so).
        Err(DbError::InUse(_)) => html(
            StatusCode::CONFLICT,
            &Notice {
                title: "A campaign uses this template",
                text: "It stays while a campaign refers to it.",
                link: Some(("/console/templates", "Back to templates")),
                signed_in: Some(Nav::of(&signed_in)),
            },
        ),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct PreviewQuery {
    #[serde(default)]
    body: String,
    #[serde(default)]
    samples: String,
}

/// The preview alone, for `preview.js` as the text is typed (reads nothing stored).
pub(super) async fn preview_fragment(
    _signed_in: SignedIn,
    query: web::Query<PreviewQuery>,
) -> Result<HttpResponse, ConsoleError> {
    html(
        StatusCode::OK,
        &fragment(preview(&query.body, &query.samples)),
    )
}

fn name_taken() -> (&'static str, String) {
    (
        "name",
        "Name: another template already has this name.".into(),
    )
}

fn to_template(id: TemplateId) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/console/templates/{id}")))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_renders_samples_and_counts_as_the_provider_will() {
        let p = preview(
            "Hi {{customer.name}}, your {{item}} waits",
            "customer.name: Asha\nitem=bag",
        );
        assert_eq!(p.rendered, "Hi Asha, your bag waits");
        assert!(p.missing.is_empty() && p.error.is_none());
        assert_eq!((p.encoding, p.segments, p.chars), ("GSM-7", 1, 23));
        assert!(p.unicode_chars.is_empty() && p.smart.is_none());
    }

    #[test]
    fn missing_samples_show_as_written_and_unicode_is_named() {
        let p = preview("Hi {{name}} — thanks ✨", "");
        assert_eq!(p.missing, vec!["name".to_owned()]);
        assert_eq!(p.rendered, "Hi {{name}} — thanks ✨");
        assert_eq!(p.encoding, "UCS-2 (Unicode)");
        assert_eq!(p.unicode_chars, vec!['—', '✨']);
        let long = "a".repeat(161);
        assert_eq!(preview(&long, "").segments, 2);
    }

    #[test]
    fn smart_encoding_is_shown_when_it_changes_the_encoding() {
        let p = preview("It’s here", "");
        assert_eq!(p.encoding, "UCS-2 (Unicode)");
        assert_eq!(p.smart, Some(("GSM-7", 1)));
        let broken = preview("Hi {{name", "");
        assert!(broken.error.is_some());
    }
}
