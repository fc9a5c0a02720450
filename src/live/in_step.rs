//! Keeping a live map in step with Asterisk: a snapshot after every connect,
//! events in between.

use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::ami::{AmiClient, AmiError};

/// Runs `take_snapshot` once both AMI connections are up, again after every
/// reconnect and whenever `resync` is notified (events were lost), until
/// `shutdown`. Events in between keep the cache current.
pub(crate) fn keep_in_step<F, Fut>(
    ami: AmiClient,
    resync: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
    mut take_snapshot: F,
) -> JoinHandle<()>
where
    F: FnMut(AmiClient) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), AmiError>> + Send,
{
    tokio::spawn(async move {
        let mut events = ami.event_state();
        let mut actions = ami.state();
        let mut snapshot_due = true;
        loop {
            if snapshot_due && events.borrow().is_connected() && actions.borrow().is_connected() {
                match take_snapshot(ami.clone()).await {
                    Ok(()) => snapshot_due = false,
                    Err(e) => {
                        tracing::debug!(error = %e, what, "snapshot failed; retrying at the next connect")
                    }
                }
            }
            tokio::select! {
                () = resync.notified() => snapshot_due = true,
                changed = events.changed() => {
                    if changed.is_err() { break }
                    if events.borrow_and_update().is_connected() { snapshot_due = true }
                }
                changed = actions.changed() => {
                    if changed.is_err() { break }
                    if actions.borrow_and_update().is_connected() { snapshot_due = true }
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
    })
}
