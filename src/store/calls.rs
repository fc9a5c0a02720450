//! The call history: one row per ended call, keyed by the uniqueid of its first channel.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::StoreError;
use super::entities::call::{ActiveModel, Column, Entity};
use crate::model::call::CallRecord;

pub use super::entities::call::Model as CallRow;

/// Column widths of the `calls` table; longer values are cut to fit rather than
/// failing the whole batch.
const ID_LEN: usize = 64;
const NUMBER_LEN: usize = 80;
const NODE_LEN: usize = 63;
const CAUSE_TEXT_LEN: usize = 120;

/// History filters; all optional, combined with AND.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Calls from or to this number.
    pub extension: Option<String>,
    /// Calls that started at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Calls that started before this time.
    pub until: Option<DateTime<Utc>>,
    /// `ANSWERED`, `NO ANSWER`, `BUSY` or `FAILED`.
    pub disposition: Option<String>,
}

fn cut(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

fn seconds(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn active_model(node: &str, record: &CallRecord) -> ActiveModel {
    ActiveModel {
        node: Set(cut(node, NODE_LEN)),
        uniqueid: Set(cut(&record.uniqueid, ID_LEN)),
        linkedid: Set(cut(&record.linkedid, ID_LEN)),
        from_number: Set(cut(record.from.as_deref().unwrap_or_default(), NUMBER_LEN)),
        to_number: Set(cut(record.to.as_deref().unwrap_or_default(), NUMBER_LEN)),
        started_at: Set(record.start),
        answered_at: Set(record.answer),
        ended_at: Set(record.end),
        duration_s: Set(seconds(record.duration_s)),
        billable_s: Set(seconds(record.billsec)),
        disposition: Set(record.disposition.as_str().to_owned()),
        cause: Set(record.cause.and_then(|c| i32::try_from(c).ok())),
        cause_text: Set(record.cause_text.as_deref().map(|t| cut(t, CAUSE_TEXT_LEN))),
        ..Default::default()
    }
}

/// Stores ended calls of `node`. A call whose uniqueid is already stored is left as
/// it is, so writing the same record twice (a retry, a replay) changes nothing.
/// Returns how many rows were new.
pub async fn insert(
    db: &impl ConnectionTrait,
    node: &str,
    records: &[CallRecord],
) -> Result<u64, StoreError> {
    if records.is_empty() {
        return Ok(0);
    }
    let rows = records.iter().map(|r| active_model(node, r));
    let inserted = Entity::insert_many(rows)
        .on_conflict(OnConflict::column(Column::Uniqueid).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted)
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &CallFilter,
    limit: u64,
    offset: u64,
) -> Result<(Vec<CallRow>, u64), StoreError> {
    let mut condition = Condition::all();
    if let Some(number) = &filter.extension {
        condition = condition.add(
            Condition::any()
                .add(Column::FromNumber.eq(number))
                .add(Column::ToNumber.eq(number)),
        );
    }
    if let Some(since) = filter.since {
        condition = condition.add(Column::StartedAt.gte(since));
    }
    if let Some(until) = filter.until {
        condition = condition.add(Column::StartedAt.lt(until));
    }
    if let Some(disposition) = &filter.disposition {
        condition = condition.add(Column::Disposition.eq(disposition));
    }
    let query = Entity::find().filter(condition);
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(Column::StartedAt)
        .order_by_desc(Column::Id)
        .limit(limit)
        .offset(offset)
        .all(db)
        .await?;
    Ok((rows, total))
}
