//! What an apply did, as the API, the event stream and the apply history report it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ObjectRef;

/// The outcome of an apply as a whole, and of each object in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Asterisk loaded what was written.
    Verified,
    /// Asterisk did not load it (the reason says why), or the apply could not run.
    Failed,
    /// Saved and written, not yet reloaded: Asterisk is unreachable.
    Pending,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::Failed => "failed",
            Outcome::Pending => "pending",
        }
    }
}

/// One managed object's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ObjectOutcome {
    /// `extension`, `trunk`, `dialplan`, `route`, `kamailio`.
    pub kind: String,
    pub name: String,
    pub status: Outcome,
    /// `changed`, `removed`, or `refused` (the renderer could not render it; its last
    /// good block stays in the file).
    pub change: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The `change` of an object the renderer refused (it keeps its last good block).
pub const REFUSED: &str = "refused";

impl ObjectOutcome {
    pub fn new(object: &ObjectRef, status: Outcome, change: &str, detail: Option<String>) -> Self {
        ObjectOutcome {
            kind: object.outcome_kind().to_owned(),
            name: object.outcome_name(),
            status,
            change: change.to_owned(),
            detail,
        }
    }

    pub fn is(&self, object: &ObjectRef) -> bool {
        self.kind == object.outcome_kind() && self.name == object.outcome_name()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FileOutcome {
    pub path: String,
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReloadRecord {
    pub module: String,
    pub duration_ms: f64,
    pub result: String,
}

/// Everything an apply did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplyReport {
    pub id: i64,
    pub status: Outcome,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub files: Vec<FileOutcome>,
    pub reloads: Vec<ReloadRecord>,
    pub objects: Vec<ObjectOutcome>,
    /// True while a transport change waits for an Asterisk restart (a reload does
    /// not apply it); `POST /api/v1/asterisk/restart` applies it.
    pub restart_required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ApplyReport {
    fn failed_only_by_refusals(&self) -> bool {
        let mut failed = self
            .objects
            .iter()
            .filter(|o| o.status == Outcome::Failed)
            .peekable();
        failed.peek().is_some() && failed.all(|o| o.change == REFUSED)
    }

    /// The outcome for one object, or the apply's own when the object was not in it
    /// (its rendered text did not change, or the apply failed before verifying). When
    /// the apply failed only because of other objects, an object not in it is as it
    /// was: its outcome is not theirs.
    pub fn outcome_for(&self, object: &ObjectRef) -> (Outcome, Option<String>) {
        match self.objects.iter().find(|o| o.is(object)) {
            Some(o) => (o.status, o.detail.clone().or_else(|| self.detail.clone())),
            None if self.status == Outcome::Failed && self.failed_only_by_refusals() => {
                (Outcome::Verified, None)
            }
            None => (self.status, self.detail.clone()),
        }
    }
}

/// A dry run: what an apply would write, as unified diffs; nothing is changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DryRun {
    pub files: Vec<PlannedFile>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedFile {
    pub path: String,
    pub changed: bool,
    pub diff: String,
    /// Managed blocks edited by hand (they would be restored).
    pub drift: Vec<String>,
}

/// What the daemon knows about Asterisk and the applies, for status pages.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct WorkerStatus {
    pub last_apply: Option<ApplySummary>,
    pub last_reload: Option<ReloadSummary>,
    pub last_error: Option<String>,
    /// Managed blocks whose text in the file differs from what the database renders.
    pub drift: Vec<String>,
    pub restart_required: bool,
    /// What waits for the restart, one line per transport.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restart_waiting: Vec<String>,
    /// Changes written but not yet reloaded because Asterisk was unreachable.
    pub pending: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplySummary {
    pub id: i64,
    pub status: Outcome,
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadSummary {
    pub at: DateTime<Utc>,
    pub modules: Vec<ReloadRecord>,
}
