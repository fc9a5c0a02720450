//! The worker task and one apply, step by step.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use futures_util::{StreamExt, stream};
use sea_orm::DatabaseConnection;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::expect::{
    ExpectedEndpoint, check_endpoint, expected_endpoints, expected_extensions,
    transport_fingerprint,
};
use super::kamailio::{self as kamailio_stage, KamailioStage};
use super::live_dialplan;
use super::persisted::{self, Persisted};
use super::transports::{
    ExpectedTransport, RunningTransport, TransportState, check_transport, expected_transports,
    parse_show_transports,
};
use super::{
    ApplyHandle, ApplyReport, ApplyRequest, ApplySummary, BOOTED, DryRun, FileOutcome,
    ObjectOutcome, Outcome, PlannedFile, ReloadRecord, ReloadSummary, WorkerStatus,
};
use crate::ami::{AmiClient, AmiError, Message, ReloadOutcome};
use crate::config::Settings;
use crate::events::{ApplyEvent, DriftEvent};
use crate::model::{ConfigFile, ObjectKind, ObjectRef};
use crate::render::{self, FileSync, ManagedBlock, RenderError, RenderedConfig, WriteOptions};
use crate::store::{self, StoreError};

/// What the worker tells the rest of the daemon.
#[derive(Debug, Clone)]
pub enum WorkerEvent {
    /// An apply finished.
    Applied(ApplyEvent),
    /// Managed blocks were edited by hand.
    Drift(DriftEvent),
}

/// Where the worker sends what it has to tell (the event hub and the status board).
pub type EventSink = Arc<dyn Fn(WorkerEvent) + Send + Sync>;

pub const PJSIP_CONF: &str = "pjsip.conf";
pub const EXTENSIONS_CONF: &str = "extensions.conf";
const PJSIP_MODULE: &str = "res_pjsip.so";
const DIALPLAN_MODULE: &str = "pbx_config.so";
/// PJSIPShowEndpoint requests in flight at once while verifying.
const VERIFY_CONCURRENCY: usize = 16;

#[derive(Debug, Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("cannot load provider templates: {0}")]
    Templates(String),
    #[error("a rendering or writing task stopped: {0}")]
    Io(String),
}

/// What the worker needs.
pub struct ApplyContext {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub ami: AmiClient,
    pub events: EventSink,
    /// Decrypts trunk passwords for rendering.
    pub secrets: crate::secrets::Secrets,
    /// Whether this node writes Kamailio's lists now (one node per Kamailio does).
    pub kamailio_leader: Arc<std::sync::atomic::AtomicBool>,
}

impl ApplyContext {
    fn file(&self, name: &str) -> PathBuf {
        self.settings.asterisk.config_dir.join(name)
    }

    /// Renders everything from a fresh database snapshot; objects that cannot be
    /// rendered are listed in the result, not fatal.
    async fn render(&self) -> Result<RenderedConfig, ApplyError> {
        let snapshot = store::snapshot::load(&self.db, &self.secrets).await?;
        let providers = store::snapshot::provider_templates(&self.db).await?;
        let settings = render::RenderSettings::from(&*self.settings);
        // CPU work (on every core at scale): off the async threads.
        tokio::task::spawn_blocking(move || {
            render::render_isolated(&snapshot, &providers, &settings)
        })
        .await
        .map_err(|e| ApplyError::Io(e.to_string()))
    }
}

/// An object whose new text awaits verification by Asterisk.
#[derive(Debug, Clone)]
enum Pending {
    Changed(Vec<ExpectedEndpoint>),
    Removed(Vec<String>),
    Dialplan {
        context: String,
        extensions: Vec<String>,
    },
    /// Extensions changed live: each compared priority by priority.
    DialplanLines(Vec<live_dialplan::Check>),
    Transport(ExpectedTransport),
    /// A transport taken out of pjsip.conf: Asterisk forgets it on reload but
    /// keeps its socket open until it restarts (k1).
    TransportRemoved(String),
}

/// The key of `Persisted::restart_waiting` for transports written by hand.
const HAND_WRITTEN: &str = "hand-written";

struct Worker {
    ctx: Arc<ApplyContext>,
    status: Arc<Mutex<WorkerStatus>>,
    persisted: Persisted,
    /// (kind, name) → what to verify once Asterisk has reloaded.
    pending: BTreeMap<ObjectRef, Pending>,
    desired: Arc<Mutex<Option<RenderedConfig>>>,
    /// Present when Kamailio is configured.
    kamailio: Option<KamailioStage>,
    /// The change counter read by the running apply, until recorded.
    generation: Option<i64>,
    /// The running apply follows an Asterisk restart.
    after_restart: bool,
}

