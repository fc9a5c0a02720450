//! Comparing what was written with what Kamailio reports it loaded.
//!
//! A reload can succeed while loading less than the file says (a destination
//! Kamailio cannot add is skipped, an IPv6 destination is skipped when
//! Kamailio has no IPv6 socket) and can fail while keeping the old list, so
//! every apply ends with this comparison, item by item.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use super::error::KamailioError;
use super::live::{LiveAddress, LiveDestination, LiveFlags, LiveState};
use super::rpc::KamailioRpc;
use crate::model::kamailio::address::TrustedAddress;
use crate::model::kamailio::dispatcher::{Destination, DispatcherState};

/// The result for one written or live item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Loaded as written.
    Verified,
    /// Written but not loaded.
    Missing,
    /// Loaded but not written (added by hand, or an old list still active).
    Unexpected,
    /// Loaded, but some column differs.
    StateMismatch { differences: Vec<Difference> },
}

impl Outcome {
    /// `verified`, `missing`, `unexpected` or `state mismatch`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Missing => "missing",
            Self::Unexpected => "unexpected",
            Self::StateMismatch { .. } => "state mismatch",
        }
    }

    pub fn is_verified(&self) -> bool {
        matches!(self, Self::Verified)
    }
}

/// One column that differs between the file and Kamailio's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `state`, `priority`, `attrs` or `tag`.
    pub field: &'static str,
    pub expected: String,
    pub live: String,
}

/// The outcome for one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationCheck {
    pub set_id: i64,
    pub uri: String,
    /// What `dispatcher.list` shows, when it lists the destination.
    pub live_flags: Option<LiveFlags>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The outcome for one trusted host or subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressCheck {
    pub group: i64,
    pub ip: IpAddr,
    pub mask: i64,
    pub port: i64,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Compares the written destinations with the normal (not short) form of
/// `dispatcher.list`: one check per written destination, in order, then one
/// per live destination that was not written.
///
/// The live state is runtime (probing marks dead destinations inactive), so
/// only the administrator's intent is compared: a destination written as
/// disabled must be `D?`, any other must not be.
pub fn verify_destinations(
    written: &[Destination],
    live: &[LiveDestination],
) -> Vec<DestinationCheck> {
    let mut unmatched = index_by(live, |d| (d.set_id, d.uri.as_str()));
    let mut checks = Vec::with_capacity(written.len());
    for destination in written {
        let key = (i64::from(destination.set_id), destination.uri.as_str());
        let found = take_first(&mut unmatched, &key).map(|i| &live[i]);
        checks.push(DestinationCheck {
            set_id: key.0,
            uri: destination.uri.clone(),
            live_flags: found.map(|d| d.flags),
            outcome: match found {
                None => Outcome::Missing,
                Some(loaded) => outcome(destination_differences(destination, loaded)),
            },
        });
    }
    let mut leftovers: Vec<usize> = unmatched.into_values().flatten().collect();
    leftovers.sort_unstable();
    checks.extend(leftovers.into_iter().map(|i| DestinationCheck {
        set_id: live[i].set_id,
        uri: live[i].uri.clone(),
        live_flags: Some(live[i].flags),
        outcome: Outcome::Unexpected,
    }));
    checks
}

fn destination_differences(written: &Destination, live: &LiveDestination) -> Vec<Difference> {
    let mut differences = Vec::new();
    let meant_disabled = written.state == DispatcherState::Disabled;
    if meant_disabled != (live.flags.state == LiveState::Disabled) {
        differences.push(Difference {
            field: "state",
            expected: state_name(written.state).into(),
            live: live.flags.to_string(),
        });
    }
    if i64::from(written.priority) != live.priority {
        differences.push(Difference {
            field: "priority",
            expected: written.priority.to_string(),
            live: live.priority.to_string(),
        });
    }
    let attrs = written.attrs.render();
    if attrs != live.attrs.as_deref().unwrap_or_default() {
        differences.push(Difference {
            field: "attrs",
            expected: attrs,
            live: live.attrs.clone().unwrap_or_default(),
        });
    }
    differences
}

fn state_name(state: DispatcherState) -> &'static str {
    match state {
        DispatcherState::Active => "active",
        DispatcherState::Disabled => "disabled",
        DispatcherState::InactiveUntilProbed => "inactive_until_probed",
    }
}

