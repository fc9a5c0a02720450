//! The Kamailio stage of an apply: render dispatcher sets and permissions
//! groups from the database, write both list files through the managed-block
//! editor, reload what changed over JSON-RPC, and compare what Kamailio loaded
//! with what was written. An unreachable or rate-limited Kamailio leaves the
//! reload owed and the objects `pending`; the worker retries until it converges.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use super::{FileOutcome, ObjectOutcome, Outcome, ReloadRecord};
use crate::config::KamailioSettings;
use crate::kamailio::{
    AddressCheck, DEFAULT_MAX_SUBNETS, DestinationCheck, KamailioError, KamailioRpc, ReloadKind,
    address_blocks, check_addresses, check_dispatcher, dispatcher_blocks,
};
use crate::model::ObjectRef;
use crate::render::{self, KAMAILIO_LEADER, ManagedBlock, ManagedFile, RenderError, WriteOptions};
use crate::store;

/// Every JSON-RPC call must finish within this.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one apply waits out Kamailio's reload rate limit.
const RELOAD_MAX_WAIT: Duration = Duration::from_secs(12);
/// While a reload is owed to an unreachable Kamailio, the worker retries this often.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);

pub const KIND: &str = "kamailio";
const DISPATCHER_PREFIX: &str = "Dispatcher set ";
const ADDRESS_PREFIX: &str = "Address group ";
const EMPTY_DISPATCHER: &str = "no destination to write: the dispatcher list is left as it is \
    (an empty list would make Kamailio drop every destination)";

/// What the Kamailio stage adds to an apply report.
#[derive(Default)]
pub struct StageOutcome {
    pub files: Vec<FileOutcome>,
    pub reloads: Vec<ReloadRecord>,
    pub objects: Vec<ObjectOutcome>,
    pub detail: Option<String>,
}

/// One of the two lists, and what is owed to Kamailio for it.
struct List {
    kind: ReloadKind,
    /// `dispatcher` or `permissions`.
    module: &'static str,
    /// Written but not yet loaded (also true at start: the file may be newer
    /// than what Kamailio holds).
    owed: bool,
    /// Sets or groups whose block was removed, to check they are gone.
    removed: BTreeSet<u32>,
    /// Reload owed to an unreachable or busy Kamailio.
    pending: bool,
    /// The list had nothing to write and that was reported (once, not at every apply).
    empty_reported: bool,
}

impl List {
    fn new(kind: ReloadKind, module: &'static str) -> Self {
        List {
            kind,
            module,
            owed: true,
            removed: BTreeSet::new(),
            pending: false,
            empty_reported: false,
        }
    }
}

pub struct KamailioStage {
    settings: KamailioSettings,
    /// A node silent this long leaves dispatcher set 1's rotation.
    node_timeout: std::time::Duration,
    rpc: KamailioRpc,
    write: WriteOptions,
    dispatcher: List,
    addresses: List,
}

impl KamailioStage {
    pub fn new(
        settings: &KamailioSettings,
        keep_backups: usize,
        node_timeout: std::time::Duration,
    ) -> Result<Self, KamailioError> {
        Ok(KamailioStage {
            settings: settings.clone(),
            node_timeout,
            rpc: KamailioRpc::new(&settings.rpc_url, RPC_TIMEOUT)?,
            write: WriteOptions {
                keep_backups,
                new_file_mode: 0o644,
                with_diff: false,
            },
            dispatcher: List::new(ReloadKind::Dispatcher, "dispatcher"),
            addresses: List::new(ReloadKind::Addresses, "permissions"),
        })
    }

    /// True while a reload is owed to an unreachable or busy Kamailio.
    pub fn is_pending(&self) -> bool {
        self.dispatcher.pending || self.addresses.pending
    }

