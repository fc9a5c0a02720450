//! The one write path. Every change of every kind goes through it:
//!
//! ```text
//! let write = self.writer.write(actor).await?;   // transaction (queued on SQLite)
//! store::…::insert(&*write, row).await?;         // the kind's own store queries
//! write.audit(Action::Create, &object, None, Some(after)).await?;
//! let apply = write.commit_and_apply(&object).await?;   // commit, apply, wait as `Prefer` says
//! ```
//!
//! Validation happens before (in `model`, then the checks that need the database);
//! dropping a `Write` without committing rolls everything back. A commit bumps the
//! change counter every node follows (`store::cluster`), in the same transaction.

use std::ops::Deref;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::Value;

use super::ServiceError;
use super::applies::{ApplyView, WAIT_PREFERENCE};
use crate::apply::{ApplyHandle, Outcome};
use crate::model::ObjectRef;
use crate::store::audit::{Actor, AuditEntry};
use crate::store::{self, WriteGate, WriteTxn};

/// What a write did to its object, as the audit log and the apply trigger say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
    Revoke,
    /// Click-to-call started a call.
    Originate,
    Hangup,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Revoke => "revoke",
            Action::Originate => "originate",
            Action::Hangup => "hangup",
        }
    }
}

/// What every service that writes shares: the database, the queue writes take
/// turns in, and the apply worker that a committed write wakes.
#[derive(Clone)]
pub(crate) struct Writer {
    db: DatabaseConnection,
    gate: WriteGate,
    apply: ApplyHandle,
    /// The longest a write waits for its apply (`apply.wait_ms`).
    wait_limit: Duration,
    /// This node: its name goes with every change announcement.
    node: String,
    /// Silent this long, another node is not waited for.
    node_timeout: Duration,
}

/// A write in progress: one transaction and the actor it is for.
pub(crate) struct Write<'a> {
    writer: &'a Writer,
    actor: &'a Actor,
    txn: WriteTxn,
    action: Option<Action>,
}

impl Writer {
    pub(crate) fn new(
        db: DatabaseConnection,
        apply: ApplyHandle,
        settings: &crate::config::Settings,
    ) -> Self {
        Writer {
            gate: WriteGate::for_db(&db),
            db,
            apply,
            wait_limit: settings.apply_wait(),
            node: settings.node.clone(),
            node_timeout: settings.cluster.node_timeout(),
        }
    }

    /// For reads; writes go through [`Writer::write`].
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Starts a write for `actor`; concurrent writes queue for their turn instead of
    /// failing.
    pub(crate) async fn write<'a>(&'a self, actor: &'a Actor) -> Result<Write<'a>, ServiceError> {
        let txn = self.gate.begin(&self.db).await?;
        Ok(Write {
            writer: self,
            actor,
            txn,
            action: None,
        })
    }

    /// Records an action that changed nothing rayan stores (a call placed or hung
    /// up over AMI), through the same path.
    pub(crate) async fn record_action(
        &self,
        actor: &Actor,
        action: Action,
        object: &ObjectRef,
        after: Option<Value>,
    ) -> Result<(), ServiceError> {
        let mut write = self.write(actor).await?;
        write.audit(action, object, None, after).await?;
        // Nothing any node renders changed: no generation, no announcement.
        write.txn.commit().await?;
        Ok(())
    }

    /// Wakes the apply worker after a committed write and waits (up to
    /// `apply.wait_ms`, or less if the request prefers) for the outcome for `object`.
    async fn after_write(
        &self,
        action: Action,
        objects: &[ObjectRef],
        generation: i64,
    ) -> ApplyView {
        let started = tokio::time::Instant::now();
        let Some(object) = objects.first() else {
            return ApplyView::pending("nothing to apply");
        };
        let trigger = match objects.len() {
            1 => object.trigger(action.as_str()),
            n => format!("{} of {n} objects", action.as_str()),
        };
        let rx = self.apply.request(trigger, false);
        let preference = WAIT_PREFERENCE.try_with(|p| *p).unwrap_or_default();
        let limit = preference
            .limit
            .map_or(self.wait_limit, |wait| wait.min(self.wait_limit));
        let mut view = self.own_outcome(rx, objects, limit).await;
        if preference.all_nodes && !limit.is_zero() && objects.len() == 1 {
            let others = super::cluster::wait_for_others(
                &self.db,
                &self.node,
                self.node_timeout,
                object,
                generation,
                started + limit,
            )
            .await;
            match others {
                Ok(others) => view.nodes = Some(others),
                Err(e) => tracing::warn!(error = %e, "cannot read the other nodes' outcomes"),
            }
        }
        view
    }

