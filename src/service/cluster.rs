//! Several nodes on one PostgreSQL. Every committed write bumps the change
//! counter (the generation) and announces it (`store::cluster`). Each node:
//!
//! - follows the announcements on a connection of its own and wakes its apply
//!   worker for changes made through other nodes;
//! - compares the generation it applied with the database after every
//!   (re)connect and every `cluster.check_interval_ms`, since announcements can
//!   be lost: a node is never silently behind;
//! - says every `cluster.heartbeat_ms` that it is alive and how its Asterisk is;
//! - with a `[kamailio]` section, competes for the one advisory lock per
//!   Kamailio: its holder alone writes that Kamailio's lists, and re-applies them
//!   when a node's health changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use super::ServiceError;
use super::applies::NodeOutcome;
use super::tokens::TokenService;
use crate::ami::{AmiClient, ConnectionState};
use crate::apply::{ApplyHandle, Outcome};
use crate::config::{ClusterSettings, Settings};
use crate::model::ObjectRef;
use crate::store::cluster::{self as store_cluster, ChangeListener, Health, Heard, HeldLock};
use crate::store::kamailio::{NodeHealthRule, NodeRow};
use crate::store::{self, StoreError};

/// A node as `GET /api/v1/nodes` shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    pub name: String,
    /// `sip:<IP>[:port]`, the node's destination in dispatcher set 1; absent
    /// when the node has none.
    pub sip_address: Option<String>,
    pub ami_address: String,
    /// Heard from within `cluster.node_timeout_ms`.
    pub alive: bool,
    /// Its Asterisk's AMI connection, as the node last said.
    pub ami_connected: bool,
    pub asterisk_version: Option<String>,
    /// The change counter its files reflect, and how many changes it is behind.
    pub applied_generation: i64,
    pub behind: i64,
    pub last_apply: Option<NodeApply>,
    /// Its last heartbeat.
    pub last_seen_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeApply {
    pub id: i64,
    pub status: String,
    pub finished_at: Option<DateTime<Utc>>,
}

fn health_now(timeout: Duration) -> NodeHealthRule {
    NodeHealthRule {
        now: Utc::now(),
        timeout,
    }
}

fn node_view(row: NodeRow, generation: i64, health: &NodeHealthRule) -> NodeView {
    NodeView {
        alive: health.is_alive(&row),
        behind: (generation - row.applied_generation).max(0),
        last_apply: row.last_apply_id.map(|id| NodeApply {
            id,
            status: row.last_apply_status.clone().unwrap_or_default(),
            finished_at: row.last_apply_at,
        }),
        name: row.name,
        sip_address: (!row.sip_address.is_empty()).then_some(row.sip_address),
        ami_address: row.ami_address,
        ami_connected: row.ami_connected,
        asterisk_version: row.asterisk_version,
        applied_generation: row.applied_generation,
        last_seen_at: row.last_seen_at,
        created_at: row.created_at,
    }
}

/// The nodes and where each one stands.
#[derive(Clone)]
pub struct ClusterService {
    db: DatabaseConnection,
    node_timeout: Duration,
}

impl ClusterService {
    pub(super) fn new(db: DatabaseConnection, settings: &ClusterSettings) -> Self {
        ClusterService {
            db,
            node_timeout: settings.node_timeout(),
        }
    }

    pub async fn list_nodes(&self) -> Result<Vec<NodeView>, ServiceError> {
        let generation = store_cluster::generation(&self.db).await?;
        let health = health_now(self.node_timeout);
        Ok(store::kamailio::nodes(&self.db)
            .await?
            .into_iter()
            .map(|row| node_view(row, generation, &health))
            .collect())
    }
}

/// An object's last outcome on every node that applied it.
pub(super) async fn outcomes_by_node(
    db: &DatabaseConnection,
    object: &ObjectRef,
) -> Result<BTreeMap<String, Outcome>, ServiceError> {
    let rows =
        store_cluster::outcomes_of(db, object.outcome_kind(), &object.outcome_name()).await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.node, outcome_from(&row.status)))
        .collect())
}

fn outcome_from(status: &str) -> Outcome {
    match status {
        "verified" => Outcome::Verified,
        "failed" => Outcome::Failed,
        _ => Outcome::Pending,
    }
}

/// How often a write waiting for the other nodes looks again.
const WAIT_POLL: Duration = Duration::from_millis(10);