/// Compares the written entries with `addressDump` (hosts) and `subnetDump`
/// (subnets): one check per written entry, in order, then one per live entry
/// that was not written.
pub fn verify_addresses(
    written: &[TrustedAddress],
    hosts: &[LiveAddress],
    subnets: &[LiveAddress],
) -> Vec<AddressCheck> {
    let live: Vec<&LiveAddress> = hosts.iter().chain(subnets).collect();
    let mut unmatched = index_by(&live, |a| (a.group, a.ip, a.mask, a.port));
    let mut checks = Vec::with_capacity(written.len());
    for address in written {
        let key = (
            i64::from(address.group),
            address.ip,
            i64::from(address.mask),
            i64::from(address.port),
        );
        let found = take_first(&mut unmatched, &key).map(|i| live[i]);
        checks.push(AddressCheck {
            group: key.0,
            ip: key.1,
            mask: key.2,
            port: key.3,
            outcome: match found {
                None => Outcome::Missing,
                Some(loaded) if loaded.tag != address.tag => outcome(vec![Difference {
                    field: "tag",
                    expected: address.tag.clone().unwrap_or_default(),
                    live: loaded.tag.clone().unwrap_or_default(),
                }]),
                Some(_) => Outcome::Verified,
            },
        });
    }
    let mut leftovers: Vec<usize> = unmatched.into_values().flatten().collect();
    leftovers.sort_unstable();
    checks.extend(leftovers.into_iter().map(|i| AddressCheck {
        group: live[i].group,
        ip: live[i].ip,
        mask: live[i].mask,
        port: live[i].port,
        outcome: Outcome::Unexpected,
    }));
    checks
}

/// Reads `dispatcher.list` and compares it with what was written.
pub async fn check_dispatcher(
    rpc: &KamailioRpc,
    written: &[Destination],
) -> Result<Vec<DestinationCheck>, KamailioError> {
    let live = rpc.dispatcher_list().await?;
    Ok(verify_destinations(written, &live))
}

/// Reads `addressDump` and `subnetDump` and compares them with what was written.
pub async fn check_addresses(
    rpc: &KamailioRpc,
    written: &[TrustedAddress],
) -> Result<Vec<AddressCheck>, KamailioError> {
    let hosts = rpc.permissions_address_dump().await?;
    let subnets = rpc.permissions_subnet_dump().await?;
    Ok(verify_addresses(written, &hosts, &subnets))
}

fn outcome(differences: Vec<Difference>) -> Outcome {
    if differences.is_empty() {
        Outcome::Verified
    } else {
        Outcome::StateMismatch { differences }
    }
}

/// Positions of the items with each key, in order (Kamailio may hold duplicates).
fn index_by<'a, T, K: Eq + std::hash::Hash>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> HashMap<K, Vec<usize>> {
    let mut map: HashMap<K, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        map.entry(key(item)).or_default().push(i);
    }
    map
}

