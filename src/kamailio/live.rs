//! What Kamailio reports it has loaded: `dispatcher.list`,
//! `permissions.addressDump` and `permissions.subnetDump` replies.
//!
//! jsonrpcs returns a handler's single top-level item by itself instead of a
//! one-element array, and `{}` when there is none, so every list here is read
//! as "one or many". Numbers are kept as `i64`: Kamailio prints C `int`s and
//! may hold entries rayan did not write.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::model::kamailio::address::host_mask;

/// First letter of a destination's `FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// `A`
    Active,
    /// `I`: marked down (by probing or `set_state`).
    Inactive,
    /// `T`: failing, not yet past the probing threshold.
    Trying,
    /// `D`: administratively disabled.
    Disabled,
}

/// A destination's live `FLAGS`, e.g. `AX` or `IP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LiveFlags {
    pub state: LiveState,
    /// Second letter: `P` (probed) or `X` (not probed).
    pub probing: bool,
}

impl LiveFlags {
    /// The state argument of `dispatcher.set_state`: `a`, `ip`, `d`, ...
    pub fn set_state_argument(self) -> String {
        let letter = match self.state {
            LiveState::Active => 'a',
            LiveState::Inactive => 'i',
            LiveState::Trying => 't',
            LiveState::Disabled => 'd',
        };
        if self.probing {
            format!("{letter}p")
        } else {
            letter.to_string()
        }
    }
}

impl fmt::Display for LiveFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            LiveState::Active => 'A',
            LiveState::Inactive => 'I',
            LiveState::Trying => 'T',
            LiveState::Disabled => 'D',
        };
        write!(f, "{state}{}", if self.probing { 'P' } else { 'X' })
    }
}

impl FromStr for LiveFlags {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        let state = match bytes.first() {
            Some(b'A') => LiveState::Active,
            Some(b'I') => LiveState::Inactive,
            Some(b'T') => LiveState::Trying,
            Some(b'D') => LiveState::Disabled,
            _ => return Err(format!("unknown dispatcher flags {text:?}")),
        };
        let probing = match bytes.get(1) {
            Some(b'P') => true,
            Some(b'X') => false,
            _ => return Err(format!("unknown dispatcher flags {text:?}")),
        };
        if bytes.len() != 2 {
            return Err(format!("unknown dispatcher flags {text:?}"));
        }
        Ok(Self { state, probing })
    }
}

impl Serialize for LiveFlags {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LiveFlags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(D::Error::custom)
    }
}

/// One destination as `dispatcher.list` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveDestination {
    pub set_id: i64,
    pub uri: String,
    pub flags: LiveFlags,
    pub priority: i64,
    /// The attrs text (`ATTRS.BODY`); `None` when the line had none or the
    /// list was asked for in short form.
    pub attrs: Option<String>,
}

/// One trusted host (from `addressDump`, mask 32/128) or subnet (`subnetDump`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveAddress {
    pub group: i64,
    pub ip: IpAddr,
    pub mask: i64,
    pub port: i64,
    pub tag: Option<String>,
}

/// Reads `value` as a list whether it is an array, one item, or `{}`.
pub(crate) fn one_or_many<T: DeserializeOwned>(value: Value) -> Result<Vec<T>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Object(map) if map.is_empty() => Vec::new(),
        Value::Null => Vec::new(),
        item @ Value::Object(_) => vec![item],
        other => return Err(format!("expected a list, got {}", kind(&other))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_path_to_error::deserialize(item).map_err(|e| format!("item {i}: {e}"))
        })
        .collect()
}

fn one_or_many_field<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    one_or_many(Value::deserialize(deserializer)?).map_err(D::Error::custom)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Deserialize)]
struct ListReply {
    #[serde(rename = "RECORDS", default, deserialize_with = "one_or_many_field")]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "SET")]
    set: SetReply,
}

#[derive(Deserialize)]
struct SetReply {
    #[serde(rename = "ID")]
    id: i64,
    #[serde(rename = "TARGETS", default, deserialize_with = "one_or_many_field")]
    targets: Vec<Target>,
}

#[derive(Deserialize)]
struct Target {
    #[serde(rename = "DEST")]
    dest: DestReply,
}

