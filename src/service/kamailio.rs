//! Nodes and the Kamailio use cases: dispatcher destinations, trusted
//! addresses, and Kamailio's live status.

use super::write::Action;
use crate::model::{ObjectKind, ObjectRef};
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ServiceError;
use super::applies::ApplyView;
use super::write::Writer;
use crate::config::{KamailioSettings, Settings};
use crate::kamailio::{
    Attributes, Destination, DispatcherState, KamailioRpc, TrustedAddress, canonical_sip_uri,
};
use crate::model::FieldErrors;
use crate::model::validate::double_option;
use crate::store;
use crate::store::audit::Actor;
use crate::store::kamailio::{
    AddressFields, AddressRow, DispatcherFields, DispatcherRow, attributes_text, state_name,
};

/// Every RPC call to Kamailio from a request finishes within this.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);
/// The stored attributes column holds at most this much JSON.
const MAX_ATTRIBUTES_JSON: usize = 255;

/// The administrator's intent for a destination (the list's flags column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DestinationState {
    /// Takes traffic (flags 0).
    Active,
    /// Administratively disabled (flags 4).
    Disabled,
    /// Inactive until an OPTIONS probe succeeds (flags 9).
    Probing,
}

impl From<DestinationState> for DispatcherState {
    fn from(state: DestinationState) -> Self {
        match state {
            DestinationState::Active => DispatcherState::Active,
            DestinationState::Disabled => DispatcherState::Disabled,
            DestinationState::Probing => DispatcherState::InactiveUntilProbed,
        }
    }
}

impl From<DispatcherState> for DestinationState {
    fn from(state: DispatcherState) -> Self {
        match state {
            DispatcherState::Active => DestinationState::Active,
            DispatcherState::Disabled => DestinationState::Disabled,
            DispatcherState::InactiveUntilProbed => DestinationState::Probing,
        }
    }
}

/// A dispatcher destination as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DestinationView {
    pub id: i64,
    pub set_id: u32,
    #[schema(example = "sip:192.0.2.10:5060")]
    pub uri: String,
    pub priority: i32,
    pub state: DestinationState,
    /// Share of traffic for the weight-based algorithm, 1 to 100.
    pub weight: Option<u8>,
    /// Destination unique id.
    pub duid: Option<String>,
    /// Other attributes (`socket`, `maxload`, ...).
    pub attrs: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

/// `POST /api/v1/kamailio/dispatchers`.
#[derive(Debug, PartialEq, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDestination {
    pub set_id: u32,
    /// `sip:<IPv4>[:port]` or `sip:[<IPv6>][:port]`: IP literals only.
    pub uri: String,
    /// Default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Default `active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<DestinationState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attrs: Option<BTreeMap<String, String>>,
}

/// `PATCH /api/v1/kamailio/dispatchers/{id}`: only the fields given change;
/// `null` clears `weight` and `duid`.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DestinationPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<DestinationState>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u8>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<Option<u8>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duid: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attrs: Option<BTreeMap<String, String>>,
}

/// A trusted address as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddressView {
    pub id: i64,
    pub group: u32,
    /// A host (`203.0.113.7`) or a network (`203.0.113.0/24`).
    pub address: String,
    /// 0 matches any source port.
    pub port: u16,
    pub tag: Option<String>,
    /// Set when the address comes from a trunk.
    pub trunk_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

/// `POST /api/v1/kamailio/addresses`.
#[derive(Debug, PartialEq, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    pub group: u32,
    pub address: String,
    /// Default 0 (any port).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `PATCH /api/v1/kamailio/addresses/{id}`.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<Option<String>>,
}

/// `GET /api/v1/kamailio/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KamailioStatus {
    /// The JSON-RPC endpoint, any password masked.
    pub rpc_url: String,
    pub reachable: bool,
    pub version: Option<String>,
    /// Why Kamailio could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub destinations: Vec<LiveDestinationView>,
}

/// One destination as `dispatcher.list` shows it now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LiveDestinationView {
    pub set_id: i64,
    pub uri: String,
    /// `AX`, `IP`, `DX`, ... (`P` suffix: probing).
    pub flags: String,
    pub priority: i64,
    pub attrs: Option<String>,
}

/// Answer to a delete.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedView {
    pub deleted: i64,
    pub apply: ApplyView,
}