fn take_first<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Vec<usize>>, key: &K) -> Option<usize> {
    let positions = map.get_mut(key)?;
    let first = (!positions.is_empty()).then(|| positions.remove(0));
    if positions.is_empty() {
        map.remove(key);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kamailio::dispatcher::Attributes;

    fn written(uri: &str, state: DispatcherState) -> Destination {
        Destination {
            set_id: 1,
            uri: uri.into(),
            state,
            priority: 5,
            attrs: Attributes {
                duid: Some("gw".into()),
                ..Attributes::default()
            },
        }
    }

    fn live(uri: &str, flags: &str) -> LiveDestination {
        LiveDestination {
            set_id: 1,
            uri: uri.into(),
            flags: flags.parse().unwrap(),
            priority: 5,
            attrs: Some("duid=gw".into()),
        }
    }

    #[test]
    fn every_outcome_is_reported() {
        let written = [
            written("sip:127.0.0.1:5001", DispatcherState::Active),
            written("sip:127.0.0.1:5002", DispatcherState::Disabled),
            written("sip:127.0.0.1:5003", DispatcherState::Active),
            written("sip:127.0.0.1:5004", DispatcherState::InactiveUntilProbed),
        ];
        let live = [
            live("sip:127.0.0.1:5009", "AX"),
            live("sip:127.0.0.1:5001", "IP"),
            live("sip:127.0.0.1:5002", "AX"),
            live("sip:127.0.0.1:5004", "IP"),
        ];
        let checks = verify_destinations(&written, &live);
        let labels: Vec<_> = checks
            .iter()
            .map(|c| (c.uri.as_str(), c.outcome.label()))
            .collect();
        assert_eq!(
            labels,
            [
                ("sip:127.0.0.1:5001", "verified"),
                ("sip:127.0.0.1:5002", "state mismatch"),
                ("sip:127.0.0.1:5003", "missing"),
                ("sip:127.0.0.1:5004", "verified"),
                ("sip:127.0.0.1:5009", "unexpected"),
            ]
        );
        assert_eq!(
            checks[1].outcome,
            Outcome::StateMismatch {
                differences: vec![Difference {
                    field: "state",
                    expected: "disabled".into(),
                    live: "AX".into()
                }]
            }
        );
        assert_eq!(
            checks[0].live_flags.map(|f| f.to_string()).as_deref(),
            Some("IP")
        );
    }

    #[test]
    fn priority_and_attrs_are_compared() {
        let mut loaded = live("sip:127.0.0.1:5001", "AX");
        loaded.priority = 1;
        loaded.attrs = None;
        let checks = verify_destinations(
            &[written("sip:127.0.0.1:5001", DispatcherState::Active)],
            &[loaded],
        );
        let Outcome::StateMismatch { differences } = &checks[0].outcome else {
            panic!("{checks:?}")
        };
        let fields: Vec<_> = differences.iter().map(|d| d.field).collect();
        assert_eq!(fields, ["priority", "attrs"]);
    }

    #[test]
    fn same_uri_in_another_set_is_not_a_match() {
        let mut other_set = live("sip:127.0.0.1:5001", "AX");
        other_set.set_id = 2;
        let checks = verify_destinations(
            &[written("sip:127.0.0.1:5001", DispatcherState::Active)],
            &[other_set],
        );
        assert_eq!(
            checks.iter().map(|c| c.outcome.label()).collect::<Vec<_>>(),
            ["missing", "unexpected"]
        );
    }

    #[test]
    fn addresses_are_matched_in_both_dumps() {
        let host = TrustedAddress {
            group: 1,
            ip: "127.0.0.1".parse().unwrap(),
            mask: 32,
            port: 0,
            tag: Some("lo".into()),
        };
        let net = TrustedAddress::from_cidr(2, "192.0.2.0/24").unwrap();
        let gone = TrustedAddress::from_cidr(3, "198.51.100.1").unwrap();
        let hosts = [
            LiveAddress {
                group: 1,
                ip: host.ip,
                mask: 32,
                port: 0,
                tag: Some("other".into()),
            },
            LiveAddress {
                group: 9,
                ip: host.ip,
                mask: 32,
                port: 0,
                tag: None,
            },
        ];
        let subnets = [LiveAddress {
            group: 2,
            ip: net.ip,
            mask: 24,
            port: 0,
            tag: None,
        }];
        let checks = verify_addresses(&[host, net, gone], &hosts, &subnets);
        let labels: Vec<_> = checks
            .iter()
            .map(|c| (c.group, c.outcome.label()))
            .collect();
        assert_eq!(
            labels,
            [
                (1, "state mismatch"),
                (2, "verified"),
                (3, "missing"),
                (9, "unexpected")
            ]
        );
    }

    #[test]
    fn outcome_serialises_with_its_label() {
        let check = DestinationCheck {
            set_id: 1,
            uri: "sip:127.0.0.1".into(),
            live_flags: Some("DX".parse().unwrap()),
            outcome: Outcome::Verified,
        };
        let json = serde_json::to_value(&check).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"set_id": 1, "uri": "sip:127.0.0.1", "live_flags": "DX", "outcome": "verified"})
        );
    }
}
