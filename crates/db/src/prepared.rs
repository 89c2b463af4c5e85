//! Hand-written SQL that the connection prepares once and reuses. diesel never caches
//! what `sql_query` sends (it cannot know the text is constant), so Postgres would parse
//! and plan it at every call: for the short statements on the sender's hot path
//! (throughput tokens, sid locks, sends recorded) planning costs more than running.
//! [`prepared`] takes constant text, so the statement cache can key it by that text.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error as DieselError;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::QueryResult;

/// A value for a placeholder, with its SQL type.
pub(crate) struct Bind<ST, T> {
    value: T,
    sql_type: PhantomData<ST>,
}

pub(crate) fn bind<ST, T>(value: T) -> Bind<ST, T> {
    Bind {
        value,
        sql_type: PhantomData,
    }
}

pub(crate) trait PushBind: Send + Sync {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

impl<ST, T> PushBind for Bind<ST, T>
where
    Pg: HasSqlType<ST>,
    T: ToSql<ST, Pg> + Send + Sync,
    ST: Send + Sync,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<ST, T>(&self.value)
    }
}

/// `sql` with its placeholders `$1`, `$2`... and the values for them, in that order.
/// A placeholder may appear more than once: each use is sent as a parameter of its own.
pub(crate) struct Prepared<'a> {
    sql: &'static str,
    binds: Vec<Box<dyn PushBind + 'a>>,
}

pub(crate) fn prepared<'a>(sql: &'static str, binds: Vec<Box<dyn PushBind + 'a>>) -> Prepared<'a> {
    Prepared { sql, binds }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len() - at - 1);
            let number: usize = rest[at + 1..at + 1 + digits].parse().map_err(|_| {
                DieselError::QueryBuilderError(format!("a bare $ in {:?}", self.sql).into())
            })?;
            let bind = number
                .checked_sub(1)
                .and_then(|index| self.binds.get(index))
                .ok_or_else(|| {
                    DieselError::QueryBuilderError(format!("no value for ${number}").into())
                })?;
            bind.push(&mut out)?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // Keyed by its text in the statement cache, not by its Rust type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::{Integer, Text};

    use super::*;

    fn text_of(query: &Prepared<'_>) -> String {
        diesel::debug_query::<Pg, _>(query).to_string()
    }

    #[test]
    fn each_use_of_a_placeholder_is_sent_in_order() {
        let (name, count) = ("a".to_owned(), 2);
        let query = prepared(
            "SELECT $2::int, $1::text, $2::int + 1",
            vec![
                Box::new(bind::<Text, _>(&name)),
                Box::new(bind::<Integer, _>(count)),
            ],
        );
        let text = text_of(&query);
        assert!(
            text.starts_with("SELECT $1::int, $2::text, $3::int + 1 -- binds: [2, \"a\", 2]"),
            "{text}"
        );
    }
}
