//! Transport use cases: the sockets Asterisk listens on. A transport must not
//! share a socket with another, its certificate files must be readable, and one
//! that extensions or trunks use cannot be deleted.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::Serialize;
use utoipa::ToSchema;

use super::applies::ApplyView;
use super::write::{Action, Writer};
use super::{Page, Paging, ServiceError};
use crate::model::transport::{NewTransport, TlsSettings, TransportPatch};
use crate::model::{FieldErrors, ObjectRef, Transport, TransportProtocol};
use crate::render::RenderSettings;
use crate::store;
use crate::store::audit::Actor;

/// A transport as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransportView {
    #[schema(example = "transport-udp")]
    pub name: String,
    pub protocol: TransportProtocol,
    #[schema(example = "0.0.0.0")]
    pub bind: String,
    /// `null` for ws/wss (they use Asterisk's HTTP server).
    pub port: Option<u16>,
    pub external_media_address: Option<String>,
    pub external_signaling_address: Option<String>,
    pub external_signaling_port: Option<u16>,
    pub local_net: Vec<String>,
    pub tos: Option<String>,
    pub cos: Option<u8>,
    #[serde(skip_serializing_if = "TlsSettings::is_empty")]
    pub tls: TlsSettings,
    pub allow_reload: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In answers to writes: what Asterisk applied, and what waits for a restart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

impl From<&Transport> for TransportView {
    fn from(t: &Transport) -> Self {
        TransportView {
            name: t.name.clone(),
            protocol: t.protocol,
            bind: t.bind.to_string(),
            port: t.port,
            external_media_address: t.external_media_address.clone(),
            external_signaling_address: t.external_signaling_address.clone(),
            external_signaling_port: t.external_signaling_port,
            local_net: t.local_net.clone(),
            tos: t.tos.clone(),
            cos: t.cos,
            tls: t.tls.clone(),
            allow_reload: t.allow_reload,
            created_at: t.created_at,
            updated_at: t.updated_at,
            apply: None,
        }
    }
}

fn audit_image(t: &Transport) -> serde_json::Value {
    serde_json::to_value(TransportView::from(t)).unwrap_or_default()
}

/// The transports named by the settings (`asterisk.udp_transport`,
/// `asterisk.wss_transport`): what an extension or trunk without one uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct DefaultTransports {
    pub udp: Option<String>,
    pub wss: Option<String>,
}

impl From<&RenderSettings> for DefaultTransports {
    fn from(s: &RenderSettings) -> Self {
        DefaultTransports {
            udp: s.udp_transport.clone(),
            wss: s.wss_transport.clone(),
        }
    }
}

/// What kind of object names a transport, for the protocol check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportUser {
    /// A phone with the webrtc template: it needs ws or wss.
    WebrtcExtension,
    Extension,
    /// A provider: not over WebSocket.
    Trunk,
}

/// Checks that `name` (the `transport` field) names a transport this object can
/// use: a managed one of a fitting protocol, or one of the settings' defaults
/// (written by hand).
pub(crate) async fn check_transport_field(
    db: &impl ConnectionTrait,
    defaults: &DefaultTransports,
    user: TransportUser,
    name: &str,
    errors: &mut FieldErrors,
) -> Result<(), ServiceError> {
    match store::transports::find(db, name).await? {
        Some(t) => match user {
            TransportUser::WebrtcExtension if !t.protocol.is_websocket() => errors.push(
                "transport",
                format!(
                    "the webrtc template needs a ws or wss transport; '{name}' is {}",
                    t.protocol.as_str()
                ),
            ),
            TransportUser::Trunk if t.protocol.is_websocket() => errors.push(
                "transport",
                format!(
                    "a trunk cannot use a {} transport ('{name}')",
                    t.protocol.as_str()
                ),
            ),
            _ => {}
        },
        None if [&defaults.udp, &defaults.wss]
            .into_iter()
            .flatten()
            .any(|d| d == name) => {}
        None => errors.push(
            "transport",
            format!("no transport named '{name}' (see GET /api/v1/transports)"),
        ),
    }
    Ok(())
}

/// Transports: created, changed and removed through the one write path.
#[derive(Clone)]
pub struct TransportService {
    writer: Writer,
    defaults: DefaultTransports,
    /// Read for the transports written there by hand, which a managed one must
    /// not collide with.
    pjsip_conf: PathBuf,
}

impl TransportService {
    pub(super) fn new(writer: Writer, render: &RenderSettings, pjsip_conf: PathBuf) -> Self {
        TransportService {
            writer,
            defaults: DefaultTransports::from(render),
            pjsip_conf,
        }
    }

    /// The checks that need the disk and the database: readable certificate
    /// files and a socket of its own.
    async fn check(&self, db: &impl ConnectionTrait, t: &Transport) -> Result<(), ServiceError> {
        let mut errors = t.check().err().unwrap_or_default();
        for (field, path) in t.tls.files() {
            if errors.0.iter().any(|e| e.field == field) {
                continue;
            }
            if let Err(e) = std::fs::File::open(path) {
                errors.push(field, format!("cannot read {path}: {e}"));
            }
        }
        errors.finish()?;
        let hand_written = hand_written_transports(&self.pjsip_conf);
        if let Some(other) = hand_written.iter().find(|o| o.name == t.name) {
            return Err(ServiceError::Conflict(format!(
                "transport {} written by hand in {} (remove it there, or choose another name)",
                other.name,
                self.pjsip_conf.display()
            )));
        }
        let mut others = store::transports::all(db).await?;
        others.extend(hand_written);
        if let Some(other) = others.iter().find(|o| t.clashes_with(o)) {
            return Err(ServiceError::Conflict(format!(
                "transport {} on {} {}",
                other.name,
                other.protocol.as_str(),
                other.bind_value()
            )));
        }
        Ok(())
    }