/// Starts the worker. It runs a first apply at once (converging after a crash),
/// and another whenever Asterisk (re)connects while changes are pending.
pub fn spawn(
    ctx: ApplyContext,
    mut shutdown: watch::Receiver<bool>,
) -> (ApplyHandle, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<ApplyRequest>();
    let status = Arc::new(Mutex::new(WorkerStatus::default()));
    let ctx = Arc::new(ctx);
    let desired = Arc::new(Mutex::new(None));
    let handle = ApplyHandle {
        tx: tx.clone(),
        status: status.clone(),
        ctx: ctx.clone(),
    };
    let drift_task = super::drift::watch(
        ctx.clone(),
        desired.clone(),
        status.clone(),
        shutdown.clone(),
    );
    let kamailio = ctx.settings.kamailio.as_ref().and_then(|k| {
        KamailioStage::new(
            k,
            ctx.settings.asterisk.keep_backups,
            ctx.settings.cluster.node_timeout(),
        )
        .map_err(|e| tracing::error!(error = %e, "kamailio is configured but cannot be reached"))
        .ok()
    });
    let mut worker = Worker {
        kamailio,
        persisted: persisted::load(&ctx.settings.state_dir),
        ctx,
        status,
        pending: BTreeMap::new(),
        desired,
        generation: None,
        after_restart: false,
    };
    let debounce = worker.ctx.settings.apply_debounce();
    let task = tokio::spawn(async move {
        if let Err(e) =
            store::applies::close_interrupted(&worker.ctx.db, &worker.ctx.settings.node).await
        {
            tracing::warn!(error = %e, "cannot close interrupted applies");
        }
        let mut ami_state = worker.ctx.ami.state();
        // When the latest change was asked for: the gap to the next one decides
        // whether that one is part of a burst.
        let mut last_request = std::time::Instant::now();
        let mut last_apply_end = std::time::Instant::now();
        // Whether the last apply answered writes that waited for it: their
        // clients are likely to send the next ones at once.
        let mut answered_waiters = false;
        let mut batch: Vec<ApplyRequest> = vec![ApplyRequest::new("start")];
        loop {
            if batch.is_empty() {
                let mut reconnected = false;
                tokio::select! {
                    request = rx.recv() => match request {
                        Some(request) => batch.push(request),
                        None => break,
                    },
                    changed = ami_state.changed() => {
                        if changed.is_err() { break; }
                        reconnected = ami_state.borrow_and_update().is_connected();
                        if !reconnected {
                            continue;
                        }
                    }
                    _ = tokio::time::sleep(kamailio_stage::RETRY_INTERVAL), if worker.owes_kamailio() => {
                        batch.push(ApplyRequest::new("kamailio retry"));
                    }
                    _ = shutdown.wait_for(|stop| *stop) => break,
                }
                if reconnected {
                    // FullyBooted may arrive before this connection is back:
                    // whichever comes last tells a restart.
                    if let Some(request) = worker.restart_check().await {
                        batch.push(request);
                    } else if worker.owes_asterisk() {
                        batch.push(ApplyRequest::new("asterisk reconnected"));
                    }
                    continue;
                }
                // A change on an idle system goes at once; whatever arrives
                // meanwhile is taken by the next apply. A change asked for
                // soon after the one before is part of a burst: wait for the
                // burst to pause, so that it becomes one apply. (Measured
                // between requests; a change asked for while an apply ran, or
                // soon after one that answered waiting writers, is part of a
                // burst too. Not merely soon after any apply: a node following
                // another's writes hears of each just after its own apply of
                // the one before, and would otherwise wait each time.)
                let at = batch.iter().map(|r| r.at).max().unwrap_or(last_request);
                let gap = at.saturating_duration_since(last_request);
                last_request = at;
                let after_answers = answered_waiters && last_apply_end.elapsed() < debounce.quiet;
                if gap < debounce.quiet || at < last_apply_end || after_answers {
                    if !gather_burst(&mut rx, &mut batch, debounce).await {
                        break;
                    }
                } else {
                    tokio::task::yield_now().await;
                }
            }
            while let Ok(request) = rx.try_recv() {
                batch.push(request);
            }
            // A FullyBooted applies nothing by itself: it tells whether Asterisk
            // restarted, and then what waited for the restart is checked.
            if batch.iter().any(|r| r.trigger == BOOTED) {
                batch.retain(|r| r.trigger != BOOTED);
                if let Some(request) = worker.restart_check().await {
                    batch.push(request);
                }
                if batch.is_empty() {
                    continue;
                }
            }
            last_request = batch.iter().map(|r| r.at).fold(last_request, std::cmp::max);
            let mut triggers: Vec<String> = Vec::new();
            for r in &batch {
                if !triggers.contains(&r.trigger) {
                    triggers.push(r.trigger.clone());
                }
            }
            for request in batch.iter_mut() {
                if let Some(prepare) = request.prepare.take() {
                    prepare().await;
                }
            }
            let force = batch.iter().any(|r| r.force);
            worker.after_restart = batch.iter().any(|r| r.after_restart);
            let report = Arc::new(worker.run(&summarise(&triggers), force).await);
            last_apply_end = std::time::Instant::now();
            answered_waiters = batch.iter().any(|r| r.respond.is_some());
            for request in batch.drain(..) {
                if let Some(respond) = request.respond {
                    let _ = respond.send(report.clone());
                }
            }
            worker.record_for_cluster(&report).await;
        }
        drift_task.abort();
    });
    (handle, task)
}