fn destination_view(row: &DispatcherRow) -> Result<DestinationView, ServiceError> {
    let destination = store::kamailio::destination(row)?;
    Ok(DestinationView {
        id: row.id,
        set_id: destination.set_id,
        uri: destination.uri,
        priority: destination.priority,
        state: destination.state.into(),
        weight: destination.attrs.weight,
        duid: destination.attrs.duid,
        attrs: destination.attrs.extra,
        created_at: row.created_at,
        updated_at: row.updated_at,
        apply: None,
    })
}

fn address_view(row: &AddressRow) -> Result<AddressView, ServiceError> {
    let address = store::kamailio::trusted_address(row)?;
    Ok(AddressView {
        id: row.id,
        group: address.group,
        address: row.address.clone(),
        port: address.port,
        tag: address.tag,
        trunk_id: row.trunk_id,
        created_at: row.created_at,
        apply: None,
    })
}

/// Validates a destination with the list renderer's rules and returns the
/// fields to store (the URI in canonical form).
fn destination_fields(mut destination: Destination) -> Result<DispatcherFields, ServiceError> {
    let mut errors = FieldErrors::new();
    match canonical_sip_uri(&destination.uri) {
        Ok(canonical) => destination.uri = canonical,
        Err(reason) => errors.push("uri", reason),
    }
    if let Err(found) = destination.validate() {
        for error in found.0 {
            let field = error
                .field
                .replacen("attrs.extra.", "attrs.", 1)
                .replace("attrs.weight", "weight")
                .replace("attrs.duid", "duid");
            if !errors.0.iter().any(|e| e.field == field) {
                errors.push(field, error.message);
            }
        }
    }
    let attributes = attributes_text(&destination.attrs);
    if attributes.len() > MAX_ATTRIBUTES_JSON {
        errors.push(
            "attrs",
            format!(
                "too long: the attributes must fit in {MAX_ATTRIBUTES_JSON} characters of JSON"
            ),
        );
    }
    errors.finish()?;
    Ok(DispatcherFields {
        set_id: destination.set_id as i32,
        uri: destination.uri,
        priority: destination.priority,
        attributes,
        state: state_name(destination.state).into(),
    })
}

/// Validates a trusted address and returns the fields to store (the address
/// as `ip` for a host, `network/prefix` for a subnet).
fn address_fields(
    group: u32,
    text: &str,
    port: u16,
    tag: Option<String>,
) -> Result<AddressFields, ServiceError> {
    let rename = |errors: FieldErrors| {
        let mut renamed = FieldErrors::new();
        for error in errors.0 {
            let field = if error.field == "ip" || error.field == "mask" {
                "address".to_owned()
            } else {
                error.field
            };
            renamed.push(field, error.message);
        }
        renamed
    };
    let mut address = TrustedAddress::from_cidr(group, text).map_err(rename)?;
    address.port = port;
    address.tag = tag;
    address.validate().map_err(rename)?;
    let canonical = if address.is_host() {
        address.ip.to_string()
    } else {
        format!("{}/{}", address.ip, address.mask)
    };
    Ok(AddressFields {
        group_id: group as i32,
        address: canonical,
        port: i32::from(port),
        tag: address.tag,
    })
}

/// Registers this node at start, before the first apply: its name, SIP
/// address (for dispatcher set 1) and AMI address.
pub async fn register_local_node(
    db: &sea_orm::DatabaseConnection,
    settings: &Settings,
) -> Result<(), ServiceError> {
    let sip = match settings
        .kamailio
        .as_ref()
        .and_then(|k| k.node_sip_uri.as_deref())
    {
        Some(uri) => canonical_sip_uri(uri).map_err(|reason| {
            let mut errors = FieldErrors::new();
            errors.push("kamailio.node_sip_uri", reason);
            ServiceError::Validation(errors)
        })?,
        None => String::new(),
    };
    store::kamailio::register_node(db, &settings.node, &sip, &settings.asterisk.ami_addr).await?;
    Ok(())
}

fn audit_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// Kamailio's dispatcher destinations, trusted addresses and the nodes; every
/// route answers 404 without a `[kamailio]` section.
#[derive(Clone)]
pub struct KamailioService {
    writer: Writer,
    settings: Option<KamailioSettings>,
}

