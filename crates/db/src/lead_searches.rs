//! Lead searches: jobs that `lead-search` works page by page.
//!
//! The progress is here, not in a worker: [`claim`] takes a lease, each page is stored
//! by [`record_page`] only if the search is still at the offset the worker read and the
//! lease is still the worker's (so a worker that lost its lease cannot store a page
//! twice), and a search that must wait (a provider's 429, a spent budget) is put aside
//! by [`wait`] together with an outbox row that wakes it up at the right time.

use chrono::{DateTime, Utc};
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use nudge_domain::{Envelope, LeadSearchId, LeadSearchV1, MessageKind, TenantId};
use uuid::Uuid;

use crate::models::{LeadSearch, OutboxRow};
use crate::schema::{lead_search_leads, lead_searches, outbox};
use crate::scope::OfTenant;
use crate::{DbError, Page, PageRequest};

/// The logical queue of lead searches (the relay maps it to the configured SQS queue).
pub const LEAD_SEARCHES_QUEUE: &str = "lead-searches";

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const WAITING: &str = "waiting";
pub const COMPLETED: &str = "completed";
pub const CANCELLED: &str = "cancelled";
pub const FAILED: &str = "failed";
pub const STATUSES: [&str; 6] = [QUEUED, RUNNING, WAITING, COMPLETED, CANCELLED, FAILED];
/// The statuses a worker may still work on.
const OPEN: [&str; 3] = [QUEUED, RUNNING, WAITING];

/// The tenant's search, `running` and held by `worker`: every write a worker makes is
/// conditioned on it, so a worker that lost the search (cancelled, taken over) changes
/// nothing.
fn held_by<'a>(
    tenant: TenantId,
    id: LeadSearchId,
    worker: &'a str,
) -> Box<dyn BoxableExpression<lead_searches::table, Pg, SqlType = Nullable<Bool>> + 'a> {
    Box::new(
        lead_searches::tenant_id
            .eq(tenant.as_uuid())
            .and(lead_searches::id.eq(id.as_uuid()))
            .and(lead_searches::status.eq(RUNNING))
            .and(lead_searches::worker_id.eq(worker)),
    )
}

/// Stores an accepted search and the queue message that starts it, in one transaction.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    search: &LeadSearch,
    traceparent: Option<String>,
) -> Result<LeadSearch, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let stored = diesel::insert_into(lead_searches::table)
            .values(search)
            .returning(LeadSearch::as_returning())
            .get_result(conn)
            .await?;
        enqueue(conn, &stored, Utc::now(), traceparent).await?;
        Ok(stored)
    })
    .await
}

