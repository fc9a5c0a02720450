//! Nodes, Kamailio dispatcher destinations and trusted addresses.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::StoreError;
use super::entities::{kamailio_address, kamailio_dispatcher, node, trunk};
use crate::model::kamailio::{
    Attributes, Destination, DispatcherState, TrustedAddress, canonical_sip_uri,
};
use crate::templates::AuthType;

pub type NodeRow = node::Model;
pub type DispatcherRow = kamailio_dispatcher::Model;
pub type AddressRow = kamailio_address::Model;

/// Inserts the node, or refreshes its addresses and `last_seen_at`.
pub async fn register_node(
    db: &impl ConnectionTrait,
    name: &str,
    sip_address: &str,
    ami_address: &str,
) -> Result<NodeRow, StoreError> {
    let now = Utc::now();
    let existing = node::Entity::find()
        .filter(node::Column::Name.eq(name))
        .one(db)
        .await?;
    let model = match existing {
        Some(row) => {
            let mut active: node::ActiveModel = row.into();
            active.sip_address = Set(sip_address.to_owned());
            active.ami_address = Set(ami_address.to_owned());
            active.last_seen_at = Set(Some(now));
            active.update(db).await?
        }
        None => node::ActiveModel {
            name: Set(name.to_owned()),
            sip_address: Set(sip_address.to_owned()),
            ami_address: Set(ami_address.to_owned()),
            last_seen_at: Set(Some(now)),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, format!("node {name}")))?,
    };
    Ok(model)
}

pub async fn nodes(db: &impl ConnectionTrait) -> Result<Vec<NodeRow>, StoreError> {
    Ok(node::Entity::find()
        .order_by_asc(node::Column::Name)
        .all(db)
        .await?)
}

/// A destination to insert or write back.
pub struct DispatcherFields {
    pub set_id: i32,
    pub uri: String,
    pub priority: i32,
    /// The attributes as JSON text.
    pub attributes: String,
    pub state: String,
}

pub async fn dispatchers(db: &impl ConnectionTrait) -> Result<Vec<DispatcherRow>, StoreError> {
    Ok(kamailio_dispatcher::Entity::find()
        .order_by_asc(kamailio_dispatcher::Column::SetId)
        .order_by_asc(kamailio_dispatcher::Column::Id)
        .all(db)
        .await?)
}

pub async fn dispatcher(db: &impl ConnectionTrait, id: i64) -> Result<DispatcherRow, StoreError> {
    kamailio_dispatcher::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("dispatcher destination {id}")))
}

pub async fn insert_dispatcher(
    db: &impl ConnectionTrait,
    fields: DispatcherFields,
) -> Result<DispatcherRow, StoreError> {
    let now = Utc::now();
    let what = format!("destination {} in set {}", fields.uri, fields.set_id);
    kamailio_dispatcher::ActiveModel {
        set_id: Set(fields.set_id),
        uri: Set(fields.uri),
        priority: Set(fields.priority),
        attributes: Set(fields.attributes),
        state: Set(fields.state),
        node_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| StoreError::conflict_as(e, what))
}

pub async fn update_dispatcher(
    db: &impl ConnectionTrait,
    id: i64,
    fields: DispatcherFields,
) -> Result<DispatcherRow, StoreError> {
    let what = format!("destination {} in set {}", fields.uri, fields.set_id);
    let mut active: kamailio_dispatcher::ActiveModel = dispatcher(db, id).await?.into();
    active.set_id = Set(fields.set_id);
    active.uri = Set(fields.uri);
    active.priority = Set(fields.priority);
    active.attributes = Set(fields.attributes);
    active.state = Set(fields.state);
    active.updated_at = Set(Utc::now());
    active
        .update(db)
        .await
        .map_err(|e| StoreError::conflict_as(e, what))
}

pub async fn delete_dispatcher(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    kamailio_dispatcher::Entity::delete_by_id(id)
        .exec(db)
        .await?;
    Ok(())
}

/// A trusted address to insert or write back.
pub struct AddressFields {
    pub group_id: i32,
    /// `ip` or `network/prefix`.
    pub address: String,
    pub port: i32,
    pub tag: Option<String>,
}

pub async fn addresses(db: &impl ConnectionTrait) -> Result<Vec<AddressRow>, StoreError> {
    Ok(kamailio_address::Entity::find()
        .order_by_asc(kamailio_address::Column::GroupId)
        .order_by_asc(kamailio_address::Column::Id)
        .all(db)
        .await?)
}

