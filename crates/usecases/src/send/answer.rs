//! A person's answer in a conversation (a care agent, through the API or the console):
//! the text as typed, from the conversation's shop to its customer, transactional, with
//! the customer's consent checked as for any send (an opted-out customer gets nothing).

use chrono::Utc;
use nudge_db::models::Message;
use nudge_db::AsyncPgConnection;
use nudge_domain::{ConversationId, CustomerId, MessageCategory, PhoneNumber, ShopId};

use super::{check_daily_cap, store, Delivery, Sender, MAX_RENDERED_CHARS};
use crate::{Error, Refusal};

pub async fn answer(
    conn: &mut AsyncPgConnection,
    sender: Sender<'_>,
    conversation: ConversationId,
    text: &str,
    traceparent: Option<String>,
) -> Result<Message, Error> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_RENDERED_CHARS {
        return Err(Error::invalid(
            "body",
            format!("must be 1 to {MAX_RENDERED_CHARS} characters"),
        ));
    }
    let tenant = sender.tenant;
    let conversation = nudge_db::conversations::find(conn, tenant, conversation)
        .await?
        .ok_or(Refusal::NotFound("conversation"))?;
    let shop = nudge_db::shops::find(conn, tenant, ShopId::from_uuid(conversation.shop_id))
        .await?
        .ok_or(Refusal::NotFound("conversation"))?;
    let customer = nudge_db::customers::find(
        conn,
        tenant,
        CustomerId::from_uuid(conversation.customer_id),
    )
    .await?
    .ok_or(Refusal::NotFound("conversation"))?;
    let to = PhoneNumber::parse(&conversation.phone)
        .map_err(|e| Error::Internal(anyhow::anyhow!("conversation phone: {e}")))?;
    let now = Utc::now();
    let today = sender.daily.today(conn, tenant, now).await?;
    check_daily_cap(sender, today, now)?;
    let (message, _) = store(
        conn,
        tenant,
        Delivery {
            shop: &shop,
            to,
            customer: Some(&customer),
            template_id: None,
            body: text.to_owned(),
            category: MessageCategory::Transactional,
            send_at: None,
            campaign_id: None,
            origin: sender.origin,
            media_id: None,
        },
        now,
        traceparent,
        None,
    )
    .await?;
    sender.daily.accepted(tenant, 1);
    Ok(message)
}
