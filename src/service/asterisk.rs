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
}

impl AsteriskService {
    pub(super) fn new(
        db: DatabaseConnection,
        ami: AmiClient,
        apply: ApplyHandle,
        secrets: Secrets,
        render: render::RenderSettings,
    ) -> Self {
        AsteriskService {
            db,
            ami,
            apply,
            secrets,
            render,
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