#[derive(Deserialize)]
struct DestReply {
    #[serde(rename = "URI")]
    uri: String,
    #[serde(rename = "FLAGS")]
    flags: LiveFlags,
    #[serde(rename = "PRIORITY")]
    priority: i64,
    #[serde(rename = "ATTRS")]
    attrs: Option<AttrsReply>,
}

#[derive(Deserialize)]
struct AttrsReply {
    #[serde(rename = "BODY")]
    body: Option<String>,
}

/// The `result` of `dispatcher.list` (normal or short form).
pub(crate) fn parse_dispatcher_list(result: Value) -> Result<Vec<LiveDestination>, String> {
    let reply: ListReply = serde_path_to_error::deserialize(result).map_err(|e| e.to_string())?;
    Ok(reply
        .records
        .into_iter()
        .flat_map(|record| {
            let set_id = record.set.id;
            record
                .set
                .targets
                .into_iter()
                .map(move |target| LiveDestination {
                    set_id,
                    uri: target.dest.uri,
                    flags: target.dest.flags,
                    priority: target.dest.priority,
                    attrs: target
                        .dest
                        .attrs
                        .and_then(|a| a.body)
                        .filter(|body| !body.is_empty()),
                })
        })
        .collect())
}

#[derive(Deserialize)]
struct DumpEntry {
    group: i64,
    item: DumpItem,
}

#[derive(Deserialize)]
struct DumpItem {
    ip: String,
    mask: Option<i64>,
    port: i64,
    tag: Option<String>,
}

/// The `result` of `permissions.addressDump` (hosts; a missing tag reads `NULL`).
pub(crate) fn parse_address_dump(result: Value) -> Result<Vec<LiveAddress>, String> {
    parse_dump(result, "NULL")
}

/// The `result` of `permissions.subnetDump` (a missing tag reads as empty).
pub(crate) fn parse_subnet_dump(result: Value) -> Result<Vec<LiveAddress>, String> {
    parse_dump(result, "")
}