impl KamailioService {
    pub(super) fn new(writer: Writer, settings: Option<KamailioSettings>) -> Self {
        KamailioService { writer, settings }
    }
}

impl KamailioService {
    /// Kamailio's settings, or the 404 every Kamailio route gives without them.
    pub fn configured(&self) -> Result<&KamailioSettings, ServiceError> {
        self.settings.as_ref().ok_or_else(|| {
            ServiceError::NotConfigured(
                "Kamailio is not configured: add a [kamailio] section (rpc_url, dispatcher_list, address_list) to enable it"
                    .into(),
            )
        })
    }

    pub async fn list_destinations(&self) -> Result<Vec<DestinationView>, ServiceError> {
        self.configured()?;
        store::kamailio::dispatchers(self.writer.db())
            .await?
            .iter()
            .map(destination_view)
            .collect()
    }

    pub async fn get_destination(&self, id: i64) -> Result<DestinationView, ServiceError> {
        self.configured()?;
        destination_view(&store::kamailio::dispatcher(self.writer.db(), id).await?)
    }

    pub async fn create_destination(
        &self,
        actor: &Actor,
        input: NewDestination,
    ) -> Result<DestinationView, ServiceError> {
        self.configured()?;
        let fields = destination_fields(Destination {
            set_id: input.set_id,
            uri: input.uri,
            state: input.state.map(Into::into).unwrap_or_default(),
            priority: input.priority.unwrap_or(0),
            attrs: Attributes {
                duid: input.duid,
                weight: input.weight,
                extra: input.attrs.unwrap_or_default(),
            },
        })?;
        let mut write = self.writer.write(actor).await?;
        let row = store::kamailio::insert_dispatcher(&*write, fields).await?;
        let mut view = destination_view(&row)?;
        let audited = ObjectRef::new(ObjectKind::KamailioDispatcher, row.id.to_string());
        write
            .audit(Action::Create, &audited, None, Some(audit_json(&view)))
            .await?;
        view.apply = Some(
            write
                .commit_and_apply(&ObjectRef::dispatcher_set(view.set_id))
                .await?,
        );
        Ok(view)
    }

    pub async fn update_destination(
        &self,
        actor: &Actor,
        id: i64,
        patch: DestinationPatch,
    ) -> Result<DestinationView, ServiceError> {
        self.configured()?;
        let mut write = self.writer.write(actor).await?;
        let before_row = store::kamailio::dispatcher(&*write, id).await?;
        let before = destination_view(&before_row)?;
        let mut destination = store::kamailio::destination(&before_row)?;
        if let Some(set_id) = patch.set_id {
            destination.set_id = set_id;
        }
        if let Some(uri) = patch.uri {
            destination.uri = uri;
        }
        if let Some(priority) = patch.priority {
            destination.priority = priority;
        }
        if let Some(state) = patch.state {
            destination.state = state.into();
        }
        if let Some(weight) = patch.weight {
            destination.attrs.weight = weight;
        }
        if let Some(duid) = patch.duid {
            destination.attrs.duid = duid;
        }
        if let Some(extra) = patch.attrs {
            destination.attrs.extra = extra;
        }
        let fields = destination_fields(destination)?;
        let row = store::kamailio::update_dispatcher(&*write, id, fields).await?;
        let mut view = destination_view(&row)?;
        let audited = ObjectRef::new(ObjectKind::KamailioDispatcher, id.to_string());
        write
            .audit(
                Action::Update,
                &audited,
                Some(audit_json(&before)),
                Some(audit_json(&view)),
            )
            .await?;
        view.apply = Some(
            write
                .commit_and_apply(&ObjectRef::dispatcher_set(view.set_id))
                .await?,
        );
        Ok(view)
    }