/// Collects requests until none has arrived for `quiet`, or `max_delay` has
/// passed since the first. False when the channel closed.
async fn gather_burst(
    rx: &mut mpsc::UnboundedReceiver<ApplyRequest>,
    batch: &mut Vec<ApplyRequest>,
    debounce: crate::config::Debounce,
) -> bool {
    let deadline = tokio::time::Instant::now() + debounce.max_delay;
    loop {
        let quiet_until = (tokio::time::Instant::now() + debounce.quiet).min(deadline);
        match tokio::time::timeout_at(quiet_until, rx.recv()).await {
            Ok(Some(request)) => batch.push(request),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

fn summarise(triggers: &[String]) -> String {
    match triggers.len() {
        0 => "apply".into(),
        1..=3 => triggers.join(", "),
        n => format!("{}, {} and {} more", triggers[0], triggers[1], n - 2),
    }
}

/// Brings `pjsip.conf` and `extensions.conf` (in `paths`) in line with `rendered`,
/// leaving the blocks of objects that could not be rendered as they are.
fn sync_both(
    paths: &[PathBuf; 2],
    rendered: &RenderedConfig,
    write: &WriteOptions,
) -> Result<Vec<render::SyncOutcome>, RenderError> {
    let kept = [
        rendered.kept(ConfigFile::Pjsip),
        rendered.kept(ConfigFile::Extensions),
    ];
    let files = [
        FileSync {
            path: &paths[0],
            leader: render::ASTERISK_LEADER,
            blocks: &rendered.pjsip,
            keep: &kept[0],
            owns: ObjectRef::owns_block_in(ConfigFile::Pjsip),
        },
        FileSync {
            path: &paths[1],
            leader: render::ASTERISK_LEADER,
            blocks: &rendered.extensions,
            keep: &kept[1],
            owns: ObjectRef::owns_block_in(ConfigFile::Extensions),
        },
    ];
    render::sync_files(&files, write)
}

/// The outcome of each object the renderer refused: failed, with its reason.
fn refused_outcomes(rendered: &RenderedConfig) -> Vec<ObjectOutcome> {
    rendered
        .failures
        .iter()
        .map(|f| {
            ObjectOutcome::new(
                &f.object,
                Outcome::Failed,
                super::REFUSED,
                Some(f.error.to_string()),
            )
        })
        .collect()
}

struct Outcomes {
    files: Vec<FileOutcome>,
    reloads: Vec<ReloadRecord>,
    objects: Vec<ObjectOutcome>,
    restart_required: bool,
    detail: Option<String>,
    status: Outcome,
}

/// The detail of an apply with nothing to write or reload; others replace it.
const NOTHING_CHANGED: &str = "nothing changed";
const RESTART_NOTE: &str =
    "a PJSIP transport changed: Asterisk must be restarted to apply it (a reload does not)";

impl Outcomes {
    fn nothing_changed(files: Vec<FileOutcome>) -> Self {
        Outcomes {
            files,
            reloads: vec![],
            objects: vec![],
            restart_required: false,
            detail: Some(NOTHING_CHANGED.into()),
            status: Outcome::Verified,
        }
    }

    fn reload_failed(
        files: Vec<FileOutcome>,
        reloads: Vec<ReloadRecord>,
        objects: Vec<ObjectOutcome>,
        message: String,
    ) -> Self {
        Outcomes {
            files,
            reloads,
            objects,
            restart_required: false,
            detail: Some(message),
            status: Outcome::Failed,
        }
    }

    fn verified(
        files: Vec<FileOutcome>,
        reloads: Vec<ReloadRecord>,
        objects: Vec<ObjectOutcome>,
    ) -> Self {
        let failed = objects
            .iter()
            .filter(|o| o.status == Outcome::Failed)
            .count();
        Outcomes {
            files,
            reloads,
            objects,
            restart_required: false,
            detail: (failed > 0).then(|| format!("{failed} object(s) failed verification")),
            status: if failed > 0 {
                Outcome::Failed
            } else {
                Outcome::Verified
            },
        }
    }
}

/// What the write stage did: the files, and the modules that owe a reload.
#[derive(Default)]
struct Written {
    files: Vec<FileOutcome>,
    owed: Vec<OwedReload>,
    /// The hand-written PJSIP transports as written, to tell whether a restart is needed.
    transports: Vec<String>,
    /// A hand-written transport changed since Asterisk last reloaded pjsip.conf.
    hand_written_changed: bool,
    /// The dialplan change, made live instead of reloading extensions.conf.
    live: Option<LiveDialplan>,
}

struct LiveDialplan {
    plan: live_dialplan::LivePlan,
    /// extensions.conf's digest, remembered once the edits are made.
    digest: String,
}

struct OwedReload {
    file: &'static str,
    module: &'static str,
    /// The file's content digest, remembered once the module is reloaded.
    digest: String,
}

/// What the reload records call a dialplan change made live.
const LIVE_DIALPLAN: &str = "dialplan (live)";

/// Why a live dialplan change did not happen.
enum LiveFailed {
    /// The connection went away: the change stays pending.
    Lost(String),
    /// Asterisk refused an edit: the dialplan is reloaded instead.
    Refused(OwedReload),
}

/// How the reload stage ended.
enum Reloaded {
    All(Vec<ReloadRecord>),
    /// Asterisk answered but did not reload a module.
    Refused {
        reloads: Vec<ReloadRecord>,
        message: String,
    },
    /// The connection went away: what is left stays pending.
    Lost {
        reloads: Vec<ReloadRecord>,
        why: String,
    },
}

impl Worker {
    /// The apply that checks the transports, when Asterisk restarted and
    /// something waited for it.
    async fn restart_check(&mut self) -> Option<ApplyRequest> {
        (self.asterisk_restarted().await && !self.persisted.restart_waiting.is_empty())
            .then(ApplyRequest::after_restart)
    }

    /// Whether the Asterisk now connected started after the one seen before
    /// (`CoreStatus`); remembers it either way.
    async fn asterisk_restarted(&mut self) -> bool {
        let startup = match self.ctx.ami.startup().await {
            Ok(startup) => startup,
            Err(e) => {
                tracing::debug!(error = %e, "cannot ask Asterisk when it started");
                return false;
            }
        };
        if self.persisted.asterisk_startup.as_deref() == Some(startup.as_str()) {
            return false;
        }
        let restarted = self.persisted.asterisk_startup.replace(startup).is_some();
        if let Err(e) = persisted::save(&self.ctx.settings.state_dir, &self.persisted) {
            tracing::warn!(error = %e, "cannot save the apply state");
        }
        restarted
    }

    fn owes_kamailio(&self) -> bool {
        self.kamailio
            .as_ref()
            .is_some_and(KamailioStage::is_pending)
    }

    fn owes_asterisk(&self) -> bool {
        self.status.lock().map(|s| s.pending).unwrap_or(false)
    }

    async fn run(&mut self, trigger: &str, force: bool) -> ApplyReport {
        let started = Utc::now();
        let clock = Instant::now();
        // Read before rendering: the files written reflect at least this change.
        let generation = store::cluster::generation(&self.ctx.db).await;
        let row =
            store::applies::begin(&self.ctx.db, &self.ctx.settings.node, trigger, false).await;
        let outcomes = match self.apply(force).await {
            Ok(outcomes) => outcomes,
            Err(e) => Outcomes::reload_failed(vec![], vec![], vec![], e.to_string()),
        };
        let mut outcomes = self.with_kamailio(outcomes, force).await;
        self.note_restart(&mut outcomes);
        let id = match &row {
            Ok(row) => {
                let finished = store::applies::finish(
                    &self.ctx.db,
                    row.id,
                    store::applies::Finished {
                        status: outcomes.status.as_str().into(),
                        files: serde_json::json!(outcomes.files),
                        reloads: serde_json::json!(outcomes.reloads),
                        objects: serde_json::json!(outcomes.objects),
                        detail: outcomes.detail.clone(),
                    },
                )
                .await;
                if let Err(e) = finished {
                    tracing::error!(error = %e, "cannot record the apply outcome");
                }
                row.id
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot record an apply");
                0
            }
        };
        let report = ApplyReport {
            id,
            status: outcomes.status,
            trigger: trigger.to_owned(),
            started_at: started,
            finished_at: Utc::now(),
            files: outcomes.files,
            reloads: outcomes.reloads,
            objects: outcomes.objects,
            restart_required: outcomes.restart_required,
            detail: outcomes.detail,
        };
        self.generation = generation
            .map_err(|e| tracing::warn!(error = %e, "cannot read the change counter"))
            .ok();
        crate::metrics::record_apply(report.status.as_str(), clock.elapsed());
        let failed = report
            .objects
            .iter()
            .filter(|o| o.status == Outcome::Failed)
            .count() as u64;
        if failed > 0 {
            crate::metrics::record_verify_failures(failed);
        }
        tracing::info!(
            id,
            status = report.status.as_str(),
            trigger,
            elapsed_ms = clock.elapsed().as_secs_f64() * 1e3,
            objects = report.objects.len(),
            "apply finished"
        );
        if let Ok(mut status) = self.status.lock() {
            status.last_apply = Some(ApplySummary {
                id,
                status: report.status,
                finished_at: report.finished_at,
            });
            if report.status == Outcome::Failed {
                status.last_error = report
                    .objects
                    .iter()
                    .find(|o| o.status == Outcome::Failed)
                    .and_then(|o| o.detail.clone())
                    .or_else(|| report.detail.clone());
            }
            status.restart_required = report.restart_required;
            status.restart_waiting = self.persisted.restart_waiting.values().cloned().collect();
        }
        (self.ctx.events)(WorkerEvent::Applied(ApplyEvent {
            id: report.id,
            status: report.status,
            trigger: report.trigger.clone(),
            detail: report.detail.clone(),
            restart_required: report.restart_required,
            objects: report.objects.clone(),
        }));
        report
    }

    /// Records for the other nodes what this apply did: the generation it reached
    /// (unless Asterisk was unreachable), its outcome and each object's. Runs after
    /// the waiting writes were answered: they do not wait for it.
    async fn record_for_cluster(&mut self, report: &ApplyReport) {
        let Some(generation) = self.generation.take() else {
            return;
        };
        let applied = store::cluster::Applied {
            node: &self.ctx.settings.node,
            generation,
            caught_up: report.status != Outcome::Pending,
            apply_id: report.id,
            status: report.status.as_str(),
            finished_at: report.finished_at,
            objects: &report.objects,
        };
        if let Err(e) = store::cluster::record_applied(&self.ctx.db, &applied).await {
            tracing::warn!(error = %e, "cannot record what this node applied");
        }
    }

    /// Runs the Kamailio stage (when configured) and adds what it did.
    async fn with_kamailio(&mut self, mut outcomes: Outcomes, force: bool) -> Outcomes {
        let Some(stage) = self.kamailio.as_mut() else {
            return outcomes;
        };
        // Another node holds this Kamailio's lock and writes its lists.
        if !self
            .ctx
            .kamailio_leader
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return outcomes;
        }
        let stage = stage.run(&self.ctx.db, force).await;
        if stage.objects.iter().any(|o| o.status == Outcome::Failed) {
            outcomes.status = Outcome::Failed;
        } else if stage.objects.iter().any(|o| o.status == Outcome::Pending)
            && outcomes.status == Outcome::Verified
        {
            outcomes.status = Outcome::Pending;
        }
        if !stage.objects.is_empty() && outcomes.detail.as_deref() == Some(NOTHING_CHANGED) {
            outcomes.detail = None;
        }
        outcomes.detail = match (outcomes.detail.take(), stage.detail) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        outcomes.files.extend(stage.files);
        outcomes.reloads.extend(stage.reloads);
        outcomes.objects.extend(stage.objects);
        outcomes
    }

    /// Renders, writes the files, reloads what changed and verifies it. An object the
    /// renderer refused fails alone: it keeps its last good block and every other object
    /// goes on to Asterisk.
    async fn apply(&mut self, force: bool) -> Result<Outcomes, ApplyError> {
        let rendered = self.ctx.render().await?;
        let refused = refused_outcomes(&rendered);
        let mut outcomes = self.apply_rendered(rendered, force).await?;
        if !refused.is_empty() {
            for failure in &refused {
                tracing::warn!(kind = %failure.kind, name = %failure.name, detail = ?failure.detail, "object not rendered; its last good block stays");
            }
            let note = format!("{} object(s) could not be rendered", refused.len());
            outcomes.detail = match outcomes.detail.take() {
                Some(d) if d != NOTHING_CHANGED => Some(format!("{note}; {d}")),
                _ => Some(note),
            };
            if outcomes.status == Outcome::Verified {
                outcomes.status = Outcome::Failed;
            }
            outcomes
                .objects
                .retain(|o| !refused.iter().any(|r| r.kind == o.kind && r.name == o.name));
            outcomes.objects.extend(refused);
        }
        Ok(outcomes)
    }

    /// Writes the rendered files, reloads what changed and verifies it: one stage
    /// each, every stage's way out an `Outcomes`.
    async fn apply_rendered(
        &mut self,
        rendered: RenderedConfig,
        force: bool,
    ) -> Result<Outcomes, ApplyError> {
        // What waited for the restart is live now, unless the checks below say
        // otherwise; they need Asterisk, so without it nothing is cleared.
        if self.after_restart && self.ctx.ami.unavailable().is_none() {
            self.persisted.restart_waiting.clear();
            for block in rendered.pjsip.iter() {
                if let Some(object) = ObjectRef::from_block(ConfigFile::Pjsip, &block.id)
                    .filter(|o| o.kind() == ObjectKind::Transport)
                {
                    for expected in expected_transports(&block.body) {
                        self.pending
                            .insert(object.clone(), Pending::Transport(expected));
                    }
                }
            }
        }
        let mut written = self.write_files(rendered, force).await?;
        if written.owed.is_empty() && self.pending.is_empty() && written.live.is_none() {
            self.set_pending(false);
            return Ok(Outcomes::nothing_changed(written.files));
        }
        if let Some(why) = self.ctx.ami.unavailable() {
            return Ok(self.pending_outcome(written.files, &why));
        }
        // PJSIP first, so that a hint or Dial added live finds its endpoint.
        let live = written.live.take();
        let mut reloads = match self.reload(&written).await {
            Reloaded::All(reloads) => reloads,
            stopped => return Ok(self.reload_stopped(written.files, stopped)),
        };
        if let Some(live) = live {
            match self.edit_dialplan_live(live).await {
                Ok(record) => reloads.push(record),
                Err(LiveFailed::Lost(why)) => {
                    let mut outcomes = self.pending_outcome(written.files, &why);
                    outcomes.reloads = reloads;
                    return Ok(outcomes);
                }
                Err(LiveFailed::Refused(owed)) => {
                    let fallback = Written {
                        owed: vec![owed],
                        ..Written::default()
                    };
                    match self.reload(&fallback).await {
                        Reloaded::All(more) => reloads.extend(more),
                        stopped => return Ok(self.reload_stopped(written.files, stopped)),
                    }
                }
            }
        }
        let objects = match self.verify().await {
            Ok(objects) => objects,
            Err(e) => {
                let why = format!("Asterisk went away before the verification: {e}");
                let mut outcomes = self.pending_outcome(written.files, &why);
                outcomes.reloads = reloads;
                return Ok(outcomes);
            }
        };
        self.set_pending(false);
        self.note_transport_outcomes(&objects);
        Ok(Outcomes::verified(written.files, reloads, objects))
    }

    /// The outcome of a reload stage that did not reload everything.
    fn reload_stopped(&mut self, files: Vec<FileOutcome>, stopped: Reloaded) -> Outcomes {
        match stopped {
            Reloaded::Refused { reloads, message } => {
                let objects = self.fail_pending(&message);
                Outcomes::reload_failed(files, reloads, objects, message)
            }
            Reloaded::Lost { reloads, why } => {
                let mut outcomes = self.pending_outcome(files, &why);
                outcomes.reloads = reloads;
                outcomes
            }
            Reloaded::All(reloads) => Outcomes::verified(files, reloads, Vec::new()),
        }
    }

    /// The write stage: brings both files in line with the rendering, notes what
    /// must be verified, and plans which modules owe a reload.
    async fn write_files(
        &mut self,
        rendered: RenderedConfig,
        force: bool,
    ) -> Result<Written, ApplyError> {
        let write = WriteOptions {
            keep_backups: self.ctx.settings.asterisk.keep_backups,
            new_file_mode: 0o640,
            with_diff: false,
        };
        let paths = [self.ctx.file(PJSIP_CONF), self.ctx.file(EXTENSIONS_CONF)];
        // File I/O (and its fsyncs) off the async threads. The drift watcher compares
        // the files with `desired` under the same lock, so it never sees our own write
        // beside the previous rendering.
        let (rendered, synced) = {
            let paths = paths.clone();
            let desired = self.desired.clone();
            tokio::task::spawn_blocking(move || {
                let mut desired = desired
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let synced = sync_both(&paths, &rendered, &write);
                if synced.is_ok() {
                    *desired = Some(rendered.clone());
                }
                (rendered, synced)
            })
            .await
            .map_err(|e| ApplyError::Io(e.to_string()))?
        };
        // Managed transports are checked one by one; the fingerprint covers the rest.
        let managed_transports: Vec<String> = rendered
            .pjsip
            .iter()
            .filter_map(|b| ObjectRef::from_block(ConfigFile::Pjsip, &b.id))
            .chain(rendered.failures.iter().map(|f| f.object.clone()))
            .filter(|o| o.kind() == ObjectKind::Transport)
            .map(|o| o.key().to_owned())
            .collect();
        let mut written = Written::default();
        let mut pjsip_content = String::new();
        for (((name, module, file), blocks), (path, outcome)) in [
            (PJSIP_CONF, PJSIP_MODULE, ConfigFile::Pjsip),
            (EXTENSIONS_CONF, DIALPLAN_MODULE, ConfigFile::Extensions),
        ]
        .into_iter()
        .zip([&rendered.pjsip, &rendered.extensions])
        .zip(paths.iter().zip(synced?))
        {
            self.note_changes(file, &outcome, blocks);
            let digest = persisted::digest(&outcome.content);
            let running = self.persisted.reloaded.get(name);
            if !force && running != Some(&digest) && name == EXTENSIONS_CONF {
                // What Asterisk runs, if the file before this write is what it
                // last read (a missing file reads as empty, as it did to Asterisk).
                let live = outcome
                    .previous
                    .as_deref()
                    .filter(|p| running == Some(&persisted::digest(p)))
                    .and_then(|p| live_dialplan::plan(p, &outcome.content));
                if let Some(plan) = live {
                    written.live = Some(LiveDialplan { plan, digest });
                    written.files.push(FileOutcome {
                        path: path.display().to_string(),
                        changed: outcome.changed,
                        backup: outcome.backup.map(|b| b.display().to_string()),
                    });
                    continue;
                }
            }
            if force || running != Some(&digest) {
                written.owed.push(OwedReload {
                    file: name,
                    module,
                    digest,
                });
            }
            if name == PJSIP_CONF {
                pjsip_content = outcome.content;
            }
            written.files.push(FileOutcome {
                path: path.display().to_string(),
                changed: outcome.changed,
                backup: outcome.backup.map(|b| b.display().to_string()),
            });
        }
        if let Ok(mut status) = self.status.lock() {
            status.drift.clear();
        }
        written.transports = transport_fingerprint(&pjsip_content, &managed_transports);
        if self.after_restart {
            // Asterisk has just read every hand-written transport as it is.
            self.persisted.transports = Some(written.transports.clone());
        }
        written.hand_written_changed = written.owed.iter().any(|o| o.file == PJSIP_CONF)
            && self
                .persisted
                .transports
                .as_ref()
                .is_some_and(|t| *t != written.transports);
        Ok(written)
    }

    /// The reload stage: each owed module in turn, stopping at the first Asterisk
    /// does not reload. What was reloaded is remembered, so that it is not owed again.
    async fn reload(&mut self, written: &Written) -> Reloaded {
        let mut reloads = Vec::new();
        for owed in &written.owed {
            let module = owed.module;
            let clock = Instant::now();
            let result = self.ctx.ami.reload_module(module).await;
            let duration_ms = clock.elapsed().as_secs_f64() * 1e3;
            crate::metrics::record_reload(module, clock.elapsed());
            let message = match result {
                Ok(ReloadOutcome::Reloaded) => {
                    reloads.push(ReloadRecord {
                        module: module.into(),
                        duration_ms,
                        result: "reloaded".into(),
                    });
                    self.persisted
                        .reloaded
                        .insert(owed.file.to_owned(), owed.digest.clone());
                    if owed.file == PJSIP_CONF {
                        self.persisted.transports = Some(written.transports.clone());
                        if written.hand_written_changed {
                            self.persisted.restart_waiting.insert(
                                HAND_WRITTEN.to_owned(),
                                "a transport written by hand in pjsip.conf changed".to_owned(),
                            );
                        }
                    }
                    continue;
                }
                Ok(ReloadOutcome::NoSuchModule) => format!("Asterisk has no module {module}"),
                Ok(ReloadOutcome::Failed { message }) => {
                    format!("reload of {module} failed: {message}")
                }
                Err(e) if e.is_connection_error() => {
                    self.record_reloads(&reloads);
                    return Reloaded::Lost {
                        reloads,
                        why: format!("Asterisk went away during the reload: {e}"),
                    };
                }
                Err(e) => format!("reload of {module} failed: {e}"),
            };
            reloads.push(ReloadRecord {
                module: module.into(),
                duration_ms,
                result: message.clone(),
            });
            self.record_reloads(&reloads);
            return Reloaded::Refused { reloads, message };
        }
        if let Err(e) = persisted::save(&self.ctx.settings.state_dir, &self.persisted) {
            tracing::warn!(error = %e, "cannot save the apply state");
        }
        self.record_reloads(&reloads);
        Reloaded::All(reloads)
    }

    /// Makes a dialplan change live, then remembers the file as what Asterisk
    /// runs. A refused edit falls back to the reload (which also drops every
    /// line added live, o1); a lost connection leaves the change pending.
    async fn edit_dialplan_live(&mut self, live: LiveDialplan) -> Result<ReloadRecord, LiveFailed> {
        let clock = Instant::now();
        let ami = self.ctx.ami.clone();
        for edit in &live.plan.edits {
            let result = match edit {
                live_dialplan::Edit::Add {
                    context,
                    extension,
                    priority,
                    replace,
                } => {
                    ami.dialplan_extension_add(&crate::ami::DialplanLine {
                        context,
                        extension,
                        priority: &priority.0,
                        application: &priority.1,
                        data: &priority.2,
                        replace: *replace,
                    })
                    .await
                }
                live_dialplan::Edit::Remove {
                    context,
                    extension,
                    priority,
                } => {
                    ami.dialplan_extension_remove(context, extension, priority.as_deref())
                        .await
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if e.is_connection_error() => {
                    return Err(LiveFailed::Lost(format!(
                        "Asterisk went away during a live dialplan edit: {e}"
                    )));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a live dialplan edit was refused; reloading the dialplan instead");
                    return Err(LiveFailed::Refused(OwedReload {
                        file: EXTENSIONS_CONF,
                        module: DIALPLAN_MODULE,
                        digest: live.digest,
                    }));
                }
            }
        }
        self.persisted
            .reloaded
            .insert(EXTENSIONS_CONF.to_owned(), live.digest);
        if let Err(e) = persisted::save(&self.ctx.settings.state_dir, &self.persisted) {
            tracing::warn!(error = %e, "cannot save the apply state");
        }
        let mut by_block: BTreeMap<ObjectRef, Vec<live_dialplan::Check>> = BTreeMap::new();
        for check in live.plan.checks {
            if let Some(object) = ObjectRef::from_block(ConfigFile::Extensions, &check.block) {
                by_block.entry(object).or_default().push(check);
            }
        }
        for (object, checks) in by_block {
            self.pending.insert(object, Pending::DialplanLines(checks));
        }
        let record = ReloadRecord {
            module: LIVE_DIALPLAN.into(),
            duration_ms: clock.elapsed().as_secs_f64() * 1e3,
            result: format!("{} live edit(s), no reload", live.plan.edits.len()),
        };
        self.record_reloads(std::slice::from_ref(&record));
        Ok(record)
    }

    /// Adds every changed or removed block to what must be verified.
    fn note_changes(
        &mut self,
        file: ConfigFile,
        synced: &render::SyncOutcome,
        desired: &[ManagedBlock],
    ) {
        let changed: HashSet<&str> = synced
            .drift
            .iter()
            .filter(|d| d.kind != render::DriftKind::Unexpected)
            .map(|d| d.id.as_str())
            .collect();
        let owner = |block: &ManagedBlock| {
            let owner = ObjectRef::from_block(file, &block.id);
            if owner.is_none() {
                tracing::warn!(block = %block.id, "a managed block of no known object; not verified");
            }
            owner
        };
        for block in desired.iter().filter(|b| changed.contains(b.id.as_str())) {
            let Some(object) = owner(block) else { continue };
            let pending = match object.kind() {
                ObjectKind::Dialplan => Pending::Dialplan {
                    context: object.key().to_owned(),
                    extensions: expected_extensions(&block.body),
                },
                ObjectKind::Transport => match expected_transports(&block.body).pop() {
                    Some(expected) => Pending::Transport(expected),
                    None => continue,
                },
                _ => Pending::Changed(expected_endpoints(&block.body)),
            };
            self.pending.insert(object, pending);
        }
        for block in &synced.removed {
            let Some(object) = owner(block) else { continue };
            let pending = match object.kind() {
                ObjectKind::Dialplan => Pending::Dialplan {
                    context: object.key().to_owned(),
                    extensions: Vec::new(),
                },
                ObjectKind::Transport => Pending::TransportRemoved(object.key().to_owned()),
                _ => Pending::Removed(
                    expected_endpoints(&block.body)
                        .into_iter()
                        .map(|e| e.name)
                        .collect(),
                ),
            };
            self.pending.insert(object, pending);
        }
    }

    fn set_pending(&self, pending: bool) {
        if let Ok(mut status) = self.status.lock() {
            status.pending = pending;
        }
    }

    fn record_reloads(&self, reloads: &[ReloadRecord]) {
        if reloads.is_empty() {
            return;
        }
        if let Ok(mut status) = self.status.lock() {
            status.last_reload = Some(ReloadSummary {
                at: Utc::now(),
                modules: reloads.to_vec(),
            });
        }
    }

    fn pending_outcome(&self, files: Vec<FileOutcome>, why: &str) -> Outcomes {
        self.set_pending(true);
        if let Ok(mut status) = self.status.lock() {
            status.last_error = Some(why.to_owned());
        }
        let detail =
            format!("{why}; the change is saved and will be applied when Asterisk is back");
        let objects = self
            .pending
            .iter()
            .map(|(object, p)| ObjectOutcome::new(object, Outcome::Pending, change_of(p), None))
            .collect();
        Outcomes {
            files,
            reloads: vec![],
            objects,
            restart_required: false,
            detail: Some(detail),
            status: Outcome::Pending,
        }
    }

    fn fail_pending(&mut self, why: &str) -> Vec<ObjectOutcome> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(object, p)| {
                ObjectOutcome::new(
                    &object,
                    Outcome::Failed,
                    change_of(&p),
                    Some(why.to_owned()),
                )
            })
            .collect()
    }

    /// Asks Asterisk about every pending object. A connection error leaves them
    /// pending for the next apply.
    async fn verify(&mut self) -> Result<Vec<ObjectOutcome>, AmiError> {
        let ami = self.ctx.ami.clone();
        let items: Vec<(ObjectRef, Pending)> = self
            .pending
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let context = Arc::new(self.verify_context(&items).await?);
        let results: Vec<Result<ObjectOutcome, AmiError>> = stream::iter(items)
            .map(|(object, pending)| {
                let ami = ami.clone();
                let context = context.clone();
                async move {
                    let (status, detail) = verify_one(&ami, &pending, &context).await?;
                    Ok(ObjectOutcome::new(
                        &object,
                        status,
                        change_of(&pending),
                        detail,
                    ))
                }
            })
            .buffer_unordered(VERIFY_CONCURRENCY)
            .collect()
            .await;
        let mut objects = Vec::with_capacity(results.len());
        for result in results {
            objects.push(result?);
        }
        objects.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        self.pending.clear();
        Ok(objects)
    }

    /// What verifying `items` needs beyond one action per object: Asterisk's
    /// transport table, an endpoint that names each transport, and whether
    /// Asterisk's HTTP server takes TLS (for WebRTC phones).
    async fn verify_context(
        &self,
        items: &[(ObjectRef, Pending)],
    ) -> Result<VerifyContext, AmiError> {
        let mut context = VerifyContext::default();
        if items
            .iter()
            .any(|(_, p)| matches!(p, Pending::Transport(_) | Pending::TransportRemoved(_)))
        {
            context.running = match self.ctx.ami.command("pjsip show transports").await {
                Ok(lines) => Ok(parse_show_transports(&lines)),
                Err(e) if e.is_connection_error() => return Err(e),
                Err(e) => Err(format!(
                    "cannot list Asterisk's transports (the AMI user needs the `command` class): {e}"
                )),
            };
            let desired = self
                .desired
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for block in desired.iter().flat_map(|d| d.pjsip.iter()) {
                for endpoint in expected_endpoints(&block.body) {
                    if let Some(transport) = endpoint.transport {
                        context.users.entry(transport).or_insert(endpoint.name);
                    }
                }
            }
        }
        if items
            .iter()
            .any(|(_, p)| matches!(p, Pending::Changed(e) if e.iter().any(|e| e.webrtc)))
        {
            context.http_tls = http_tls(&self.ctx.settings.asterisk.config_dir);
        }
        Ok(context)
    }

    /// Keeps `Persisted::restart_waiting` in step with what the transports'
    /// verification found.
    fn note_transport_outcomes(&mut self, objects: &[ObjectOutcome]) {
        let kind = ObjectRef::transport("").outcome_kind();
        for outcome in objects.iter().filter(|o| o.kind == kind) {
            if outcome.status == Outcome::Pending {
                self.persisted.restart_waiting.insert(
                    outcome.name.clone(),
                    outcome.detail.clone().unwrap_or_default(),
                );
            } else if outcome.change != "removed" {
                self.persisted.restart_waiting.remove(&outcome.name);
            }
        }
        if let Err(e) = persisted::save(&self.ctx.settings.state_dir, &self.persisted) {
            tracing::warn!(error = %e, "cannot save the apply state");
        }
    }

    /// Sets the apply's `restart_required` from what waits for a restart.
    fn note_restart(&self, outcomes: &mut Outcomes) {
        outcomes.restart_required = !self.persisted.restart_waiting.is_empty();
        if outcomes.restart_required {
            outcomes.detail = Some(match outcomes.detail.take() {
                Some(d) if d != NOTHING_CHANGED => format!("{d}; {RESTART_NOTE}"),
                _ => RESTART_NOTE.to_owned(),
            });
        }
    }
}

/// Shared by every object of one verification.
struct VerifyContext {
    /// `pjsip show transports`, or why it could not be read.
    running: Result<Vec<RunningTransport>, String>,
    /// Transport name → an endpoint rayan renders that names it.
    users: std::collections::HashMap<String, String>,
    /// Whether Asterisk's HTTP server takes TLS; `Ok` when not asked.
    http_tls: Result<(), String>,
}

impl Default for VerifyContext {
    fn default() -> Self {
        VerifyContext {
            running: Ok(Vec::new()),
            users: Default::default(),
            http_tls: Ok(()),
        }
    }
}

/// Whether `http.conf` enables Asterisk's HTTP server with TLS, which WebRTC
/// phones (secure WebSocket) need. Read from the file Asterisk reads at start.
fn http_tls(config_dir: &std::path::Path) -> Result<(), String> {
    let path = config_dir.join("http.conf");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "WebRTC needs Asterisk's HTTP server with TLS, and {} cannot be read: {e}",
            path.display()
        )
    })?;
    let general = super::expect::sections(&text)
        .into_iter()
        .find(|s| s.name == "general");
    let on = |option: &str| {
        general
            .as_ref()
            .and_then(|g| g.get(option))
            .is_some_and(|v| {
                crate::model::pjsip::values::BOOL_TRUE
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(v))
            })
    };
    if !on("enabled") {
        return Err(format!(
            "WebRTC needs Asterisk's HTTP server: {} has no enabled=yes in [general]",
            path.display()
        ));
    }
    if !on("tlsenable") {
        return Err(format!(
            "WebRTC needs TLS on Asterisk's HTTP server: {} has no tlsenable=yes in [general]",
            path.display()
        ));
    }
    Ok(())
}

