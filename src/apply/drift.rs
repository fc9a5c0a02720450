//! Watches the managed files: when a managed block is edited by hand, reports
//! drift (an event and a flag in the status); the next apply restores the block.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::WorkerStatus;
use super::worker::{ApplyContext, EXTENSIONS_CONF, PJSIP_CONF, WorkerEvent};
use crate::events::DriftEvent;
use crate::model::{ConfigFile, ObjectRef};
use crate::render::{ManagedFile, RenderedConfig};

/// Time for an editor's write-then-rename to settle before the file is read.
const SETTLE: Duration = Duration::from_millis(100);

pub fn watch(
    ctx: Arc<ApplyContext>,
    desired: Arc<Mutex<Option<RenderedConfig>>>,
    status: Arc<Mutex<WorkerStatus>>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (tx, mut rx) = mpsc::unbounded_channel::<()>();
        let dir = ctx.settings.asterisk.config_dir.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            let ours = event.paths.iter().any(|p| {
                p.file_name()
                    .is_some_and(|n| n == PJSIP_CONF || n == EXTENSIONS_CONF)
            });
            if ours && !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = tx.send(());
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the Asterisk config dir; drift is only found at the next apply");
                return;
            }
        };
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the Asterisk config dir");
            return;
        }
        loop {
            tokio::select! {
                event = rx.recv() => if event.is_none() { break },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            // Read and compare under the worker's lock: a file it is writing is
            // compared with what it is writing, never with the previous rendering.
            let desired = desired.clone();
            let dir = dir.clone();
            let Ok(Some(drifted)) = tokio::task::spawn_blocking(move || {
                let desired = desired
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let rendered = desired.as_ref()?;
                let mut drifted = Vec::new();
                for (name, blocks, file) in [
                    (PJSIP_CONF, &rendered.pjsip, ConfigFile::Pjsip),
                    (
                        EXTENSIONS_CONF,
                        &rendered.extensions,
                        ConfigFile::Extensions,
                    ),
                ] {
                    let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
                        continue;
                    };
                    match ManagedFile::parse(&text, ";") {
                        Ok(parsed) => drifted.extend(
                            parsed
                                .drift_keeping(
                                    blocks,
                                    &parsed.kept_with_foreign(
                                        &rendered.kept(file),
                                        ObjectRef::owns_block_in(file),
                                    ),
                                )
                                .into_iter()
                                .map(|d| format!("{name}: {}", d.id)),
                        ),
                        Err(e) => drifted.push(format!("{name}: managed markers broken ({e})")),
                    }
                }
                Some(drifted)
            })
            .await
            else {
                continue;
            };
            let changed = status.lock().map(|mut s| {
                let changed = s.drift != drifted;
                s.drift = drifted.clone();
                changed
            });
            if changed.unwrap_or(false) && !drifted.is_empty() {
                tracing::warn!(blocks = ?drifted, "managed blocks were edited by hand; the next apply restores them");
                (ctx.events)(WorkerEvent::Drift(DriftEvent { blocks: drifted }));
            }
        }
    })
}