    pub async fn run(&mut self, db: &DatabaseConnection, force: bool) -> StageOutcome {
        let mut out = StageOutcome::default();
        let health = store::kamailio::NodeHealthRule {
            now: chrono::Utc::now(),
            timeout: self.node_timeout,
        };
        let lists = match store::kamailio::lists(db, &health).await {
            Ok(lists) => lists,
            Err(e) => {
                out.objects.push(object(
                    "lists",
                    Outcome::Failed,
                    "changed",
                    Some(format!("cannot load: {e}")),
                ));
                return out;
            }
        };
        if force {
            self.dispatcher.owed = true;
            self.addresses.owed = true;
        }

        // An empty list would reload fine and drop every destination: never written.
        let dispatcher_written = if lists.destinations.is_empty() {
            if !std::mem::replace(&mut self.dispatcher.empty_reported, true) {
                out.objects.push(object(
                    "dispatcher list",
                    Outcome::Failed,
                    "changed",
                    Some(EMPTY_DISPATCHER.into()),
                ));
            }
            false
        } else {
            self.dispatcher.empty_reported = false;
            let path = self.settings.dispatcher_list.clone();
            let blocks = dispatcher_blocks(&lists.destinations).map_err(|e| e.to_string());
            self.sync(
                &path,
                blocks,
                DISPATCHER_PREFIX,
                Which::Dispatcher,
                &mut out,
            )
        };
        let blocks =
            address_blocks(&lists.addresses, DEFAULT_MAX_SUBNETS).map_err(|e| e.to_string());
        let path = self.settings.address_list.clone();
        let addresses_written =
            self.sync(&path, blocks, ADDRESS_PREFIX, Which::Addresses, &mut out);

        if dispatcher_written && self.dispatcher.owed {
            let sets: BTreeSet<u32> = lists.destinations.iter().map(|d| d.set_id).collect();
            let names = names(&sets, &self.dispatcher.removed, dispatcher_object);
            if self.reload(Which::Dispatcher, &names, &mut out).await {
                match check_dispatcher(&self.rpc, &lists.destinations).await {
                    Ok(checks) => {
                        out.objects.extend(dispatcher_outcomes(
                            &sets,
                            &self.dispatcher.removed,
                            &checks,
                        ));
                        self.dispatcher.removed.clear();
                    }
                    Err(e) => self.unreachable(Which::Dispatcher, &names, &e, &mut out),
                }
            }
        }
        if addresses_written && self.addresses.owed {
            let groups: BTreeSet<u32> = lists.addresses.iter().map(|a| a.group).collect();
            let names = names(&groups, &self.addresses.removed, address_object);
            if self.reload(Which::Addresses, &names, &mut out).await {
                match check_addresses(&self.rpc, &lists.addresses).await {
                    Ok(checks) => {
                        out.objects.extend(address_outcomes(
                            &groups,
                            &self.addresses.removed,
                            &checks,
                        ));
                        self.addresses.removed.clear();
                    }
                    Err(e) => self.unreachable(Which::Addresses, &names, &e, &mut out),
                }
            }
        }
        if self.is_pending() {
            out.detail = Some(
                "Kamailio is not reachable or busy; the change is saved and written, and is reloaded when Kamailio answers"
                    .into(),
            );
        }
        out
    }

    fn list(&mut self, which: Which) -> &mut List {
        match which {
            Which::Dispatcher => &mut self.dispatcher,
            Which::Addresses => &mut self.addresses,
        }
    }

