//! Sending one message from the console (owners and marketers): a form of shop,
//! recipient, text and category that goes through the very rules of
//! `POST /v1/messages` (`nudge_usecases::send::accept`: consent, quiet hours, caps), stored with
//! origin `console`. Accepted, the person lands on the message's live timeline.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use nudge_domain::MessageOrigin;
use serde::Deserialize;

use super::error::refusal_status;
use super::error::ConsoleError;
use super::pages::{html, Nav, SendError, SendPage};
use super::roles::Permission;
use super::session::{check_session_form, SignedIn};
use crate::ConsoleState;
use nudge_usecases::send::{accept, SendRequest, Sender};
use nudge_usecases::{Error as UseCaseError, Refusal};

/// The form, as typed.
#[derive(Deserialize, Default)]
pub(super) struct SendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    shop: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    category: String,
    /// An image of the tenant's to send with the text (MMS); empty: none.
    #[serde(default)]
    media: String,
}

async fn render(
    signed_in: &SignedIn,
    state: &ConsoleState,
    status: StatusCode,
    form: &SendForm,
    errors: Vec<SendError>,
) -> Result<HttpResponse, ConsoleError> {
    let mut conn = state.conn().await?;
    let shops = super::shop_choices(&mut conn, signed_in.tenant()).await?;
    let images = nudge_db::media::list(&mut conn, signed_in.tenant(), 100).await?;
    html(
        status,
        &SendPage {
            shops,
            images: super::media::rows(&images),
            media: form.media.trim(),
            shop: form.shop.trim(),
            to: form.to.trim(),
            body: &form.body,
            category: form.category.trim(),
            errors,
            signed_in: Some(Nav::of(signed_in)),
        },
    )
}

pub(super) async fn page(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
) -> Result<HttpResponse, ConsoleError> {
    signed_in.require(Permission::SendMessages)?;
    render(
        &signed_in,
        &state,
        StatusCode::OK,
        &SendForm::default(),
        Vec::new(),
    )
    .await
}

/// The form's field for a field the send rules name.
fn form_field(api_field: &str) -> &'static str {
    match api_field {
        "shop_id" => "shop",
        "to" | "customer_id" => "to",
        "body" | "template" | "data" => "body",
        "category" => "category",
        "media_id" => "media",
        _ => "",
    }
}

pub(super) async fn send(
    signed_in: SignedIn,
    state: web::Data<ConsoleState>,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, ConsoleError> {
    check_session_form(&signed_in, &form.csrf)?;
    signed_in.require(Permission::SendMessages)?;
    let mut errors = Vec::new();
    // The category decides the consent rules, so the person chooses it: no default.
    if !matches!(form.category.as_str(), "transactional" | "marketing") {
        errors.push(SendError {
            field: "category",
            message: "Choose whether this is a transactional or a marketing message.".into(),
        });
    }
    let given = |raw: &str| Some(raw.trim().to_owned()).filter(|s| !s.is_empty());
    if given(&form.shop).is_none() {
        errors.push(SendError {
            field: "shop",
            message: "Choose the shop that sends it.".into(),
        });
    }
    if given(&form.to).is_none() {
        errors.push(SendError {
            field: "to",
            message: "Enter the recipient's number, like +14155550100.".into(),
        });
    }
    if form.body.trim().is_empty() {
        errors.push(SendError {
            field: "body",
            message: "Write the text to send.".into(),
        });
    }
    if !errors.is_empty() {
        return render(
            &signed_in,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            errors,
        )
        .await;
    }
    let mut conn = state.conn().await?;
    let sender = Sender {
        tenant: signed_in.tenant(),
        daily_message_cap: nudge_db::limits::daily_message_cap(&conn, signed_in.tenant()).await?,
        origin: MessageOrigin::Console,
        daily: &state.daily_counts,
    };
    let request = SendRequest {
        shop_id: given(&form.shop),
        to: given(&form.to),
        customer_id: None,
        template: None,
        body: Some(form.body.clone()),
        data: serde_json::Map::new(),
        category: given(&form.category),
        send_at: None,
        media_id: given(&form.media),
    };
    let traceparent = nudge_telemetry::current_traceparent();
    match accept(&mut conn, sender, request, traceparent).await {
        Ok(message) => {
            tracing::info!(message_id = %message.id, user_id = %signed_in.0.user.id, "message sent from the console");
            state.relay_wakeup.notify_one();
            Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("/console/messages/{}", message.id),
                ))
                .finish())
        }
        Err(UseCaseError::Refused(refused)) => {
            let status = refusal_status(&refused);
            let errors = match refused {
                Refusal::Invalid(fields) => fields
                    .into_iter()
                    .map(|f| SendError {
                        field: form_field(&f.field),
                        message: format!("{}: {}", field_label(&f.field), f.detail),
                    })
                    .collect(),
                // Consent, the frequency cap or the daily cap: about the whole send.
                other => vec![SendError {
                    field: "",
                    message: other.to_string(),
                }],
            };
            render(&signed_in, &state, status, &form, errors).await
        }
        Err(failed) => Err(failed.into()),
    }
}

fn field_label(api_field: &str) -> &str {
    match form_field(api_field) {
        "shop" => "Shop",
        "to" => "To",
        "body" => "Text",
        "category" => "Category",
        _ => api_field,
    }
}