/// An outbox row that hands the search to a worker at `at`.
async fn enqueue(
    conn: &mut AsyncPgConnection,
    search: &LeadSearch,
    at: DateTime<Utc>,
    traceparent: Option<String>,
) -> Result<(), DbError> {
    let envelope = Envelope::new(
        TenantId::from_uuid(search.tenant_id),
        LeadSearchV1 {
            lead_search_id: LeadSearchId::from_uuid(search.id),
        },
    );
    let raw = envelope
        .to_raw()
        .map_err(|e| DbError::Corrupt(format!("envelope: {e}")))?;
    diesel::insert_into(outbox::table)
        .values(&OutboxRow {
            id: envelope.id,
            tenant_id: search.tenant_id,
            queue: LEAD_SEARCHES_QUEUE.to_owned(),
            message_type: LeadSearchV1::TYPE.to_owned(),
            body: serde_json::to_value(raw)
                .map_err(|e| DbError::Corrupt(format!("envelope: {e}")))?,
            traceparent,
            created_at: Utc::now(),
            attempts: 0,
            last_error: None,
            available_at: at,
            message_id: None,
        })
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
) -> Result<Option<LeadSearch>, DbError> {
    Ok(lead_searches::table
        .of(tenant)
        .filter(lead_searches::id.eq(id.as_uuid()))
        .select(LeadSearch::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Newest first, optionally only those in `status`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    status: Option<&str>,
    page: PageRequest,
) -> Result<Page<LeadSearch>, DbError> {
    let mut query = lead_searches::table
        .of(tenant)
        .select(LeadSearch::as_select())
        .order(lead_searches::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(lead_searches::status.eq(status.to_owned()));
    }
    if let Some(before) = page.before {
        query = query.filter(lead_searches::id.lt(before));
    }
    let rows = query.load(conn).await?;
    Ok(Page::from_overfetch(rows, page, |search| search.id))
}

/// What a cancel request found.
#[derive(Debug)]
pub enum Cancel {
    /// Cancelled now, or before: the search.
    Cancelled(Box<LeadSearch>),
    /// It had already ended otherwise (`completed`, `failed`).
    AlreadyEnded(Box<LeadSearch>),
    Missing,
}

/// Stops a search. A worker on it notices at its next page (its page write requires
/// the search to be `running`); leads already stored stay.
pub async fn cancel(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
) -> Result<Cancel, DbError> {
    let cancelled = diesel::update(lead_searches::table.of(tenant))
        .filter(lead_searches::id.eq(id.as_uuid()))
        .filter(lead_searches::status.eq_any(OPEN))
        .set((
            lead_searches::status.eq(CANCELLED),
            lead_searches::finished_at.eq(diesel::dsl::now),
            lead_searches::updated_at.eq(diesel::dsl::now),
            lead_searches::waiting_reason.eq(None::<String>),
            lead_searches::resume_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(LeadSearch::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(search) = cancelled {
        return Ok(Cancel::Cancelled(Box::new(search)));
    }
    Ok(match find(conn, tenant, id).await? {
        Some(search) if search.status == CANCELLED => Cancel::Cancelled(Box::new(search)),
        Some(search) => Cancel::AlreadyEnded(Box::new(search)),
        None => Cancel::Missing,
    })
}

/// What a worker found when it tried to take a search.
#[derive(Debug)]
pub enum Claim {
    /// The worker holds the lease now.
    Claimed(Box<LeadSearch>),
    /// The search has ended (`completed`, `cancelled`, `failed`): nothing to do.
    Ended(String),
    /// Another worker holds the lease until then.
    Busy(DateTime<Utc>),
    /// It waits until then; an outbox row wakes it up then.
    NotYet(DateTime<Utc>),
    Missing,
}

/// Takes the search for `worker` for `lease`, unless another worker's lease runs, the
/// search waits, or it has ended.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
    worker: &str,
    provider: &str,
    lease: chrono::Duration,
) -> Result<Claim, DbError> {
    let now = Utc::now();
    let claimed = diesel::update(lead_searches::table.of(tenant))
        .filter(lead_searches::id.eq(id.as_uuid()))
        .filter(lead_searches::status.eq_any(OPEN))
        .filter(
            lead_searches::lease_until
                .is_null()
                .or(lead_searches::lease_until.lt(now)),
        )
        .filter(
            lead_searches::resume_at
                .is_null()
                .or(lead_searches::resume_at.le(now)),
        )
        .set((
            lead_searches::status.eq(RUNNING),
            lead_searches::worker_id.eq(worker),
            lead_searches::lease_until.eq(now + lease),
            // A cursor is the provider's own: on another provider, start again from
            // the first page (leads already found are linked, not doubled).
            lead_searches::next_offset.eq(diesel::dsl::sql::<Integer>(
                "CASE WHEN provider IS DISTINCT FROM ",
            )
            .bind::<Text, _>(provider)
            .sql(" AND provider IS NOT NULL THEN 0 ELSE next_offset END")),
            lead_searches::provider.eq(provider),
            lead_searches::started_at.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
            >("coalesce(started_at, now())")),
            lead_searches::waiting_reason.eq(None::<String>),
            lead_searches::resume_at.eq(None::<DateTime<Utc>>),
            lead_searches::updated_at.eq(now),
        ))
        .returning(LeadSearch::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(search) = claimed {
        return Ok(Claim::Claimed(Box::new(search)));
    }
    Ok(match find(conn, tenant, id).await? {
        None => Claim::Missing,
        Some(search) if !OPEN.contains(&search.status.as_str()) => Claim::Ended(search.status),
        Some(search) => match (search.resume_at, search.lease_until) {
            (Some(resume), _) if resume > now => Claim::NotYet(resume),
            (_, Some(lease)) => Claim::Busy(lease),
            // Changed between the two statements: look again soon.
            _ => Claim::Busy(now),
        },
    })
}

/// One lead as a worker parsed it from a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLead {
    pub profile_url: String,
    pub name: String,
    pub headline: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
}

/// One page of results, parsed.
#[derive(Debug, Clone, Default)]
pub struct PageRecord {
    /// Where the page started: the page is stored only if the search is still there.
    pub offset: i32,
    /// Where the next page starts.
    pub next_offset: i32,
    /// Every result of the page.
    pub results: i32,
    /// Results that are not a profile.
    pub skipped: i32,
    pub leads: Vec<FoundLead>,
    /// The last page: the search is `completed` with it.
    pub finished: bool,
}

/// Stores a page: its leads (new ones created, known ones linked and refreshed), the
/// counters and the next offset, all or nothing. `None`: the search is no longer this
/// worker's at this offset (cancelled, or another worker took over); nothing was
/// stored. The lease stays as [`renew_lease`] set it for the page (so that it never
/// outlasts the queue message's visibility, which the worker set at the same moment).
pub async fn record_page(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
    worker: &str,
    page: &PageRecord,
) -> Result<Option<LeadSearch>, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let held = lead_searches::table
            .filter(held_by(tenant, id, worker))
            .filter(lead_searches::next_offset.eq(page.offset))
            .select(lead_searches::id)
            .for_update()
            .first::<Uuid>(conn)
            .await
            .optional()?;
        if held.is_none() {
            return Ok(None);
        }
        let (new, duplicates) = store_leads(conn, tenant, id, &page.leads).await?;
        let now = Utc::now();
        let (status, finished_at) = if page.finished {
            (COMPLETED, Some(now))
        } else {
            (RUNNING, None)
        };
        // A finished search holds no lease; a running one keeps the page's.
        let lease_until = diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >(if page.finished { "NULL" } else { "lease_until" });
        let search =
            diesel::update(lead_searches::table.filter(lead_searches::id.eq(id.as_uuid())))
                .set((
                    lead_searches::next_offset.eq(page.next_offset),
                    lead_searches::pages_fetched.eq(lead_searches::pages_fetched + 1),
                    lead_searches::results_seen.eq(lead_searches::results_seen + page.results),
                    lead_searches::leads_new.eq(lead_searches::leads_new + new),
                    lead_searches::duplicates.eq(lead_searches::duplicates + duplicates),
                    lead_searches::skipped.eq(lead_searches::skipped + page.skipped),
                    lead_searches::status.eq(status),
                    lead_searches::finished_at.eq(finished_at),
                    lead_searches::lease_until.eq(lease_until),
                    lead_searches::updated_at.eq(now),
                ))
                .returning(LeadSearch::as_returning())
                .get_result(conn)
                .await?;
        Ok(Some(search))
    })
    .await
}

