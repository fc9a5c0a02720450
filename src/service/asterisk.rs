//! What Asterisk has loaded, asked now or served from memory.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::ServiceError;
use crate::ami::AmiClient;
use crate::ami::{AmiError, ConnectionState};
use crate::apply::ApplyHandle;
use crate::apply::expect::{check_endpoint, expected_endpoints};
use crate::apply::{Outcome, WorkerStatus};
use crate::render;
use crate::secrets::Secrets;
use crate::store;
use sea_orm::DatabaseConnection;

#[derive(Debug, Serialize, ToSchema)]
pub struct AsteriskStatus {
    /// True when the AMI action connection is logged in.
    pub connected: bool,
    /// `connecting`, `connected`, `disconnected: <reason>`, `authentication failed: <reason>`.
    pub ami: String,
    pub events_connected: bool,
    pub version: Option<String>,
    /// Live features Asterisk does not let rayan see, each naming the AMI class
    /// its user lacks (empty when everything works).
    pub unavailable: Vec<String>,
    #[serde(flatten)]
    pub apply: WorkerStatus,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointRow {
    pub name: String,
    /// loaded: Asterisk has it; missing: rayan renders it but Asterisk does not have it.
    pub state: String,
    /// True when rayan manages it (an extension or trunk in the database).
    pub managed: bool,
    pub aor: Option<String>,
    pub auths: Option<String>,
    pub contacts: Option<String>,
    pub device_state: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    pub extension: String,
    pub status: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Asterisk's EndpointDetail, when it has the endpoint (credentials are never included).
    #[schema(value_type = Object)]
    pub loaded: Option<BTreeMap<String, String>>,
}

fn unreachable(e: AmiError) -> ServiceError {
    ServiceError::Unavailable(format!("Asterisk is not reachable: {e}"))
}

/// Asterisk as rayan sees it: the link, what it loaded, and a verification on demand.
#[derive(Clone)]
pub struct AsteriskService {
    db: DatabaseConnection,
    ami: AmiClient,
    apply: ApplyHandle,
    secrets: Secrets,
    render: render::RenderSettings,
    live: crate::live::LiveState,
}

impl AsteriskService {
    pub(super) fn new(
        db: DatabaseConnection,
        ami: AmiClient,
        apply: ApplyHandle,
        secrets: Secrets,
        render: render::RenderSettings,
        live: crate::live::LiveState,
    ) -> Self {
        AsteriskService {
            db,
            ami,
            apply,
            secrets,
            render,
            live,
        }
    }
}

impl AsteriskService {
    pub fn status(&self) -> AsteriskStatus {
        let state = self.ami.state().borrow().clone();
        let version = match &state {
            ConnectionState::Connected { version } => version.clone(),
            _ => None,
        };
        AsteriskStatus {
            connected: state.is_connected(),
            ami: state.to_string(),
            events_connected: self.ami.event_state().borrow().is_connected(),
            version,
            unavailable: self.live.unavailable(),
            apply: self.apply.status(),
        }
    }

    /// Every endpoint Asterisk has loaded, and every one rayan renders that it lacks.
    pub async fn endpoints(&self) -> Result<Vec<EndpointRow>, ServiceError> {
        let loaded = self.ami.pjsip_show_endpoints().await.map_err(unreachable)?;
        let snapshot = store::snapshot::load(&self.db, &self.secrets).await?;
        let mut expected: BTreeMap<String, ()> = BTreeMap::new();
        for e in snapshot.extensions.iter().filter(|e| e.enabled) {
            expected.insert(e.number.clone(), ());
        }
        for t in snapshot.trunks.iter().filter(|t| t.enabled) {
            expected.insert(t.name.clone(), ());
        }
        let managed_names: std::collections::HashSet<String> = snapshot
            .extensions
            .iter()
            .map(|e| e.number.clone())
            .chain(snapshot.trunks.iter().map(|t| t.name.clone()))
            .collect();
        let field = |m: &crate::ami::Message, k: &str| {
            m.get(k).filter(|v| !v.is_empty()).map(str::to_owned)
        };
        let mut rows: Vec<EndpointRow> = loaded
            .iter()
            .filter_map(|m| {
                let name = m.get("ObjectName")?.to_owned();
                expected.remove(&name);
                Some(EndpointRow {
                    managed: managed_names.contains(&name),
                    state: "loaded".into(),
                    aor: field(m, "Aor"),
                    auths: field(m, "Auths"),
                    contacts: field(m, "Contacts"),
                    device_state: field(m, "DeviceState"),
                    name,
                })
            })
            .collect();
        rows.extend(expected.into_keys().map(|name| EndpointRow {
            name,
            state: "missing".into(),
            managed: true,
            aor: None,
            auths: None,
            contacts: None,
            device_state: None,
        }));
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }

    /// Asks Asterisk now whether it loaded extension `number` as rayan renders it.
    pub async fn verify_extension(&self, number: &str) -> Result<VerifyView, ServiceError> {
        let ext = store::extensions::get(&self.db, number).await?;
        let block = render::render_extension(&ext, &self.render).map_err(|e| {
            ServiceError::Unavailable(format!("cannot render extension {number}: {e}"))
        })?;
        let loaded = self
            .ami
            .pjsip_show_endpoint(number)
            .await
            .map_err(unreachable)?;
        let loaded_map = loaded.as_ref().map(|d| {
            d.endpoint
                .headers()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case("ActionID") && !k.eq_ignore_ascii_case("Event")
                })
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<BTreeMap<_, _>>()
        });
        let (status, detail) = match block {
            None => match loaded {
                None => (
                    Outcome::Verified,
                    Some("the extension is disabled and Asterisk does not have it".into()),
                ),
                Some(_) => (
                    Outcome::Failed,
                    Some("the extension is disabled but Asterisk still has it".into()),
                ),
            },
            Some(block) => {
                let problems: Vec<String> = expected_endpoints(&block.body)
                    .iter()
                    .filter_map(|e| check_endpoint(e, loaded.as_ref()))
                    .collect();
                if problems.is_empty() {
                    (Outcome::Verified, None)
                } else {
                    (Outcome::Failed, Some(problems.join("; ")))
                }
            }
        };
        Ok(VerifyView {
            extension: number.to_owned(),
            status,
            detail,
            loaded: loaded_map,
        })
    }
}

