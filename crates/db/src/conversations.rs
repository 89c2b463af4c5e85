//! Conversations: a shop's SMS thread with one customer. The thread is the customer's
//! inbound messages (stored here) and the shop's outbound messages to that phone (the
//! message log), in time order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::{ConversationId, ShopId, TenantId};

use crate::models::{Conversation, InboundMessage, Message};
use crate::schema::{conversations, inbound_messages, messages};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

/// One entry of a thread.
#[derive(Debug, Clone)]
pub enum ThreadEntry {
    Inbound(Box<InboundMessage>),
    Outbound(Box<Message>),
}

impl ThreadEntry {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            ThreadEntry::Inbound(inbound) => inbound.received_at,
            ThreadEntry::Outbound(message) => message.created_at,
        }
    }
}

/// How many entries a thread shows at most (the newest).
pub const THREAD_LIMIT: i64 = 200;

pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: ConversationId,
) -> Result<Option<Conversation>, DbError> {
    Ok(conversations::table
        .of(tenant)
        .filter(conversations::id.eq(id.as_uuid()))
        .select(Conversation::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Filters for the conversation list.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConversationFilter {
    pub needs_human: Option<bool>,
    pub shop: Option<ShopId>,
}

/// Newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    filter: ConversationFilter,
    page: PageRequest,
) -> Result<Page<Conversation>, DbError> {
    let mut query = conversations::table
        .of(tenant)
        .select(Conversation::as_select())
        .order(conversations::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(needs_human) = filter.needs_human {
        query = query.filter(conversations::needs_human.eq(needs_human));
    }
    if let Some(shop) = filter.shop {
        query = query.filter(conversations::shop_id.eq(shop.as_uuid()));
    }
    if let Some(before) = page.before {
        query = query.filter(conversations::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |row| row.id))
}

/// The thread, oldest first: the newest [`THREAD_LIMIT`] entries.
pub async fn thread(
    conn: &mut AsyncPgConnection,
    conversation: &Conversation,
) -> Result<Vec<ThreadEntry>, DbError> {
    let inbound: Vec<InboundMessage> = inbound_messages::table
        .filter(inbound_messages::tenant_id.eq(conversation.tenant_id))
        .filter(inbound_messages::conversation_id.eq(conversation.id))
        .select(InboundMessage::as_select())
        .order(inbound_messages::received_at.desc())
        .limit(THREAD_LIMIT)
        .load(conn)
        .await?;
    let outbound: Vec<Message> = messages::table
        .filter(messages::tenant_id.eq(conversation.tenant_id))
        .filter(messages::shop_id.eq(conversation.shop_id))
        .filter(messages::to_number.eq(&conversation.phone))
        .select(Message::as_select())
        .order(messages::id.desc())
        .limit(THREAD_LIMIT)
        .load(conn)
        .await?;
    let mut entries: Vec<ThreadEntry> = inbound
        .into_iter()
        .map(|inbound| ThreadEntry::Inbound(Box::new(inbound)))
        .chain(
            outbound
                .into_iter()
                .map(|message| ThreadEntry::Outbound(Box::new(message))),
        )
        .collect();
    entries.sort_by_key(ThreadEntry::at);
    let excess = entries
        .len()
        .saturating_sub(usize::try_from(THREAD_LIMIT).unwrap_or(usize::MAX));
    entries.drain(..excess);
    Ok(entries)
}

/// Marks the conversation for a person. `true` if it was not already.
pub async fn hand_off(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: ConversationId,
    reason: &str,
) -> Result<bool, DbError> {
    let changed = diesel::update(conversations::table.of(tenant))
        .filter(conversations::id.eq(id.as_uuid()))
        .filter(conversations::needs_human.eq(false))
        .set((
            conversations::needs_human.eq(true),
            conversations::handoff_reason.eq(reason),
            conversations::handed_off_at.eq(diesel::dsl::now),
            conversations::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(changed > 0)
}

/// Gives the conversation back to the bot. `None` if the tenant has no such
/// conversation.
pub async fn hand_back(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: ConversationId,
) -> Result<Option<Conversation>, DbError> {
    Ok(diesel::update(conversations::table.of(tenant))
        .filter(conversations::id.eq(id.as_uuid()))
        .set((
            conversations::needs_human.eq(false),
            conversations::handoff_reason.eq(None::<String>),
            conversations::handed_off_at.eq(None::<DateTime<Utc>>),
            conversations::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Conversation::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}
