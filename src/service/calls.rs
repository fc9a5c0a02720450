//! The call history: storing ended calls as the event pump reports them, and
//! listing them.
//!
//! The pump runs on the AMI reader's path and must never wait for the database, so
//! it hands each [`CallRecord`] to a [`CallRecordSink`], a bounded queue that a
//! single writer task drains in batches. The writer is idempotent (a uniqueid is
//! stored once), retries a failing database for a while, and ends once every sink
//! is gone and the queue is empty, so a shutdown stores what was already queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use utoipa::{IntoParams, ToSchema};

use super::write::Writer;
use super::{Page, Paging, ServiceError};
use crate::ami::AmiClient;
use crate::events::{CallRecord, Disposition};
use crate::model::FieldErrors;
use crate::store;
use crate::store::calls::{CallFilter, CallRow};

/// Records stored per database round trip at most.
const BATCH: usize = 256;
/// Attempts to store one batch before it is given up (with an error in the log).
const ATTEMPTS: u32 = 8;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// One ended call as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallView {
    /// The uniqueid of the call's first channel.
    #[schema(example = "1795279363.14")]
    pub uniqueid: String,
    /// The id every channel of the call shares; `call` and `hangup` events carry it.
    pub linkedid: String,
    pub node: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub start: DateTime<Utc>,
    pub answer: Option<DateTime<Utc>>,
    pub end: DateTime<Utc>,
    /// Whole seconds from start to end.
    pub duration_s: i64,
    /// Whole seconds from answer to end.
    pub billsec: i64,
    /// `ANSWERED`, `NO ANSWER`, `BUSY` or `FAILED`.
    #[schema(example = "ANSWERED")]
    pub disposition: String,
    /// Q.850 hangup cause.
    pub cause: Option<i32>,
    pub cause_text: Option<String>,
}

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

impl From<CallRow> for CallView {
    fn from(row: CallRow) -> Self {
        CallView {
            uniqueid: row.uniqueid,
            linkedid: row.linkedid,
            node: row.node,
            from: non_empty(row.from_number),
            to: non_empty(row.to_number),
            start: row.started_at,
            answer: row.answered_at,
            end: row.ended_at,
            duration_s: i64::from(row.duration_s),
            billsec: i64::from(row.billable_s),
            disposition: row.disposition,
            cause: row.cause,
            cause_text: row.cause_text,
        }
    }
}

/// `GET /api/v1/calls` filters (beside `limit` and `offset`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// Calls from or to this number.
    pub extension: Option<String>,
    /// Calls that started at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Calls that started before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// `ANSWERED`, `NO ANSWER`, `BUSY` or `FAILED` (any case).
    pub disposition: Option<String>,
}

impl CallQuery {
    fn filter(self) -> Result<CallFilter, FieldErrors> {
        let mut errors = FieldErrors::new();
        let disposition = match self.disposition.as_deref() {
            None => None,
            Some(value) => match Disposition::from_cdr(value)
                .filter(|d| d.as_str().eq_ignore_ascii_case(value.trim()))
            {
                Some(d) => Some(d.as_str().to_owned()),
                None => {
                    errors.push("disposition", "must be ANSWERED, NO ANSWER, BUSY or FAILED");
                    None
                }
            },
        };
        if let (Some(since), Some(until)) = (self.since, self.until)
            && until < since
        {
            errors.push("until", "must not be before since");
        }
        if let Some(extension) = &self.extension
            && (extension.is_empty() || extension.chars().count() > 80)
        {
            errors.push("extension", "must be 1 to 80 characters");
        }
        errors.finish()?;
        let filter = CallFilter {
            extension: self.extension,
            since: self.since,
            until: self.until,
            disposition,
        };
        Ok(filter)
    }
}

/// Calls: the history of ended ones, and placing or hanging up one (click-to-call).
#[derive(Clone)]
pub struct CallService {
    pub(super) writer: Writer,
    pub(super) ami: AmiClient,
    /// The longest a click-to-call lets the first phone ring.
    pub(super) max_dial_timeout: u32,
}