    pub async fn create(
        &self,
        actor: &Actor,
        input: NewTransport,
    ) -> Result<TransportView, ServiceError> {
        let transport = input.into_transport(Utc::now());
        let mut write = self.writer.write(actor).await?;
        self.check(&*write, &transport).await?;
        let stored = store::transports::insert(&*write, &transport).await?;
        let object = ObjectRef::transport(&stored.name);
        write
            .audit(Action::Create, &object, None, Some(audit_image(&stored)))
            .await?;
        let mut view = TransportView::from(&stored);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn get(&self, name: &str) -> Result<TransportView, ServiceError> {
        Ok(TransportView::from(
            &store::transports::get(self.writer.db(), name).await?,
        ))
    }

    pub async fn list(&self, paging: Paging) -> Result<Page<TransportView>, ServiceError> {
        let (items, total) =
            store::transports::list(self.writer.db(), paging.limit, paging.offset).await?;
        Ok(paging.of(items.iter().map(TransportView::from).collect(), total))
    }

    pub async fn update(
        &self,
        actor: &Actor,
        name: &str,
        patch: TransportPatch,
    ) -> Result<TransportView, ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let before = store::transports::get(&*write, name).await?;
        let mut transport = before.clone();
        patch.apply_to(&mut transport);
        self.check(&*write, &transport).await?;
        if transport.protocol != before.protocol {
            self.check_users_keep_working(&*write, &transport).await?;
        }
        let after = store::transports::update(&*write, &transport).await?;
        let object = ObjectRef::transport(name);
        write
            .audit(
                Action::Update,
                &object,
                Some(audit_image(&before)),
                Some(audit_image(&after)),
            )
            .await?;
        let mut view = TransportView::from(&after);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    /// A protocol change must not strand the objects that name the transport.
    async fn check_users_keep_working(
        &self,
        db: &impl ConnectionTrait,
        t: &Transport,
    ) -> Result<(), ServiceError> {
        let (_, trunks) = store::transports::named_by(db, &t.name).await?;
        if t.protocol.is_websocket() && !trunks.is_empty() {
            return Err(ServiceError::InUse {
                what: format!("transport {}", t.name),
                by: format!(
                    "trunk(s) {}, which cannot use {}",
                    trunks.join(", "),
                    t.protocol.as_str()
                ),
            });
        }
        if !t.protocol.is_websocket() {
            let webrtc = store::transports::webrtc_extensions_naming(db, &t.name).await?;
            if !webrtc.is_empty() {
                return Err(ServiceError::InUse {
                    what: format!("transport {}", t.name),
                    by: format!(
                        "webrtc extension(s) {}, which need ws or wss",
                        webrtc.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    pub async fn delete(&self, actor: &Actor, name: &str) -> Result<ApplyView, ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let transport = store::transports::get(&*write, name).await?;
        let (mut extensions, mut trunks) = store::transports::named_by(&*write, name).await?;
        // Objects without a transport of their own use the settings' default.
        let default_for = |d: &Option<String>| d.as_deref() == Some(name);
        if default_for(&self.defaults.udp) || default_for(&self.defaults.wss) {
            let (e, t) = store::transports::using_default(
                &*write,
                default_for(&self.defaults.udp),
                default_for(&self.defaults.wss),
            )
            .await?;
            extensions.extend(e);
            trunks.extend(t);
        }
        if !extensions.is_empty() || !trunks.is_empty() {
            let mut by = Vec::new();
            if !extensions.is_empty() {
                by.push(format!("extension(s) {}", list_some(&extensions)));
            }
            if !trunks.is_empty() {
                by.push(format!("trunk(s) {}", list_some(&trunks)));
            }
            return Err(ServiceError::InUse {
                what: format!("transport {name}"),
                by: by.join("; "),
            });
        }
        store::transports::delete(&*write, &transport).await?;
        let object = ObjectRef::transport(name);
        write
            .audit(Action::Delete, &object, Some(audit_image(&transport)), None)
            .await?;
        write.commit_and_apply(&object).await
    }
}

/// The `type=transport` sections written by hand in pjsip.conf and the files
/// it includes (rayan's reader of the Asterisk dialect, as the import uses),
/// as far as they matter here: name, protocol and bind.
fn hand_written_transports(path: &Path) -> Vec<Transport> {
    let config_dir = path.parent().unwrap_or(Path::new("."));
    let Ok(tree) = crate::import::conf::read_tree(path, config_dir) else {
        return Vec::new();
    };
    (0..tree.sections.len())
        .filter(|&i| {
            let s = &tree.sections[i];
            !s.is_template && !s.managed && tree.option(i, "type") == Some("transport")
        })
        .map(|i| {
            let protocol = tree
                .option(i, "protocol")
                .and_then(TransportProtocol::parse)
                .unwrap_or_default();
            let bind = tree.option(i, "bind").unwrap_or("0.0.0.0");
            let (bind, port) = match bind.parse::<SocketAddr>() {
                Ok(a) => (a.ip(), Some(a.port())),
                Err(_) => (
                    bind.parse::<IpAddr>()
                        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    protocol.default_port(),
                ),
            };
            let mut t = NewTransport {
                name: tree.sections[i].name.clone(),
                protocol,
                bind: Some(bind),
                ..NewTransport::default()
            }
            .into_transport(Utc::now());
            t.port = port.filter(|_| !protocol.is_websocket());
            t
        })
        .collect()
}

/// The first names of a long list, and how many more.
fn list_some(names: &[String]) -> String {
    const SHOWN: usize = 20;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    }
}