    /// Writes one list file; false (with a failed object) when it cannot be rendered or written.
    fn sync(
        &mut self,
        path: &Path,
        blocks: Result<Vec<(String, String)>, String>,
        prefix: &str,
        which: Which,
        out: &mut StageOutcome,
    ) -> bool {
        let name = match which {
            Which::Dispatcher => "dispatcher list",
            Which::Addresses => "address list",
        };
        let blocks: Vec<ManagedBlock> = match blocks {
            Ok(blocks) => blocks
                .into_iter()
                .map(|(id, body)| ManagedBlock::new(id, body))
                .collect(),
            Err(e) => {
                out.objects.push(object(
                    name,
                    Outcome::Failed,
                    "changed",
                    Some(format!("not written: {e}")),
                ));
                return false;
            }
        };
        let result = current_block_ids(path).and_then(|before| {
            render::sync_file(path, KAMAILIO_LEADER, &blocks, &self.write)
                .map(|outcome| (before, outcome))
        });
        match result {
            Ok((before, outcome)) => {
                let list = self.list(which);
                for id in before {
                    let gone = !blocks.iter().any(|b| b.id == id);
                    if let Some(number) =
                        id.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok())
                        && gone
                    {
                        list.removed.insert(number);
                    }
                }
                if outcome.changed {
                    list.owed = true;
                }
                out.files.push(FileOutcome {
                    path: path.display().to_string(),
                    changed: outcome.changed,
                    backup: outcome.backup.map(|b| b.display().to_string()),
                });
                true
            }
            Err(e) => {
                out.objects.push(object(
                    name,
                    Outcome::Failed,
                    "changed",
                    Some(format!("cannot write: {e}")),
                ));
                false
            }
        }
    }

    /// Reloads one list; true when Kamailio loaded it.
    async fn reload(
        &mut self,
        which: Which,
        names: &[(String, &'static str)],
        out: &mut StageOutcome,
    ) -> bool {
        let (kind, module) = {
            let list = self.list(which);
            (list.kind, list.module)
        };
        let clock = Instant::now();
        let result = self.rpc.reload_with_retry(kind, RELOAD_MAX_WAIT).await;
        let duration_ms = clock.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(_) => {
                out.reloads.push(ReloadRecord {
                    module: module.into(),
                    duration_ms,
                    result: "reloaded".into(),
                });
                let list = self.list(which);
                list.owed = false;
                list.pending = false;
                true
            }
            Err(e) if e.is_transport() || e.is_rate_limited() => {
                out.reloads.push(ReloadRecord {
                    module: module.into(),
                    duration_ms,
                    result: e.to_string(),
                });
                self.unreachable(which, names, &e, out);
                false
            }
            Err(e) => {
                let message = format!("Kamailio refused the {module} reload: {e}");
                out.reloads.push(ReloadRecord {
                    module: module.into(),
                    duration_ms,
                    result: message.clone(),
                });
                self.list(which).pending = false;
                for (name, change) in names {
                    out.objects
                        .push(object(name, Outcome::Failed, change, Some(message.clone())));
                }
                false
            }
        }
    }

    fn unreachable(
        &mut self,
        which: Which,
        names: &[(String, &'static str)],
        error: &KamailioError,
        out: &mut StageOutcome,
    ) {
        tracing::warn!(error = %error, "kamailio: change pending");
        let list = self.list(which);
        list.pending = true;
        list.owed = true;
        for (name, change) in names {
            out.objects.push(object(
                name,
                Outcome::Pending,
                change,
                Some(error.to_string()),
            ));
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Dispatcher,
    Addresses,
}

fn dispatcher_object(set_id: u32) -> String {
    ObjectRef::dispatcher_set(set_id).outcome_name()
}

fn address_object(group: u32) -> String {
    ObjectRef::address_group(group).outcome_name()
}

fn object(name: &str, status: Outcome, change: &str, detail: Option<String>) -> ObjectOutcome {
    ObjectOutcome {
        kind: KIND.into(),
        name: name.into(),
        status,
        change: change.into(),
        detail,
    }
}

fn names(
    present: &BTreeSet<u32>,
    removed: &BTreeSet<u32>,
    name: fn(u32) -> String,
) -> Vec<(String, &'static str)> {
    present
        .iter()
        .map(|n| (name(*n), "changed"))
        .chain(
            removed
                .iter()
                .filter(|n| !present.contains(n))
                .map(|n| (name(*n), "removed")),
        )
        .collect()
}

/// The block ids in a list file now.
fn current_block_ids(path: &Path) -> Result<Vec<String>, RenderError> {
    let text = render::write::read_existing(path)?.unwrap_or_default();
    let file = ManagedFile::parse(&text, KAMAILIO_LEADER).map_err(|mut e| {
        e.path = Some(path.to_path_buf());
        RenderError::from(e)
    })?;
    Ok(file.blocks().map(|(id, _)| id.to_owned()).collect())
}

fn outcome_of(problems: Vec<String>) -> (Outcome, Option<String>) {
    if problems.is_empty() {
        (Outcome::Verified, None)
    } else {
        (Outcome::Failed, Some(problems.join("; ")))
    }
}

/// One object per written set (every destination loaded as written, nothing
/// else in the set) and per removed set (nothing left in it).
fn dispatcher_outcomes(
    sets: &BTreeSet<u32>,
    removed: &BTreeSet<u32>,
    checks: &[DestinationCheck],
) -> Vec<ObjectOutcome> {
    let problems = |set: u32| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c.set_id == i64::from(set) && !c.outcome.is_verified())
            .map(|c| format!("{}: {}", c.uri, c.outcome.label()))
            .collect()
    };
    let mut objects: Vec<ObjectOutcome> = sets
        .iter()
        .map(|set| {
            let (status, detail) = outcome_of(problems(*set));
            object(&dispatcher_object(*set), status, "changed", detail)
        })
        .collect();
    for set in removed.iter().filter(|s| !sets.contains(s)) {
        let (status, detail) = outcome_of(problems(*set));
        objects.push(object(
            &dispatcher_object(*set),
            status,
            "removed",
            detail.map(|d| format!("still loaded: {d}")),
        ));
    }
    objects
}

/// The same for permissions groups.
fn address_outcomes(
    groups: &BTreeSet<u32>,
    removed: &BTreeSet<u32>,
    checks: &[AddressCheck],
) -> Vec<ObjectOutcome> {
    let problems = |group: u32| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c.group == i64::from(group) && !c.outcome.is_verified())
            .map(|c| format!("{}/{} port {}: {}", c.ip, c.mask, c.port, c.outcome.label()))
            .collect()
    };
    let mut objects: Vec<ObjectOutcome> = groups
        .iter()
        .map(|group| {
            let (status, detail) = outcome_of(problems(*group));
            object(&address_object(*group), status, "changed", detail)
        })
        .collect();
    for group in removed.iter().filter(|g| !groups.contains(g)) {
        let (status, detail) = outcome_of(problems(*group));
        objects.push(object(
            &address_object(*group),
            status,
            "removed",
            detail.map(|d| format!("still loaded: {d}")),
        ));
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kamailio::verify_destinations;
    use crate::kamailio::{
        Attributes, Destination, DispatcherState, LiveDestination, LiveFlags, LiveState,
    };

    fn destination(set_id: u32, uri: &str) -> Destination {
        Destination {
            set_id,
            uri: uri.into(),
            state: DispatcherState::Active,
            priority: 0,
            attrs: Attributes::default(),
        }
    }

    #[test]
    fn a_set_missing_from_kamailio_fails_and_a_removed_set_still_loaded_fails() {
        // Kamailio has set 1, and a set 3 that was removed from the file.
        let written = [
            destination(1, "sip:192.0.2.1"),
            destination(2, "sip:192.0.2.2"),
        ];
        let live: Vec<LiveDestination> = [(1, "sip:192.0.2.1"), (3, "sip:192.0.2.3")]
            .into_iter()
            .map(|(set_id, uri)| LiveDestination {
                set_id,
                uri: uri.into(),
                flags: LiveFlags {
                    state: LiveState::Active,
                    probing: false,
                },
                priority: 0,
                attrs: None,
            })
            .collect();
        let checks = verify_destinations(&written, &live);
        let sets = BTreeSet::from([1, 2]);
        let outcomes = dispatcher_outcomes(&sets, &BTreeSet::from([3]), &checks);
        let by_name = |n: &str| outcomes.iter().find(|o| o.name == n).unwrap();
        assert_eq!(by_name("dispatcher set 1").status, Outcome::Verified);
        assert_eq!(by_name("dispatcher set 2").status, Outcome::Failed);
        assert_eq!(by_name("dispatcher set 3").status, Outcome::Failed);
        assert_eq!(by_name("dispatcher set 3").change, "removed");
    }
}