fn parse_dump(result: Value, missing_tag: &str) -> Result<Vec<LiveAddress>, String> {
    let entries: Vec<DumpEntry> = one_or_many(result)?;
    entries
        .into_iter()
        .map(|entry| {
            let ip: IpAddr = entry
                .item
                .ip
                .parse()
                .map_err(|_| format!("{:?} is not an IP address", entry.item.ip))?;
            Ok(LiveAddress {
                group: entry.group,
                ip,
                mask: entry.item.mask.unwrap_or_else(|| i64::from(host_mask(ip))),
                port: entry.item.port,
                tag: entry.item.tag.filter(|tag| tag != missing_tag),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn flags_round_trip() {
        for text in ["AX", "AP", "IX", "IP", "TX", "TP", "DX", "DP"] {
            let flags: LiveFlags = text.parse().unwrap();
            assert_eq!(flags.to_string(), text);
        }
        for bad in ["", "A", "AXX", "ax", "ZX", "AZ"] {
            assert!(bad.parse::<LiveFlags>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "IP".parse::<LiveFlags>().unwrap().set_state_argument(),
            "ip"
        );
        assert_eq!("DX".parse::<LiveFlags>().unwrap().set_state_argument(), "d");
    }

    /// The result of transcript 03 (full form).
    #[test]
    fn reads_the_full_dispatcher_list() {
        let result = json!({
            "NRSETS": 2,
            "RECORDS": [
                {"SET": {"ID": 2, "TARGETS": [{"DEST": {"URI": "sip:127.0.0.1:5997", "FLAGS": "AX", "PRIORITY": 0,
                    "ATTRS": {"BODY": "duid=uas5997", "DUID": "uas5997", "MAXLOAD": 0, "WEIGHT": 0, "RWEIGHT": 0,
                              "SOCKET": null, "SOCKNAME": null, "OBPROXY": null}}}]}},
                {"SET": {"ID": 1, "TARGETS": [
                    {"DEST": {"URI": "sip:127.0.0.1:5999", "FLAGS": "AX", "PRIORITY": 10,
                        "ATTRS": {"BODY": "duid=gw5999;weight=50", "DUID": "gw5999", "WEIGHT": 50}}},
                    {"DEST": {"URI": "sip:127.0.0.1:5998", "FLAGS": "IP", "PRIORITY": 5}}]}}
            ]
        });
        let list = parse_dispatcher_list(result).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].set_id, 2);
        assert_eq!(list[0].attrs.as_deref(), Some("duid=uas5997"));
        assert_eq!(list[1].uri, "sip:127.0.0.1:5999");
        assert_eq!(list[1].priority, 10);
        assert_eq!(
            list[2].flags,
            LiveFlags {
                state: LiveState::Inactive,
                probing: true
            }
        );
        assert_eq!(list[2].attrs, None);
    }

    /// Transcripts 27 and 28, and the single-object form of 36.
    #[test]
    fn reads_dumps_one_or_many() {
        let dump = json!([
            {"table": 98, "group": 1, "item": {"ip": "127.0.0.1", "port": 0, "tag": "loopback-host"}},
            {"table": 99, "group": 1, "item": {"ip": "127.0.0.2", "port": 0, "tag": "NULL"}}
        ]);
        let hosts = parse_address_dump(dump).unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].tag.as_deref(), Some("loopback-host"));
        assert_eq!(hosts[0].mask, 32);
        assert_eq!(hosts[1].tag, None);

        let single = json!({"table": 98, "group": 4, "item": {"ip": "2001:db8::1", "port": 5060, "tag": "v6"}});
        let hosts = parse_address_dump(single).unwrap();
        assert_eq!((hosts.len(), hosts[0].mask, hosts[0].port), (1, 128, 5060));

        assert!(parse_address_dump(json!({})).unwrap().is_empty());
        assert!(parse_address_dump(json!([])).unwrap().is_empty());
        assert!(parse_address_dump(json!("x")).is_err());

        let subnets = parse_subnet_dump(json!([
            {"id": 0, "group": 2, "item": {"ip": "192.0.2.0", "mask": 24, "port": 0, "tag": ""}},
            {"id": 1, "group": 3, "item": {"ip": "10.0.0.0", "mask": 8, "port": 5060, "tag": "private-a"}}
        ]))
        .unwrap();
        assert_eq!(subnets[0].tag, None);
        assert_eq!(
            (subnets[1].mask, subnets[1].tag.as_deref()),
            (8, Some("private-a"))
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_dispatcher_list(json!({"RECORDS": [{"SET": {"ID": "x"}}]})).is_err());
        assert!(parse_dispatcher_list(json!({"RECORDS": [{"SET": {"ID": 1, "TARGETS": [{"DEST": {"URI": "u", "FLAGS": "??", "PRIORITY": 0}}]}}]})).is_err());
        assert!(
            parse_address_dump(json!([{"group": 1, "item": {"ip": "garbage", "port": 0}}]))
                .is_err()
        );
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[A-Z]{0,6}|[ -~]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("RECORDS".to_owned()),
                        Just("SET".to_owned()),
                        Just("ID".to_owned()),
                        Just("TARGETS".to_owned()),
                        Just("DEST".to_owned()),
                        Just("URI".to_owned()),
                        Just("FLAGS".to_owned()),
                        Just("PRIORITY".to_owned()),
                        Just("ATTRS".to_owned()),
                        Just("BODY".to_owned()),
                        Just("group".to_owned()),
                        Just("item".to_owned()),
                        Just("ip".to_owned()),
                        Just("port".to_owned()),
                        Just("tag".to_owned()),
                        Just("mask".to_owned()),
                        "[a-z]{1,4}",
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON at all gives a value or an error, never a panic; a parsed
        /// list never has more entries than the reply had items.
        #[test]
        fn parsers_never_panic(value in arbitrary_json()) {
            let items = match &value { Value::Array(items) => items.len(), _ => 1 };
            let _ = parse_dispatcher_list(value.clone());
            if let Ok(list) = parse_address_dump(value.clone()) {
                prop_assert!(list.len() <= items);
            }
            let _ = parse_subnet_dump(value);
        }

        #[test]
        fn flags_parse_only_what_they_print(text in "[A-Z]{0,3}") {
            if let Ok(flags) = text.parse::<LiveFlags>() {
                prop_assert_eq!(flags.to_string(), text);
            }
        }
    }
}
