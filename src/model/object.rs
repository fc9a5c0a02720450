//! One typed identity per object rayan keeps: its kind and key. Managed block ids,
//! apply outcomes, audit entries and apply triggers are all derived from it here,
//! and nowhere else, so they cannot drift apart.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What kind of object an [`ObjectRef`] names. Serialised (in the audit log) as its
/// snake_case name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Extension,
    Trunk,
    /// A PJSIP transport.
    Transport,
    OutboundRoute,
    InboundRoute,
    /// A dialplan context rayan writes (`[from-internal]`).
    Dialplan,
    DispatcherSet,
    AddressGroup,
    /// One Kamailio dispatcher destination (applied as its set).
    KamailioDispatcher,
    /// One trusted address (applied as its group).
    KamailioAddress,
    ProviderTemplate,
    Token,
    Call,
    /// The ACL of blocked source addresses in pjsip.conf (one, key `sip`).
    Blocklist,
    /// One blocked address (audit and API identity; rendered in the blocklist).
    BlockedAddress,
}

impl ObjectKind {
    /// The name the audit log and its filters use.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Extension => "extension",
            ObjectKind::Trunk => "trunk",
            ObjectKind::Transport => "transport",
            ObjectKind::OutboundRoute => "outbound_route",
            ObjectKind::InboundRoute => "inbound_route",
            ObjectKind::Dialplan => "dialplan",
            ObjectKind::DispatcherSet => "dispatcher_set",
            ObjectKind::AddressGroup => "address_group",
            ObjectKind::KamailioDispatcher => "kamailio_dispatcher",
            ObjectKind::KamailioAddress => "kamailio_address",
            ObjectKind::ProviderTemplate => "provider_template",
            ObjectKind::Token => "token",
            ObjectKind::Call => "call",
            ObjectKind::Blocklist => "blocklist",
            ObjectKind::BlockedAddress => "blocked_address",
        }
    }
}

/// A managed object (or another audited one): its kind and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    kind: ObjectKind,
    key: String,
}

/// Where a managed object's text lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigFile {
    /// `pjsip.conf`
    Pjsip,
    /// `extensions.conf`
    Extensions,
    /// Kamailio's `dispatcher.list`
    DispatcherList,
    /// Kamailio's `address.list`
    AddressList,
}

impl ObjectRef {
    pub fn new(kind: ObjectKind, key: impl Into<String>) -> Self {
        ObjectRef {
            kind,
            key: key.into(),
        }
    }

    pub fn extension(number: &str) -> Self {
        Self::new(ObjectKind::Extension, number)
    }

    pub fn trunk(name: &str) -> Self {
        Self::new(ObjectKind::Trunk, name)
    }

    pub fn transport(name: &str) -> Self {
        Self::new(ObjectKind::Transport, name)
    }

    pub fn outbound_route(name: &str) -> Self {
        Self::new(ObjectKind::OutboundRoute, name)
    }

    pub fn inbound_route(id: i64) -> Self {
        Self::new(ObjectKind::InboundRoute, id.to_string())
    }

    pub fn dialplan(context: &str) -> Self {
        Self::new(ObjectKind::Dialplan, context)
    }

    pub fn dispatcher_set(set_id: u32) -> Self {
        Self::new(ObjectKind::DispatcherSet, set_id.to_string())
    }

    pub fn address_group(group: u32) -> Self {
        Self::new(ObjectKind::AddressGroup, group.to_string())
    }

    /// The ACL section of blocked addresses in pjsip.conf.
    pub fn blocklist() -> Self {
        Self::new(ObjectKind::Blocklist, "sip")
    }

    pub fn blocked_address(address: std::net::IpAddr) -> Self {
        Self::new(ObjectKind::BlockedAddress, address.to_string())
    }

    pub fn kind(&self) -> ObjectKind {
        self.kind
    }