pub async fn address(db: &impl ConnectionTrait, id: i64) -> Result<AddressRow, StoreError> {
    kamailio_address::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("trusted address {id}")))
}

/// The row with the same group, address and port, other than `except`.
pub async fn find_same_address(
    db: &impl ConnectionTrait,
    fields: &AddressFields,
    except: Option<i64>,
) -> Result<Option<AddressRow>, StoreError> {
    let mut query = kamailio_address::Entity::find()
        .filter(kamailio_address::Column::GroupId.eq(fields.group_id))
        .filter(kamailio_address::Column::Address.eq(fields.address.as_str()))
        .filter(kamailio_address::Column::Port.eq(fields.port));
    if let Some(id) = except {
        query = query.filter(kamailio_address::Column::Id.ne(id));
    }
    Ok(query.one(db).await?)
}

pub async fn insert_address(
    db: &impl ConnectionTrait,
    fields: AddressFields,
) -> Result<AddressRow, StoreError> {
    Ok(kamailio_address::ActiveModel {
        group_id: Set(fields.group_id),
        address: Set(fields.address),
        port: Set(fields.port),
        tag: Set(fields.tag),
        trunk_id: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn update_address(
    db: &impl ConnectionTrait,
    id: i64,
    fields: AddressFields,
) -> Result<AddressRow, StoreError> {
    let mut active: kamailio_address::ActiveModel = address(db, id).await?.into();
    active.group_id = Set(fields.group_id);
    active.address = Set(fields.address);
    active.port = Set(fields.port);
    active.tag = Set(fields.tag);
    Ok(active.update(db).await?)
}

pub async fn delete_address(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    kamailio_address::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// The stored name of a destination's administrative state.
pub fn state_name(state: DispatcherState) -> &'static str {
    match state {
        DispatcherState::Active => "active",
        DispatcherState::Disabled => "disabled",
        DispatcherState::InactiveUntilProbed => "probing",
    }
}

fn parse_state(name: &str) -> Option<DispatcherState> {
    match name {
        "active" => Some(DispatcherState::Active),
        "disabled" => Some(DispatcherState::Disabled),
        "probing" => Some(DispatcherState::InactiveUntilProbed),
        _ => None,
    }
}

/// The attributes as stored: JSON text, empty when there are none.
pub fn attributes_text(attrs: &Attributes) -> String {
    if attrs.is_empty() {
        String::new()
    } else {
        serde_json::to_string(attrs).unwrap_or_default()
    }
}

/// A stored destination as the renderer takes it.
pub fn destination(row: &DispatcherRow) -> Result<Destination, StoreError> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("dispatcher destination {}: {what}", row.id));
    let attrs = if row.attributes.is_empty() {
        Attributes::default()
    } else {
        serde_json::from_str(&row.attributes).map_err(|e| corrupt(&format!("attributes: {e}")))?
    };
    Ok(Destination {
        set_id: u32::try_from(row.set_id).map_err(|_| corrupt("negative set id"))?,
        uri: row.uri.clone(),
        state: parse_state(&row.state)
            .ok_or_else(|| corrupt(&format!("unknown state {:?}", row.state)))?,
        priority: row.priority,
        attrs,
    })
}

/// A stored trusted address as the renderer takes it.
pub fn trusted_address(row: &AddressRow) -> Result<TrustedAddress, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("trusted address {}: {what}", row.id));
    let group = u32::try_from(row.group_id).map_err(|_| corrupt("negative group".into()))?;
    let mut address =
        TrustedAddress::from_cidr(group, &row.address).map_err(|e| corrupt(e.to_string()))?;
    address.port = u16::try_from(row.port).map_err(|_| corrupt(format!("port {}", row.port)))?;
    address.tag = row.tag.clone();
    Ok(address)
}

/// The set every Asterisk node with a SIP address is put in.
pub const NODE_SET: u32 = 1;

/// Everything the Kamailio lists are rendered from.
#[derive(Debug, Clone, Default)]
pub struct KamailioLists {
    pub destinations: Vec<Destination>,
    pub addresses: Vec<TrustedAddress>,
}

/// Which nodes take calls: those heard from within `timeout` of `now` whose
/// Asterisk is connected. The others stay in set 1, disabled.
#[derive(Debug, Clone, Copy)]
pub struct NodeHealthRule {
    pub now: chrono::DateTime<chrono::Utc>,
    pub timeout: std::time::Duration,
}