#[derive(QueryableByName)]
struct Upserted {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    inserted: bool,
}

/// Creates the leads not yet known to the tenant, refreshes the others, links them all
/// to the search. Returns (new leads, duplicates): a duplicate is a profile the tenant
/// already had, or one already met earlier in the page.
async fn store_leads(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    search: LeadSearchId,
    found: &[FoundLead],
) -> Result<(i32, i32), DbError> {
    let mut new = 0;
    let mut duplicates = 0;
    let mut seen = std::collections::HashSet::new();
    for lead in found {
        if !seen.insert(lead.profile_url.as_str()) {
            duplicates += 1;
            continue;
        }
        // `xmax = 0` tells a fresh insert from the update of a conflicting row. Known
        // leads keep what they had where this result says nothing.
        let upserted: Upserted = diesel::sql_query(
            "INSERT INTO leads (id, tenant_id, profile_url, name, headline, company, location) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, profile_url) DO UPDATE SET \
               name = EXCLUDED.name, \
               headline = coalesce(EXCLUDED.headline, leads.headline), \
               company = coalesce(EXCLUDED.company, leads.company), \
               location = coalesce(EXCLUDED.location, leads.location), \
               last_seen_at = now() \
             RETURNING id, (xmax = 0) AS inserted",
        )
        .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
        .bind::<diesel::sql_types::Uuid, _>(tenant.as_uuid())
        .bind::<Text, _>(&lead.profile_url)
        .bind::<Text, _>(&lead.name)
        .bind::<diesel::sql_types::Nullable<Text>, _>(&lead.headline)
        .bind::<diesel::sql_types::Nullable<Text>, _>(&lead.company)
        .bind::<diesel::sql_types::Nullable<Text>, _>(&lead.location)
        .get_result(conn)
        .await?;
        if upserted.inserted {
            new += 1;
        } else {
            duplicates += 1;
        }
        diesel::insert_into(lead_search_leads::table)
            .values((
                lead_search_leads::tenant_id.eq(tenant.as_uuid()),
                lead_search_leads::lead_search_id.eq(search.as_uuid()),
                lead_search_leads::lead_id.eq(upserted.id),
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .await?;
    }
    Ok((new, duplicates))
}

/// Puts a running search aside until `until` and queues the message that resumes it
/// then, in one transaction. `error`: the provider failure that made it wait (counted).
/// `false`: the search was no longer this worker's; nothing changed.
pub async fn wait(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
    worker: &str,
    until: DateTime<Utc>,
    reason: &str,
    error: Option<&str>,
) -> Result<bool, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let errors = i32::from(error.is_some());
        let updated = diesel::update(lead_searches::table)
            .filter(held_by(tenant, id, worker))
            .set((
                lead_searches::status.eq(WAITING),
                lead_searches::waiting_reason.eq(reason),
                lead_searches::resume_at.eq(until),
                lead_searches::worker_id.eq(None::<String>),
                lead_searches::lease_until.eq(None::<DateTime<Utc>>),
                lead_searches::errors.eq(lead_searches::errors + errors),
                lead_searches::last_error.eq(
                    diesel::dsl::sql::<diesel::sql_types::Nullable<Text>>("coalesce(")
                        .bind::<diesel::sql_types::Nullable<Text>, _>(error)
                        .sql(", last_error)"),
                ),
                lead_searches::updated_at.eq(diesel::dsl::now),
            ))
            .returning(LeadSearch::as_returning())
            .get_result(conn)
            .await
            .optional()?;
        let Some(search) = updated else {
            return Ok(false);
        };
        enqueue(conn, &search, until, None).await?;
        Ok(true)
    })
    .await
}