fn change_of(pending: &Pending) -> &'static str {
    match pending {
        Pending::Removed(_) | Pending::TransportRemoved(_) => "removed",
        _ => "changed",
    }
}

fn verified_if_none(problem: Option<String>) -> (Outcome, Option<String>) {
    match problem {
        None => (Outcome::Verified, None),
        Some(why) => (Outcome::Failed, Some(why)),
    }
}

/// The outcome of one object as Asterisk shows it now: verified, failed with
/// the reason, or (a transport) pending a restart with what waits.
async fn verify_one(
    ami: &AmiClient,
    pending: &Pending,
    context: &VerifyContext,
) -> Result<(Outcome, Option<String>), AmiError> {
    match pending {
        Pending::Changed(endpoints) => {
            let mut problems = Vec::new();
            for expected in endpoints {
                let loaded = ami.pjsip_show_endpoint(&expected.name).await?;
                if let Some(problem) = check_endpoint(expected, loaded.as_ref()) {
                    problems.push(problem);
                } else if expected.webrtc {
                    problems.extend(webrtc_problem(expected, loaded.as_ref(), context));
                }
            }
            Ok(verified_if_none(
                (!problems.is_empty()).then(|| problems.join("; ")),
            ))
        }
        Pending::Removed(names) => {
            let mut still = Vec::new();
            for name in names {
                if ami.pjsip_show_endpoint(name).await?.is_some() {
                    still.push(name.clone());
                }
            }
            Ok(verified_if_none((!still.is_empty()).then(|| {
                format!(
                    "Asterisk still has endpoint(s) {} after reload",
                    still.join(", ")
                )
            })))
        }
        Pending::Dialplan {
            context,
            extensions,
        } => {
            // ShowDialPlan needs only the `reporting` class; `Command` would need
            // `command`, which is far more than rayan should hold.
            let list = ami
                .send_list(Message::action("ShowDialPlan").with("Context", context))
                .await?;
            if !list.is_success() {
                return Ok(verified_if_none(Some(format!(
                    "Asterisk has no dialplan context {context} after reload"
                ))));
            }
            let loaded: std::collections::HashSet<&str> = list
                .events_named("ListDialplan")
                .filter_map(|e| e.get("Extension"))
                .collect();
            let missing: Vec<&str> = extensions
                .iter()
                .map(String::as_str)
                .filter(|e| !loaded.contains(e))
                .collect();
            Ok(verified_if_none((!missing.is_empty()).then(|| {
                format!(
                    "Asterisk did not load extension(s) {} into context {context}",
                    missing.join(", ")
                )
            })))
        }
        Pending::DialplanLines(checks) => {
            let mut problems = Vec::new();
            for check in checks {
                let listed = ami
                    .show_dialplan_extension(&check.context, &check.extension)
                    .await?;
                problems.extend(live_dialplan::compare(check, listed));
            }
            Ok(verified_if_none(
                (!problems.is_empty()).then(|| problems.join("; ")),
            ))
        }
        Pending::Transport(expected) => {
            let running = match &context.running {
                Ok(running) => running,
                Err(why) => return Ok((Outcome::Failed, Some(why.clone()))),
            };
            let row = running.iter().find(|r| r.name == expected.name);
            let detail = match context.users.get(&expected.name) {
                Some(endpoint) if row.is_some() => ami
                    .pjsip_show_endpoint(endpoint)
                    .await?
                    .and_then(|d| d.transport),
                _ => None,
            };
            Ok(match check_transport(expected, row, detail.as_ref()) {
                TransportState::Live { detail } => (Outcome::Verified, detail),
                TransportState::WaitsForRestart(why) => (Outcome::Pending, Some(why)),
                TransportState::Failed(why) => (Outcome::Failed, Some(why)),
            })
        }
        Pending::TransportRemoved(name) => {
            let running = match &context.running {
                Ok(running) => running,
                Err(why) => return Ok((Outcome::Failed, Some(why.clone()))),
            };
            if running.iter().any(|r| &r.name == name) {
                return Ok((
                    Outcome::Failed,
                    Some(format!("Asterisk still has transport {name} after reload")),
                ));
            }
            Ok((
                Outcome::Pending,
                Some(format!(
                    "transport {name} is removed from Asterisk's configuration; its socket keeps listening until Asterisk restarts"
                )),
            ))
        }
    }
}