impl NodeHealthRule {
    /// Heard from within the timeout.
    pub fn is_alive(&self, node: &NodeRow) -> bool {
        let timeout = chrono::Duration::from_std(self.timeout).unwrap_or(chrono::Duration::MAX);
        node.last_seen_at
            .is_some_and(|seen| self.now - seen <= timeout)
    }

    pub fn takes_calls(&self, node: &NodeRow) -> bool {
        node.ami_connected && self.is_alive(node)
    }
}

/// Set 1 from the nodes (a destination stored for the same URI wins), the
/// stored destinations, and the stored trusted addresses.
pub async fn lists(
    db: &sea_orm::DatabaseConnection,
    health: &NodeHealthRule,
) -> Result<KamailioLists, StoreError> {
    let stored = dispatchers(db)
        .await?
        .iter()
        .map(destination)
        .collect::<Result<Vec<_>, _>>()?;
    let mut destinations = Vec::new();
    for node in nodes(db).await? {
        if node.sip_address.is_empty() {
            continue;
        }
        let uri = canonical_sip_uri(&node.sip_address)
            .map_err(|e| StoreError::Corrupt(format!("node {} SIP address: {e}", node.name)))?;
        let taken = stored
            .iter()
            .chain(&destinations)
            .any(|d: &Destination| d.set_id == NODE_SET && d.uri == uri);
        if !taken {
            destinations.push(Destination {
                set_id: NODE_SET,
                uri,
                state: if health.takes_calls(&node) {
                    DispatcherState::Active
                } else {
                    DispatcherState::Disabled
                },
                priority: 0,
                attrs: Attributes::default(),
            });
        }
    }
    destinations.extend(stored);
    let mut addresses: Vec<TrustedAddress> = addresses(db)
        .await?
        .iter()
        .map(trusted_address)
        .collect::<Result<_, _>>()?;
    for address in trunk_addresses(db).await? {
        let same = |a: &TrustedAddress| {
            (a.group, a.ip, a.mask, a.port)
                == (address.group, address.ip, address.mask, address.port)
        };
        if !addresses.iter().any(same) {
            addresses.push(address);
        }
    }
    for blocked in super::blocks::all(db).await? {
        let mut address = TrustedAddress::host(BLOCKED_GROUP, blocked.address);
        address.tag = Some("blocked".to_owned());
        addresses.push(address);
    }
    Ok(KamailioLists {
        destinations,
        addresses,
    })
}

/// The permissions group the addresses of IP-authenticated trunks go in.
pub const TRUNK_GROUP: u32 = 1;

/// The permissions group of blocked addresses: the shipped kamailio.cfg answers
/// their requests with a 403 (`allow_source_address("99")`).
pub const BLOCKED_GROUP: u32 = 99;

/// The match addresses of every enabled trunk whose provider template
/// authenticates by IP, tagged with the trunk's name. An address that is not
/// a valid host or network is left out (and logged), never written.
pub async fn trunk_addresses(
    db: &sea_orm::DatabaseConnection,
) -> Result<Vec<TrustedAddress>, StoreError> {
    // The same templates the renderer uses, so Kamailio and Asterisk agree.
    let ip_providers: Vec<String> = super::snapshot::provider_templates(db)
        .await?
        .into_iter()
        .filter(|p| p.auth_type == AuthType::Ip)
        .map(|p| p.id)
        .collect();
    if ip_providers.is_empty() {
        return Ok(Vec::new());
    }
    let trunks = trunk::Entity::find()
        .filter(trunk::Column::Enabled.eq(true))
        .filter(trunk::Column::Provider.is_in(ip_providers))
        .order_by_asc(trunk::Column::Name)
        .all(db)
        .await?;
    let mut out = Vec::new();
    for trunk in trunks {
        let listed: Vec<String> =
            serde_json::from_value(trunk.match_addresses.clone()).map_err(|e| {
                StoreError::Corrupt(format!("trunk {} match_addresses: {e}", trunk.name))
            })?;
        for text in listed {
            let mut address = match TrustedAddress::from_cidr(TRUNK_GROUP, &text) {
                Ok(address) => address,
                Err(e) => {
                    tracing::warn!(trunk = %trunk.name, address = %text.escape_debug(), error = %e, "trunk address left out of the permissions list");
                    continue;
                }
            };
            address.tag = Some(trunk.name.clone());
            if address.validate().is_err() {
                address.tag = None;
            }
            out.push(address);
        }
    }
    Ok(out)
}
