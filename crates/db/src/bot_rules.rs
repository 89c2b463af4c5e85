//! A shop's bot rules: keywords or intent examples, answered by a static reply or by
//! the merchant's fulfilment endpoint.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use nudge_domain::{BotRuleId, ShopId, TenantId};

use crate::models::BotRule;
use crate::schema::bot_rules;
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

pub async fn insert(conn: &mut AsyncPgConnection, rule: &BotRule) -> Result<BotRule, DbError> {
    Ok(diesel::insert_into(bot_rules::table)
        .values(rule)
        .returning(BotRule::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: BotRuleId,
) -> Result<Option<BotRule>, DbError> {
    Ok(bot_rules::table
        .of(tenant)
        .filter(bot_rules::id.eq(id.as_uuid()))
        .select(BotRule::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Every rule of a shop, in priority order (what the bot matches against).
pub async fn for_shop(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: ShopId,
) -> Result<Vec<BotRule>, DbError> {
    Ok(bot_rules::table
        .of(tenant)
        .filter(bot_rules::shop_id.eq(shop.as_uuid()))
        .select(BotRule::as_select())
        .order((bot_rules::priority.asc(), bot_rules::id.asc()))
        .load(conn)
        .await?)
}

pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    shop: Option<ShopId>,
    page: PageRequest,
) -> Result<Page<BotRule>, DbError> {
    let mut query = bot_rules::table
        .of(tenant)
        .select(BotRule::as_select())
        .order(bot_rules::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(shop) = shop {
        query = query.filter(bot_rules::shop_id.eq(shop.as_uuid()));
    }
    if let Some(before) = page.before {
        query = query.filter(bot_rules::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |row| row.id))
}

/// `false` if the tenant has no such rule.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: BotRuleId,
) -> Result<bool, DbError> {
    let deleted = diesel::delete(
        bot_rules::table
            .of(tenant)
            .filter(bot_rules::id.eq(id.as_uuid())),
    )
    .execute(conn)
    .await?;
    Ok(deleted > 0)
}