    pub async fn delete_destination(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<ApplyView, ServiceError> {
        self.configured()?;
        let mut write = self.writer.write(actor).await?;
        let row = store::kamailio::dispatcher(&*write, id).await?;
        let before = destination_view(&row)?;
        store::kamailio::delete_dispatcher(&*write, id).await?;
        let audited = ObjectRef::new(ObjectKind::KamailioDispatcher, id.to_string());
        write
            .audit(Action::Delete, &audited, Some(audit_json(&before)), None)
            .await?;
        write
            .commit_and_apply(&ObjectRef::dispatcher_set(before.set_id))
            .await
    }

    pub async fn list_addresses(&self) -> Result<Vec<AddressView>, ServiceError> {
        self.configured()?;
        store::kamailio::addresses(self.writer.db())
            .await?
            .iter()
            .map(address_view)
            .collect()
    }

    pub async fn get_address(&self, id: i64) -> Result<AddressView, ServiceError> {
        self.configured()?;
        address_view(&store::kamailio::address(self.writer.db(), id).await?)
    }

    pub async fn create_address(
        &self,
        actor: &Actor,
        input: NewAddress,
    ) -> Result<AddressView, ServiceError> {
        self.configured()?;
        let fields = address_fields(
            input.group,
            &input.address,
            input.port.unwrap_or(0),
            input.tag,
        )?;
        let mut write = self.writer.write(actor).await?;
        if store::kamailio::find_same_address(&*write, &fields, None)
            .await?
            .is_some()
        {
            return Err(same_address(&fields));
        }
        let row = store::kamailio::insert_address(&*write, fields).await?;
        let mut view = address_view(&row)?;
        let audited = ObjectRef::new(ObjectKind::KamailioAddress, row.id.to_string());
        write
            .audit(Action::Create, &audited, None, Some(audit_json(&view)))
            .await?;
        view.apply = Some(
            write
                .commit_and_apply(&ObjectRef::address_group(view.group))
                .await?,
        );
        Ok(view)
    }

    pub async fn update_address(
        &self,
        actor: &Actor,
        id: i64,
        patch: AddressPatch,
    ) -> Result<AddressView, ServiceError> {
        self.configured()?;
        let mut write = self.writer.write(actor).await?;
        let before = address_view(&store::kamailio::address(&*write, id).await?)?;
        let fields = address_fields(
            patch.group.unwrap_or(before.group),
            patch.address.as_deref().unwrap_or(&before.address),
            patch.port.unwrap_or(before.port),
            patch.tag.unwrap_or_else(|| before.tag.clone()),
        )?;
        if store::kamailio::find_same_address(&*write, &fields, Some(id))
            .await?
            .is_some()
        {
            return Err(same_address(&fields));
        }
        let row = store::kamailio::update_address(&*write, id, fields).await?;
        let mut view = address_view(&row)?;
        let audited = ObjectRef::new(ObjectKind::KamailioAddress, id.to_string());
        write
            .audit(
                Action::Update,
                &audited,
                Some(audit_json(&before)),
                Some(audit_json(&view)),
            )
            .await?;
        view.apply = Some(
            write
                .commit_and_apply(&ObjectRef::address_group(view.group))
                .await?,
        );
        Ok(view)
    }

    pub async fn delete_address(&self, actor: &Actor, id: i64) -> Result<ApplyView, ServiceError> {
        self.configured()?;
        let mut write = self.writer.write(actor).await?;
        let before = address_view(&store::kamailio::address(&*write, id).await?)?;
        store::kamailio::delete_address(&*write, id).await?;
        let audited = ObjectRef::new(ObjectKind::KamailioAddress, id.to_string());
        write
            .audit(Action::Delete, &audited, Some(audit_json(&before)), None)
            .await?;
        write
            .commit_and_apply(&ObjectRef::address_group(before.group))
            .await
    }

    /// Kamailio's version and live destinations; an unreachable Kamailio is
    /// reported, not an error.
    pub async fn status(&self) -> Result<KamailioStatus, ServiceError> {
        let settings = self.configured()?;
        let rpc = KamailioRpc::new(&settings.rpc_url, STATUS_TIMEOUT)
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let mut status = KamailioStatus {
            rpc_url: rpc.url().to_owned(),
            reachable: false,
            version: None,
            error: None,
            destinations: vec![],
        };
        match rpc.version().await {
            Ok(version) => {
                status.reachable = true;
                status.version = Some(version.trim().to_owned());
            }
            Err(e) => {
                status.error = Some(e.to_string());
                return Ok(status);
            }
        }
        match rpc.dispatcher_list().await {
            Ok(live) => {
                status.destinations = live
                    .into_iter()
                    .map(|d| LiveDestinationView {
                        set_id: d.set_id,
                        uri: d.uri,
                        flags: d.flags.to_string(),
                        priority: d.priority,
                        attrs: d.attrs,
                    })
                    .collect();
            }
            Err(e) => status.error = Some(format!("dispatcher.list: {e}")),
        }
        Ok(status)
    }
}

fn same_address(fields: &AddressFields) -> ServiceError {
    ServiceError::Conflict(format!(
        "trusted address {} port {} in group {}",
        fields.address, fields.port, fields.group_id
    ))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::kamailio::{DEFAULT_MAX_SUBNETS, address_blocks, dispatcher_blocks};

    /// Text close to what a client may send: IP literals, ports, separators
    /// and the characters Kamailio's list parsers split on.
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "sip:(127\\.1\\.0\\.[1-9]{1,2}|\\[2001:db8::[1-9a-f]{1,4}\\])(:[1-9][0-9]{0,3})?",
            1 => "sip:(127\\.1\\.0\\.[0-9]{1,3}|\\[[0-9a-f:]{2,12}\\]|gw\\.example)(:[0-9]{0,6})?[ ;\\n\\t=#,]?[a-z0-9]{0,3}",
            1 => "[ -~\\n\\t]{0,24}",
        ]
    }

    fn row(fields: DispatcherFields) -> DispatcherRow {
        DispatcherRow {
            id: 1,
            set_id: fields.set_id,
            uri: fields.uri,
            priority: fields.priority,
            attributes: fields.attributes,
            state: fields.state,
            node_id: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the API accepts is stored in a form the renderer writes:
        /// one accepted row can never block the whole list.
        #[test]
        fn an_accepted_destination_always_renders(
            set_id in 0u32..5, uri in hostile(), priority in prop_oneof![4 => 0i32..100, 1 => -5i32..0],
            weight in proptest::option::of(prop_oneof![4 => 1u8..=100, 1 => any::<u8>()]),
            duid in proptest::option::of(prop_oneof![4 => "[a-z0-9]{1,6}", 1 => "[ -~]{0,6}"]),
            extra in proptest::option::of(("[a-z][a-z_]{0,5}", prop_oneof![4 => "[a-z0-9.:]{1,8}", 1 => "[ -~]{0,8}"])),
        ) {
            let destination = Destination {
                set_id,
                uri,
                state: DispatcherState::Disabled,
                priority,
                attrs: Attributes { duid, weight, extra: extra.into_iter().collect() },
            };
            if let Ok(fields) = destination_fields(destination) {
                let stored = store::kamailio::destination(&row(fields)).expect("stored row reads back");
                let blocks = dispatcher_blocks(std::slice::from_ref(&stored)).expect("accepted row renders");
                prop_assert_eq!(blocks.len(), 1);
                prop_assert_eq!(blocks[0].1.lines().count(), 1);
            }
        }

        #[test]
        fn an_accepted_address_always_renders(
            group in 0u32..3, text in prop_oneof!["(10|192)\\.[0-9]{1,3}\\.0\\.[0-9]{1,3}(/[0-9]{1,3})?", "[ -~\\n]{0,20}"],
            port in any::<u16>(), tag in proptest::option::of("[ -~\\n]{0,8}"),
        ) {
            if let Ok(fields) = address_fields(group, &text, port, tag) {
                let stored = AddressRow {
                    id: 1,
                    group_id: fields.group_id,
                    address: fields.address,
                    port: fields.port,
                    tag: fields.tag,
                    trunk_id: None,
                    created_at: Utc::now(),
                };
                let address = store::kamailio::trusted_address(&stored).expect("stored row reads back");
                let blocks = address_blocks(&[address], DEFAULT_MAX_SUBNETS).expect("accepted row renders");
                prop_assert_eq!(blocks[0].1.lines().count(), 1);
            }
        }
    }

    #[test]
    fn field_errors_name_the_api_fields() {
        let destination = Destination {
            set_id: 1,
            uri: "sip:127.1.0.2".into(),
            state: DispatcherState::Active,
            priority: 0,
            attrs: Attributes {
                duid: Some("a b".into()),
                weight: Some(0),
                extra: [("socket".into(), "x y".into())].into(),
            },
        };
        let Err(ServiceError::Validation(errors)) = destination_fields(destination) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["duid", "weight", "attrs.socket"]);
        let Err(ServiceError::Validation(errors)) = address_fields(1, "10.1.2.3/8", 0, None) else {
            panic!("accepted")
        };
        assert_eq!(errors.0[0].field, "address");
    }
}