/// Ends a running search: `completed` (nothing more to fetch) or `failed` with the
/// error that cannot be retried. `false`: it was no longer this worker's.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
    worker: &str,
    failure: Option<&str>,
) -> Result<bool, DbError> {
    let (status, errors) = match failure {
        Some(_) => (FAILED, 1),
        None => (COMPLETED, 0),
    };
    let updated = diesel::update(lead_searches::table)
        .filter(held_by(tenant, id, worker))
        .set((
            lead_searches::status.eq(status),
            lead_searches::finished_at.eq(diesel::dsl::now),
            lead_searches::lease_until.eq(None::<DateTime<Utc>>),
            lead_searches::errors.eq(lead_searches::errors + errors),
            lead_searches::last_error.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<Text>>(
                "coalesce(",
            )
            .bind::<diesel::sql_types::Nullable<Text>, _>(failure)
            .sql(", last_error)")),
            lead_searches::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(updated == 1)
}

/// Extends this worker's lease on a running search to `lease` from now, before a page.
/// `false`: the search is no longer this worker's (cancelled, or taken over).
pub async fn renew_lease(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
    worker: &str,
    lease: chrono::Duration,
) -> Result<bool, DbError> {
    let renewed = diesel::update(lead_searches::table)
        .filter(held_by(tenant, id, worker))
        .set((
            lead_searches::lease_until.eq(Utc::now() + lease),
            lead_searches::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(renewed == 1)
}

/// Queues again the searches that were left `running` by a worker that stopped without
/// handing them back and whose queue message is gone too (dead-lettered, purged): their
/// lease lapsed more than `stale_for` ago, far longer than a redelivery takes. Across
/// tenants by nature, like the outbox relay. Returns how many were queued again.
pub async fn resume_orphans(
    conn: &mut AsyncPgConnection,
    stale_for: chrono::Duration,
) -> Result<usize, DbError> {
    conn.transaction::<_, DbError, _>(async |conn| {
        let orphans: Vec<LeadSearch> = lead_searches::table
            .filter(lead_searches::status.eq(RUNNING))
            .filter(lead_searches::lease_until.lt(Utc::now() - stale_for))
            .order(lead_searches::lease_until.asc())
            .limit(100)
            .select(LeadSearch::as_select())
            .for_update()
            .skip_locked()
            .load(conn)
            .await?;
        let now = Utc::now();
        for orphan in &orphans {
            diesel::update(lead_searches::table.filter(lead_searches::id.eq(orphan.id)))
                .set((
                    lead_searches::status.eq(WAITING),
                    lead_searches::waiting_reason
                        .eq("queued again: its worker stopped without handing it back"),
                    lead_searches::resume_at.eq(now),
                    lead_searches::worker_id.eq(None::<String>),
                    lead_searches::lease_until.eq(None::<DateTime<Utc>>),
                    lead_searches::updated_at.eq(now),
                ))
                .execute(conn)
                .await?;
            enqueue(conn, orphan, now, None).await?;
        }
        Ok(orphans.len())
    })
    .await
}

/// Queues the search again with a fresh message (one that SQS has not yet counted
/// receives of). `false`: no such search, or it has ended.
pub async fn requeue(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
) -> Result<bool, DbError> {
    let Some(search) = find(conn, tenant, id).await? else {
        return Ok(false);
    };
    if !OPEN.contains(&search.status.as_str()) {
        return Ok(false);
    }
    enqueue(
        conn,
        &search,
        search.resume_at.unwrap_or_else(Utc::now),
        None,
    )
    .await?;
    Ok(true)
}

/// Gives a search back without waiting (a stopping worker): the next receive of its
/// queue message takes it at once.
pub async fn release(
    conn: &mut AsyncPgConnection,
    tenant: TenantId,
    id: LeadSearchId,
    worker: &str,
) -> Result<(), DbError> {
    diesel::update(lead_searches::table.of(tenant))
        .filter(lead_searches::id.eq(id.as_uuid()))
        .filter(lead_searches::worker_id.eq(worker))
        .set((
            lead_searches::lease_until.eq(None::<DateTime<Utc>>),
            lead_searches::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Spent {
    #[diesel(sql_type = Integer)]
    #[allow(dead_code, reason = "read only to learn whether a row came back")]
    queries: i32,
}

/// A daily budget of provider queries: `scope` (`tenant:<id>`, `key:<provider>:<fp>`)
/// may spend `per_day` queries each UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub scope: String,
    pub per_day: i32,
}

/// Why [`spend_query`]'s transaction ended early.
enum SpendError {
    /// The budget at this index is spent for today: roll back what the others took.
    Spent(usize),
    Db(DbError),
}

impl From<diesel::result::Error> for SpendError {
    fn from(error: diesel::result::Error) -> Self {
        SpendError::Db(error.into())
    }
}

/// Spends one query of every budget, or none: returns the first budget that is spent
/// for today (and then nothing was taken from any).
pub async fn spend_query<'a>(
    conn: &mut AsyncPgConnection,
    budgets: &'a [Budget],
) -> Result<Option<&'a Budget>, DbError> {
    let spent = conn
        .transaction::<_, SpendError, _>(async |conn| {
            for (index, budget) in budgets.iter().enumerate() {
                let taken: Option<Spent> = diesel::sql_query(
                    "INSERT INTO lead_search_budget AS b (scope, day, queries) \
                     SELECT $1, (now() AT TIME ZONE 'UTC')::date, 1 WHERE $2 > 0 \
                     ON CONFLICT (scope, day) DO UPDATE SET queries = b.queries + 1 \
                     WHERE b.queries < $2 \
                     RETURNING b.queries",
                )
                .bind::<Text, _>(&budget.scope)
                .bind::<Integer, _>(budget.per_day)
                .get_result(conn)
                .await
                .optional()?;
                if taken.is_none() {
                    return Err(SpendError::Spent(index));
                }
            }
            Ok(())
        })
        .await;
    match spent {
        Ok(()) => Ok(None),
        Err(SpendError::Spent(index)) => Ok(budgets.get(index)),
        Err(SpendError::Db(error)) => Err(error),
    }
}