/// Waits until every other live node has applied `generation` (or `deadline`
/// passes) and answers each one's outcome for `object`. A node whose Asterisk
/// is down is answered `pending` at once: it applies when Asterisk is back.
pub(super) async fn wait_for_others(
    db: &DatabaseConnection,
    this_node: &str,
    node_timeout: Duration,
    object: &ObjectRef,
    generation: i64,
    deadline: tokio::time::Instant,
) -> Result<BTreeMap<String, NodeOutcome>, StoreError> {
    let kind = object.outcome_kind();
    let name = object.outcome_name();
    loop {
        let health = health_now(node_timeout);
        let others: Vec<NodeRow> = store::kamailio::nodes(db)
            .await?
            .into_iter()
            .filter(|n| n.name != this_node && health.is_alive(n))
            .collect();
        let outcomes: BTreeMap<String, store_cluster::OutcomeRow> =
            store_cluster::outcomes_of(db, kind, &name)
                .await?
                .into_iter()
                .map(|row| (row.node.clone(), row))
                .collect();
        let mut answer = BTreeMap::new();
        let mut waiting = false;
        for node in &others {
            let outcome = if node.applied_generation >= generation {
                match outcomes.get(&node.name) {
                    Some(row) if row.generation >= generation => NodeOutcome {
                        status: outcome_from(&row.status),
                        detail: row.detail.clone(),
                        finished_at: Some(row.updated_at),
                    },
                    _ => NodeOutcome {
                        status: Outcome::Verified,
                        detail: Some("applied there; nothing of it left to verify".into()),
                        finished_at: node.last_apply_at,
                    },
                }
            } else if !node.ami_connected {
                NodeOutcome {
                    status: Outcome::Pending,
                    detail: Some(
                        "its Asterisk is unreachable; the change applies when it is back".into(),
                    ),
                    finished_at: None,
                }
            } else {
                waiting = true;
                NodeOutcome {
                    status: Outcome::Pending,
                    detail: Some("not applied there yet".into()),
                    finished_at: None,
                }
            };
            answer.insert(node.name.clone(), outcome);
        }
        if !waiting || tokio::time::Instant::now() + WAIT_POLL >= deadline {
            return Ok(answer);
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

/// The advisory lock key of one Kamailio: every node configured for the same
/// `rpc_url` computes the same key.
pub fn kamailio_lock_key(rpc_url: &str) -> i64 {
    let digest = Sha256::digest(format!("rayan kamailio lists {rpc_url}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// Whether this node writes its Kamailio's lists now. On SQLite (one node) it
/// always does; on PostgreSQL while it holds that Kamailio's advisory lock.
#[derive(Clone, Debug)]
pub struct KamailioLeadership {
    leader: Arc<AtomicBool>,
}

impl KamailioLeadership {
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// The flag the apply worker reads.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.leader.clone()
    }
}

/// Tries once for the lock, so that the first apply already knows.
pub async fn claim_kamailio(
    db: &DatabaseConnection,
    settings: &Settings,
) -> Result<(KamailioLeadership, Option<HeldLock>), StoreError> {
    let Some(kamailio) = &settings.kamailio else {
        return Ok((
            KamailioLeadership {
                leader: Arc::new(AtomicBool::new(false)),
            },
            None,
        ));
    };
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok((
            KamailioLeadership {
                leader: Arc::new(AtomicBool::new(true)),
            },
            None,
        ));
    }
    let held = HeldLock::try_take(db, kamailio_lock_key(&kamailio.rpc_url)).await?;
    Ok((
        KamailioLeadership {
            leader: Arc::new(AtomicBool::new(held.is_some())),
        },
        held,
    ))
}

/// What the background tasks of this module need.
pub struct Follower {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub apply: ApplyHandle,
    pub tokens: TokenService,
    pub ami: AmiClient,
    pub leadership: KamailioLeadership,
    /// The lock [`claim_kamailio`] took, if it did.
    pub held: Option<HeldLock>,
}

impl Follower {
    /// Starts the heartbeat, the change follower and (with Kamailio) the
    /// leadership keeper; each ends when `shutdown` says so.
    pub fn spawn(mut self, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let held = self.held.take();
        let this = Arc::new(self);
        let mut tasks = vec![
            tokio::spawn(heartbeat(this.clone(), shutdown.clone())),
            tokio::spawn(follow_changes(this.clone(), shutdown.clone())),
        ];
        if this.settings.kamailio.is_some() {
            tasks.push(tokio::spawn(keep_kamailio(this, held, shutdown)));
        }
        tasks
    }
}

fn health_of(state: &ConnectionState) -> Health {
    match state {
        ConnectionState::Connected { version } => Health {
            ami_connected: true,
            asterisk_version: version.clone(),
        },
        _ => Health::default(),
    }
}

/// Every heartbeat, and at once when the AMI link changes.
async fn heartbeat(this: Arc<Follower>, mut shutdown: watch::Receiver<bool>) {
    let mut ami = this.ami.state();
    let mut tick = tokio::time::interval(this.settings.cluster.heartbeat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let health = health_of(&ami.borrow_and_update());
        if let Err(e) =
            store_cluster::heartbeat(&this.db, &this.settings.node, &health, Utc::now()).await
        {
            tracing::warn!(error = %e, "cannot record this node's heartbeat");
        }
        tokio::select! {
            _ = tick.tick() => {}
            changed = ami.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Wakes the apply worker when this node is behind the database. Not while its
/// Asterisk is down: the worker applies by itself when it is back.
async fn catch_up(this: &Follower) {
    let connected = this.ami.state().borrow().is_connected();
    let (generation, nodes) = match tokio::try_join!(
        store_cluster::generation(&this.db),
        store::kamailio::nodes(&this.db)
    ) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot compare this node's generation");
            return;
        }
    };
    let applied = nodes
        .iter()
        .find(|n| n.name == this.settings.node)
        .map_or(0, |n| n.applied_generation);
    if applied < generation && connected {
        this.tokens.forget_cached();
        this.apply
            .nudge(format!("catching up to generation {generation}"));
    }
}

async fn follow_changes(this: Arc<Follower>, mut shutdown: watch::Receiver<bool>) {
    let mut listener = None;
    let mut check = tokio::time::interval(this.settings.cluster.check_interval());
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if listener.is_none() {
            match ChangeListener::start(&this.db).await {
                Ok(Some(started)) => {
                    listener = Some(started);
                    catch_up(&this).await;
                }
                // SQLite: one node, nothing to follow.
                Ok(None) => return,
                Err(e) => tracing::warn!(error = %e, "cannot listen for changes; retrying"),
            }
        }
        let heard = async {
            match listener.as_mut() {
                Some(listener) => Some(listener.next().await),
                None => std::future::pending().await,
            }
        };
        // Decided first, acted on after: the select's output must not live
        // across the awaits below.
        enum Step {
            Heard(Option<Result<Heard, StoreError>>),
            Check,
            Stop,
        }
        let step = tokio::select! {
            heard = heard => Step::Heard(heard),
            _ = check.tick() => Step::Check,
            _ = shutdown.wait_for(|stop| *stop) => Step::Stop,
        };
        match step {
            Step::Heard(Some(Ok(Heard::Change(change)))) => {
                if change.node != this.settings.node {
                    this.tokens.forget_cached();
                    this.apply.nudge(format!(
                        "change through {} (generation {})",
                        change.node, change.generation
                    ));
                }
            }
            Step::Heard(Some(Ok(Heard::Reconnected))) => {
                tracing::info!("change listener reconnected; catching up");
                catch_up(&this).await;
            }
            Step::Heard(Some(Err(e))) => {
                tracing::warn!(error = %e, "change listener lost the database");
                listener = None;
                tokio::time::sleep(this.settings.cluster.heartbeat()).await;
            }
            Step::Heard(None) => {}
            Step::Check => catch_up(&this).await,
            Step::Stop => return,
        }
    }
}

/// The nodes that should take calls: alive, with their Asterisk connected.
async fn healthy_nodes(this: &Follower) -> Result<Vec<String>, StoreError> {
    let health = health_now(this.settings.cluster.node_timeout());
    Ok(store::kamailio::nodes(&this.db)
        .await?
        .into_iter()
        .filter(|n| health.takes_calls(n))
        .map(|n| n.name)
        .collect())
}

/// Holds (or waits for) this Kamailio's lock, and while holding it re-applies
/// the lists whenever the set of healthy nodes changes.
async fn keep_kamailio(
    this: Arc<Follower>,
    mut lock: Option<HeldLock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(kamailio) = this.settings.kamailio.clone() else {
        return;
    };
    let key = kamailio_lock_key(&kamailio.rpc_url);
    let postgres = this.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let mut healthy: Option<Vec<String>> = None;
    let mut tick = tokio::time::interval(this.settings.cluster.heartbeat());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        if postgres {
            let still = match lock.as_mut() {
                Some(lock) => lock.still_held().await,
                None => false,
            };
            if !still {
                lock = None;
                if this.leadership.is_leader() {
                    tracing::warn!("lost the Kamailio lock; another node may take over");
                    this.leadership.leader.store(false, Ordering::Relaxed);
                }
                match HeldLock::try_take(&this.db, key).await {
                    Ok(Some(taken)) => {
                        lock = Some(taken);
                        this.leadership.leader.store(true, Ordering::Relaxed);
                        healthy = None;
                        tracing::info!("this node now writes Kamailio's lists");
                        this.apply.nudge("took over Kamailio's lists");
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot try the Kamailio lock");
                        continue;
                    }
                }
            }
        }
        match healthy_nodes(&this).await {
            Ok(now) => {
                // The first sample too: the apply at start may have run before
                // this node's own Asterisk answered.
                if healthy.as_ref() != Some(&now) {
                    this.apply.nudge(format!(
                        "healthy nodes now: {}",
                        if now.is_empty() {
                            "none".into()
                        } else {
                            now.join(", ")
                        }
                    ));
                }
                healthy = Some(now);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the nodes' health"),
        }
    }
}