    /// This node's outcome for `objects`: the worst of theirs (failed, then
    /// pending, then verified), with the first failure's reason.
    async fn own_outcome(
        &self,
        rx: tokio::sync::oneshot::Receiver<std::sync::Arc<crate::apply::ApplyReport>>,
        objects: &[ObjectRef],
        limit: Duration,
    ) -> ApplyView {
        if limit.is_zero() {
            return ApplyView::pending(
                "saved; the apply runs in the background (see GET /api/v1/applies)",
            );
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(report)) => outcome_of(&report, objects),
            Ok(Err(_)) => ApplyView::pending(
                "the apply worker is stopping; the change is saved and applied at the next start",
            ),
            Err(_) => ApplyView::pending("the apply is still running; see GET /api/v1/applies"),
        }
    }
}

/// The worst of `objects`' outcomes in `report` (failed, then pending, then
/// verified), with the first failure's reason.
fn outcome_of(report: &crate::apply::ApplyReport, objects: &[ObjectRef]) -> ApplyView {
    let rank = |status: Outcome| match status {
        Outcome::Failed => 2,
        Outcome::Pending => 1,
        Outcome::Verified => 0,
    };
    let (mut status, mut detail) = (Outcome::Verified, None);
    let mut failed = 0;
    for object in objects {
        let (this, why) = report.outcome_for(object);
        failed += usize::from(this == Outcome::Failed);
        if rank(this) > rank(status) || (detail.is_none() && this == status) {
            (status, detail) = (this, why);
        }
    }
    if failed > 1 {
        detail = Some(format!(
            "{failed} of {} objects failed; first: {}",
            objects.len(),
            detail.unwrap_or_default()
        ));
    }
    ApplyView {
        id: Some(report.id),
        status,
        detail,
        nodes: None,
    }
}

impl Writer {
    /// Runs `prepare` inside the apply worker, so that nothing renders or
    /// reloads between it and the apply that follows, and waits (up to `limit`)
    /// for that apply: its outcome for `objects`, and the whole report.
    pub(crate) async fn apply_prepared(
        &self,
        trigger: String,
        prepare: crate::apply::Prepare,
        objects: &[ObjectRef],
        limit: Duration,
    ) -> (ApplyView, Option<std::sync::Arc<crate::apply::ApplyReport>>) {
        let rx = self.apply.request_prepared(trigger, prepare);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(report)) => (outcome_of(&report, objects), Some(report)),
            Ok(Err(_)) => (
                ApplyView::pending(
                    "the apply worker is stopping; the import is applied at the next start",
                ),
                None,
            ),
            Err(_) => (
                ApplyView::pending("the switch-over is still running; see GET /api/v1/applies"),
                None,
            ),
        }
    }
}

impl Write<'_> {
    /// Records who did what to `object`, with its image before and after (secrets
    /// already masked), in the same transaction.
    pub async fn audit(
        &mut self,
        action: Action,
        object: &ObjectRef,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<(), ServiceError> {
        self.action = Some(action);
        let entry = AuditEntry {
            actor: self.actor,
            action: action.as_str(),
            object_kind: object.kind().as_str(),
            object_id: object.key(),
            before,
            after,
        };
        store::audit::record(&*self.txn, entry).await?;
        Ok(())
    }

    /// Commits a change that Asterisk and Kamailio do not see (a token, a template).
    /// Every node learns of it: their token caches and templates follow.
    pub async fn commit(self) -> Result<(), ServiceError> {
        store::cluster::bump(&*self.txn, &self.writer.node).await?;
        self.txn.commit().await?;
        Ok(())
    }

    /// Commits, asks the apply worker to apply it, and waits for the outcome for
    /// `applied` as long as the request allows (`Prefer`, `apply.wait_ms`).
    pub async fn commit_and_apply(self, applied: &ObjectRef) -> Result<ApplyView, ServiceError> {
        let action = self.action.unwrap_or(Action::Update);
        let writer = self.writer;
        let generation = store::cluster::bump(&*self.txn, &writer.node).await?;
        self.txn.commit().await?;
        Ok(writer
            .after_write(action, std::slice::from_ref(applied), generation)
            .await)
    }

    /// [`Write::commit_and_apply`] for a write of many objects: one apply, and
    /// the worst of their outcomes.
    pub async fn commit_and_apply_all(
        self,
        applied: &[ObjectRef],
    ) -> Result<ApplyView, ServiceError> {
        let action = self.action.unwrap_or(Action::Update);
        let writer = self.writer;
        let generation = store::cluster::bump(&*self.txn, &writer.node).await?;
        self.txn.commit().await?;
        Ok(writer.after_write(action, applied, generation).await)
    }

    /// Records the same action on many objects at once, each with its image after.
    pub async fn audit_all(
        &mut self,
        action: Action,
        objects: Vec<(ObjectRef, Option<Value>)>,
    ) -> Result<(), ServiceError> {
        self.action = Some(action);
        let entries: Vec<AuditEntry<'_>> = objects
            .iter()
            .map(|(object, after)| AuditEntry {
                actor: self.actor,
                action: action.as_str(),
                object_kind: object.kind().as_str(),
                object_id: object.key(),
                before: None,
                after: after.clone(),
            })
            .collect();
        store::audit::record_all(&*self.txn, entries).await?;
        Ok(())
    }
}

impl Deref for Write<'_> {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}