/// The answer to `POST /api/v1/asterisk/restart`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestartView {
    /// `verified`: Asterisk is back and every transport runs as rendered;
    /// `failed`: it is back but something does not; `pending`: it is not back
    /// within the wait (a graceful restart waits for the calls in progress).
    pub status: Outcome,
    pub detail: String,
    /// The command sent: `core restart gracefully` or `core restart now`.
    pub command: String,
    /// From the command to `FullyBooted`, when Asterisk is back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booted_after_ms: Option<u64>,
    /// Each managed transport as checked after the restart.
    pub transports: Vec<crate::apply::ObjectOutcome>,
    /// True while something still waits for a restart.
    pub restart_required: bool,
}

/// How long a restart request waits for Asterisk to come back, at most.
pub const MAX_RESTART_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

impl AsteriskService {
    /// Restarts Asterisk (`core restart gracefully`, or `now`), waits (up to
    /// `wait`) for the new process's `FullyBooted`, then has the worker check
    /// every transport and clear what waited for the restart. Asterisk closes
    /// the AMI connection without an answer and may accept a login before it is
    /// fully booted (k2); a `FullyBooted` whose `Uptime` is older than the
    /// command is another process's and does not count.
    pub async fn restart(
        &self,
        now: bool,
        wait: std::time::Duration,
    ) -> Result<RestartView, ServiceError> {
        if let Some(why) = self.ami.unavailable() {
            return Err(ServiceError::Unavailable(format!(
                "Asterisk is not reachable: {why}"
            )));
        }
        let command = if now {
            "core restart now"
        } else {
            "core restart gracefully"
        };
        let mut events = self.ami.subscribe();
        let sent = tokio::time::Instant::now();
        let apply = self.apply.clone();
        let ami = self.ami.clone();
        // Runs to the end even when the caller stops waiting, so that the
        // transports are checked whenever Asterisk is back.
        let back = tokio::spawn(async move {
            loop {
                match events.next().await {
                    Some(Ok(event)) if event.event() == Some("FullyBooted") => {
                        let uptime = event
                            .get("Uptime")
                            .and_then(|u| u.trim().parse::<u64>().ok())
                            .unwrap_or(u64::MAX);
                        if uptime <= sent.elapsed().as_secs() + 1 {
                            break;
                        }
                    }
                    Some(_) => {}
                    None => return None,
                }
            }
            let booted = sent.elapsed();
            // The events' connection hears FullyBooted; the checks need the
            // actions' connection, which may still be reconnecting.
            let mut state = ami.state();
            state.wait_for(|s| s.is_connected()).await.ok()?;
            let report = apply.after_restart().await.ok()?;
            Some((booted, report))
        });
        match self.ami.command(command).await {
            // Asterisk hangs up instead of answering (k2), or answers first.
            Ok(_) => {}
            Err(e) if e.is_connection_error() => {}
            Err(e) => {
                back.abort();
                return Err(ServiceError::Refused(format!(
                    "Asterisk refused `{command}`: {e} (the AMI user needs the `command` class)"
                )));
            }
        }
        let wait = wait.min(MAX_RESTART_WAIT);
        match tokio::time::timeout(wait.saturating_sub(sent.elapsed()), back).await {
            Ok(Ok(Some((booted, report)))) => {
                let kind = crate::model::ObjectRef::transport("").outcome_kind();
                let transports: Vec<_> = report
                    .objects
                    .iter()
                    .filter(|o| o.kind == kind)
                    .cloned()
                    .collect();
                let failed = transports.iter().any(|o| o.status == Outcome::Failed);
                let status = if failed || report.status == Outcome::Failed {
                    Outcome::Failed
                } else if report.restart_required || report.status == Outcome::Pending {
                    Outcome::Pending
                } else {
                    Outcome::Verified
                };
                let detail = match status {
                    Outcome::Verified => format!(
                        "Asterisk restarted and every transport runs as rendered ({} checked)",
                        transports.len()
                    ),
                    _ => report
                        .detail
                        .clone()
                        .unwrap_or_else(|| "Asterisk restarted; see the transports".into()),
                };
                Ok(RestartView {
                    status,
                    detail,
                    command: command.to_owned(),
                    booted_after_ms: Some(booted.as_millis() as u64),
                    transports,
                    restart_required: report.restart_required,
                })
            }
            Ok(_) => Err(ServiceError::Unavailable(
                "the AMI client or the apply worker stopped while Asterisk restarted".into(),
            )),
            Err(_) => Ok(RestartView {
                status: Outcome::Pending,
                detail: format!(
                    "restart requested; Asterisk was not fully booted within {} s{}. rayan checks the transports as soon as it is",
                    wait.as_secs(),
                    if now {
                        ""
                    } else {
                        " (a graceful restart waits for the calls in progress to end)"
                    }
                ),
                command: command.to_owned(),
                booted_after_ms: None,
                transports: Vec::new(),
                restart_required: self.apply.status().restart_required,
            }),
        }
    }
}