impl CallService {
    pub(super) fn new(writer: Writer, ami: AmiClient, max_dial_timeout: u32) -> Self {
        CallService {
            writer,
            ami,
            max_dial_timeout,
        }
    }
}

impl CallService {
    /// Ended calls, newest first.
    pub async fn list(
        &self,
        query: CallQuery,
        paging: Paging,
    ) -> Result<Page<CallView>, ServiceError> {
        let filter = query.filter()?;
        let (rows, total) =
            store::calls::list(self.writer.db(), &filter, paging.limit, paging.offset).await?;
        Ok(paging.of(rows.into_iter().map(CallView::from).collect(), total))
    }
}

/// Where the event pump hands ended calls. Cheap to clone; never waits: when the
/// writer is that far behind, the record is dropped and counted.
#[derive(Clone)]
pub struct CallRecordSink {
    queue: mpsc::Sender<CallRecord>,
    dropped: Arc<AtomicU64>,
}

impl CallRecordSink {
    pub fn offer(&self, record: CallRecord) {
        match self.queue.try_send(record) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(record)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::error!(uniqueid = %record.uniqueid, dropped, "call history writer is behind; call record dropped");
            }
            Err(mpsc::error::TrySendError::Closed(record)) => {
                tracing::error!(uniqueid = %record.uniqueid, "call history writer has stopped; call record dropped");
            }
        }
    }

    /// Records dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the writer that stores the records offered to the returned sink as calls
/// of `node`, holding at most `capacity` records waiting for the database. The
/// task ends when every clone of the sink is dropped and the queue is stored.
pub fn spawn_history_writer(
    db: DatabaseConnection,
    node: String,
    capacity: usize,
) -> (CallRecordSink, JoinHandle<()>) {
    let (queue, mut records) = mpsc::channel(capacity.max(1));
    let sink = CallRecordSink {
        queue,
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while records.recv_many(&mut batch, BATCH).await > 0 {
            store_batch(&db, &node, &batch).await;
            batch.clear();
        }
    });
    (sink, task)
}

async fn store_batch(db: &DatabaseConnection, node: &str, batch: &[CallRecord]) {
    let mut pause = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        match store::calls::insert(db, node, batch).await {
            Ok(inserted) => {
                tracing::debug!(records = batch.len(), inserted, "call history stored");
                return;
            }
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, records = batch.len(), "storing call history failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LAST_RETRY);
            }
            Err(error) => {
                let uniqueids: Vec<&str> = batch.iter().map(|r| r.uniqueid.as_str()).collect();
                tracing::error!(%error, ?uniqueids, "call history could not be stored; records lost");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(disposition: Option<&str>) -> CallQuery {
        CallQuery {
            disposition: disposition.map(str::to_owned),
            ..CallQuery::default()
        }
    }

    #[test]
    fn dispositions_are_spelled_as_asterisk_spells_them() {
        let filter = query(Some("no answer")).filter().expect("valid");
        assert_eq!(filter.disposition.as_deref(), Some("NO ANSWER"));
        let filter = query(Some("ANSWERED")).filter().expect("valid");
        assert_eq!(filter.disposition.as_deref(), Some("ANSWERED"));
        // CONGESTION is what Asterisk may report, but the history never stores it.
        for bad in ["CONGESTION", "", "answered'--"] {
            let errors = query(Some(bad)).filter().expect_err("invalid");
            assert_eq!(errors.0[0].field, "disposition", "{bad}");
        }
    }

    #[test]
    fn until_before_since_is_refused() {
        let since: DateTime<Utc> = "2026-11-21T16:00:00Z".parse().expect("time");
        let q = CallQuery {
            since: Some(since),
            until: Some(since - chrono::Duration::seconds(1)),
            ..CallQuery::default()
        };
        assert_eq!(q.filter().expect_err("invalid").0[0].field, "until");
    }
}
