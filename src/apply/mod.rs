//! The apply worker: one per node, it serialises every write to Asterisk's files
//! and every reload. A change commits to the database first, then wakes the
//! worker; after a short debounce the worker renders everything from a fresh
//! snapshot, writes only the files that changed, reloads only the modules whose
//! files changed, verifies each changed endpoint with `PJSIPShowEndpoint`, and
//! records the outcome. When Asterisk is unreachable the outcome is `pending` and
//! the worker converges by itself once Asterisk is back.

mod drift;
pub mod expect;
mod kamailio;
pub mod live_dialplan;
mod persisted;
pub mod transports;
mod worker;

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

pub use worker::{ApplyContext, EventSink, WorkerEvent, spawn};

/// Every file the worker writes with these settings: Asterisk's two, and Kamailio's
/// lists when Kamailio is configured.
pub fn written_files(settings: &crate::config::Settings) -> Vec<std::path::PathBuf> {
    let dir = &settings.asterisk.config_dir;
    let mut files = vec![
        dir.join(worker::PJSIP_CONF),
        dir.join(worker::EXTENSIONS_CONF),
    ];
    if let Some(kamailio) = &settings.kamailio {
        files.push(kamailio.dispatcher_list.clone());
        files.push(kamailio.address_list.clone());
    }
    files
}

pub use crate::model::apply::{
    ApplyReport, ApplySummary, DryRun, FileOutcome, ObjectOutcome, Outcome, PlannedFile, REFUSED,
    ReloadRecord, ReloadSummary, WorkerStatus,
};

/// Work the worker runs just before an apply, so that nothing renders or
/// reloads between it and that apply (an import's commit and file edits). What
/// it reports goes back through its own channel.
pub type Prepare = Box<dyn FnOnce() -> futures_util::future::BoxFuture<'static, ()> + Send>;

/// The trigger of [`ApplyHandle::booted`]'s request.
pub(crate) const BOOTED: &str = "asterisk booted";

pub(crate) struct ApplyRequest {
    pub trigger: String,
    /// When it was asked for: the gaps between requests tell a burst.
    pub at: std::time::Instant,
    pub force: bool,
    /// Asterisk has just restarted: every transport is checked again, and what
    /// waited for the restart is cleared once it runs.
    pub after_restart: bool,
    pub prepare: Option<Prepare>,
    pub respond: Option<oneshot::Sender<Arc<ApplyReport>>>,
}

/// The trigger of the apply that checks the transports after a restart.
pub(crate) const RESTARTED: &str = "asterisk restarted";

impl ApplyRequest {
    /// A plain request for an apply, asked for now, answered to nobody.
    pub(crate) fn new(trigger: impl Into<String>) -> Self {
        ApplyRequest {
            trigger: trigger.into(),
            at: std::time::Instant::now(),
            force: false,
            after_restart: false,
            prepare: None,
            respond: None,
        }
    }

    /// The apply after a restart: every transport checked again.
    pub(crate) fn after_restart() -> Self {
        ApplyRequest {
            after_restart: true,
            ..Self::new(RESTARTED)
        }
    }

    /// Answered with the report of the apply that includes it.
    fn answered(mut self) -> (Self, oneshot::Receiver<Arc<ApplyReport>>) {
        let (respond, rx) = oneshot::channel();
        self.respond = Some(respond);
        (self, rx)
    }
}

/// The way into the worker. Cheap to clone.
#[derive(Clone)]
pub struct ApplyHandle {
    tx: mpsc::UnboundedSender<ApplyRequest>,
    status: Arc<Mutex<WorkerStatus>>,
    ctx: Arc<ApplyContext>,
}

impl ApplyHandle {
    /// Wakes the worker after a committed change; the receiver yields the report
    /// of the apply that included it. Dropped if the worker has stopped.
    pub fn request(
        &self,
        trigger: impl Into<String>,
        force: bool,
    ) -> oneshot::Receiver<Arc<ApplyReport>> {
        let (request, rx) = ApplyRequest {
            force,
            ..ApplyRequest::new(trigger)
        }
        .answered();
        let _ = self.tx.send(request);
        rx
    }

    /// Runs `prepare` in the worker, then the apply that follows it; the
    /// receiver yields that apply's report.
    pub fn request_prepared(
        &self,
        trigger: impl Into<String>,
        prepare: Prepare,
    ) -> oneshot::Receiver<Arc<ApplyReport>> {
        let (request, rx) = ApplyRequest {
            prepare: Some(prepare),
            ..ApplyRequest::new(trigger)
        }
        .answered();
        let _ = self.tx.send(request);
        rx
    }

    /// After Asterisk restarted: checks every transport again and clears what
    /// waited for the restart; the receiver yields the report.
    pub fn after_restart(&self) -> oneshot::Receiver<Arc<ApplyReport>> {
        let (request, rx) = ApplyRequest::after_restart().answered();
        let _ = self.tx.send(request);
        rx
    }

    /// Asterisk said `FullyBooted`: the worker asks when it started, and if it
    /// is a new process, checks the transports as after a restart.
    pub fn booted(&self) {
        let _ = self.tx.send(ApplyRequest::new(BOOTED));
    }

    /// Wakes the worker without waiting for the outcome.
    pub fn nudge(&self, trigger: impl Into<String>) {
        let _ = self.tx.send(ApplyRequest::new(trigger));
    }

    pub fn status(&self) -> WorkerStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// True while the worker task runs.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// What an apply would write now, without writing or reloading anything.
    pub async fn dry_run(&self) -> Result<DryRun, worker::ApplyError> {
        worker::dry_run(&self.ctx).await
    }
}