/// Why a WebRTC endpoint cannot work yet, if it cannot: it needs a WebSocket
/// transport and Asterisk's HTTP server with TLS.
fn webrtc_problem(
    expected: &ExpectedEndpoint,
    loaded: Option<&crate::ami::EndpointDetails>,
    context: &VerifyContext,
) -> Option<String> {
    let name = &expected.name;
    let protocol = loaded
        .and_then(|l| l.transport.as_ref())
        .and_then(|t| t.get("Protocol"))
        .unwrap_or_default();
    if !matches!(protocol, "ws" | "wss") {
        return Some(format!(
            "WebRTC endpoint {name} needs a wss transport; its transport {} is {}",
            expected.transport.as_deref().unwrap_or("(none)"),
            if protocol.is_empty() {
                "missing"
            } else {
                protocol
            }
        ));
    }
    context
        .http_tls
        .as_ref()
        .err()
        .map(|why| format!("endpoint {name}: {why}"))
}

/// Plans both files without writing anything.
pub async fn dry_run(ctx: &ApplyContext) -> Result<DryRun, ApplyError> {
    let rendered = ctx.render().await?;
    let mut files = Vec::new();
    for (name, blocks, file) in [
        (PJSIP_CONF, &rendered.pjsip, ConfigFile::Pjsip),
        (
            EXTENSIONS_CONF,
            &rendered.extensions,
            ConfigFile::Extensions,
        ),
    ] {
        let path = ctx.file(name);
        let plan = render::plan_file_keeping(
            &path,
            ";",
            blocks,
            &rendered.kept(file),
            ObjectRef::owns_block_in(file),
        )?;
        files.push(PlannedFile {
            path: path.display().to_string(),
            changed: plan.changed,
            diff: plan.diff,
            drift: plan.drift.into_iter().map(|d| d.id).collect(),
        });
    }
    Ok(DryRun { files })
}