    /// The key within its kind: a number, a name, an id.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The `kind` of its apply outcome (as the API has always reported it).
    pub fn outcome_kind(&self) -> &'static str {
        match self.kind {
            ObjectKind::Extension => "extension",
            ObjectKind::Trunk => "trunk",
            ObjectKind::OutboundRoute => "route",
            ObjectKind::InboundRoute => "inbound route",
            ObjectKind::Dialplan => "dialplan",
            ObjectKind::DispatcherSet | ObjectKind::AddressGroup => "kamailio",
            other => other.as_str(),
        }
    }

    /// The `name` of its apply outcome.
    pub fn outcome_name(&self) -> String {
        match self.kind {
            ObjectKind::OutboundRoute => format!("outbound {}", self.key),
            ObjectKind::DispatcherSet => format!("dispatcher set {}", self.key),
            ObjectKind::AddressGroup => format!("address group {}", self.key),
            _ => self.key.clone(),
        }
    }

    /// The managed block that holds it, and in which file; `None` for objects
    /// written inside another's block (inbound routes) or not written at all.
    pub fn block(&self) -> Option<(ConfigFile, String)> {
        let (file, prefix) = match self.kind {
            ObjectKind::Extension => (ConfigFile::Pjsip, "Extension"),
            ObjectKind::Trunk => (ConfigFile::Pjsip, "Trunk"),
            ObjectKind::Transport => (ConfigFile::Pjsip, "Transport"),
            ObjectKind::Blocklist => (ConfigFile::Pjsip, "Blocklist"),
            ObjectKind::OutboundRoute => (ConfigFile::Extensions, "Route outbound"),
            ObjectKind::Dialplan => (ConfigFile::Extensions, "Dialplan"),
            ObjectKind::DispatcherSet => (ConfigFile::DispatcherList, "Dispatcher set"),
            ObjectKind::AddressGroup => (ConfigFile::AddressList, "Address group"),
            _ => return None,
        };
        Some((file, format!("{prefix} {}", self.key)))
    }

    /// The managed block id (see [`ObjectRef::block`]); empty when it has none.
    pub fn block_id(&self) -> String {
        self.block().map(|(_, id)| id).unwrap_or_default()
    }

    /// The object a managed block of `file` belongs to: the inverse of
    /// [`ObjectRef::block`], for blocks read back from a file (one that was removed
    /// since the last rendering has no other owner to ask).
    pub fn from_block(file: ConfigFile, id: &str) -> Option<Self> {
        let candidates: &[(&str, ObjectKind)] = match file {
            ConfigFile::Pjsip => &[
                ("Extension ", ObjectKind::Extension),
                ("Trunk ", ObjectKind::Trunk),
                ("Transport ", ObjectKind::Transport),
                ("Blocklist ", ObjectKind::Blocklist),
            ],
            ConfigFile::Extensions => &[
                ("Route outbound ", ObjectKind::OutboundRoute),
                ("Dialplan ", ObjectKind::Dialplan),
            ],
            ConfigFile::DispatcherList => &[("Dispatcher set ", ObjectKind::DispatcherSet)],
            ConfigFile::AddressList => &[("Address group ", ObjectKind::AddressGroup)],
        };
        candidates.iter().find_map(|(prefix, kind)| {
            id.strip_prefix(prefix)
                .filter(|key| !key.is_empty())
                .map(|key| Self::new(*kind, key))
        })
    }

    /// Whether a block id of `file` is one of rayan's objects' (another tool
    /// may write `BEGIN MANAGED` markers too; its blocks are left alone).
    pub fn owns_block_in(file: ConfigFile) -> fn(&str) -> bool {
        match file {
            ConfigFile::Pjsip => |id| Self::from_block(ConfigFile::Pjsip, id).is_some(),
            ConfigFile::Extensions => |id| Self::from_block(ConfigFile::Extensions, id).is_some(),
            ConfigFile::DispatcherList => {
                |id| Self::from_block(ConfigFile::DispatcherList, id).is_some()
            }
            ConfigFile::AddressList => |id| Self::from_block(ConfigFile::AddressList, id).is_some(),
        }
    }

    /// What an apply triggered by `action` on it is called.
    pub fn trigger(&self, action: &str) -> String {
        format!("{action} {} {}", self.outcome_kind(), self.outcome_name())
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.outcome_kind(), self.outcome_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_managed() -> impl Strategy<Value = ObjectRef> {
        (
            prop_oneof![
                Just(ObjectKind::Extension),
                Just(ObjectKind::Trunk),
                Just(ObjectKind::Transport),
                Just(ObjectKind::OutboundRoute),
                Just(ObjectKind::Dialplan),
                Just(ObjectKind::DispatcherSet),
                Just(ObjectKind::AddressGroup),
            ],
            "[A-Za-z0-9_.+-]{1,20}",
        )
            .prop_map(|(kind, key)| ObjectRef::new(kind, key))
    }

    proptest! {
        /// A block id read back from its file names the object that wrote it.
        #[test]
        fn block_ids_read_back_to_their_object(object in any_managed()) {
            let (file, id) = object.block().ok_or_else(|| TestCaseError::fail("no block"))?;
            prop_assert_eq!(ObjectRef::from_block(file, &id), Some(object));
        }
    }

    #[test]
    fn names_stay_what_the_api_reports() {
        assert_eq!(ObjectRef::extension("1001").block_id(), "Extension 1001");
        assert_eq!(ObjectRef::trunk("t").block_id(), "Trunk t");
        assert_eq!(
            ObjectRef::outbound_route("us").block_id(),
            "Route outbound us"
        );
        assert_eq!(
            ObjectRef::dialplan("from-internal").block_id(),
            "Dialplan from-internal"
        );
        assert_eq!(
            ObjectRef::outbound_route("us").outcome_name(),
            "outbound us"
        );
        assert_eq!(
            ObjectRef::dispatcher_set(1).to_string(),
            "kamailio dispatcher set 1"
        );
        assert_eq!(ObjectRef::inbound_route(7).block(), None);
        assert_eq!(ObjectRef::from_block(ConfigFile::Pjsip, "Dialplan x"), None);
    }
}
