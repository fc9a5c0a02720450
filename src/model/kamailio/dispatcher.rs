//! Dispatcher destinations: what one line of `dispatcher.list` says, and the
//! rules that make Kamailio read that line exactly as meant.
//!
//! Kamailio 5.6 reads `setid destination flags priority attrs`: the numbers are
//! read digit by digit (a `-` ends the number and shifts every later column),
//! the URI ends at whitespace or `#`, the attributes at whitespace, and a line
//! longer than 1023 bytes is split in two. A destination it cannot add is
//! skipped silently (the default `ds_load_mode=0`), and a host name is resolved
//! through the system resolver, so only IP literals are accepted here.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::token::{check_token, quoted};
use crate::model::FieldErrors;

/// Longest attribute text written (Kamailio itself stops at 1023 bytes per line).
pub const MAX_ATTRS_LEN: usize = 512;
/// Longest `duid` and attribute value.
pub const MAX_ATTR_VALUE_LEN: usize = 128;
const MAX_ATTR_KEY_LEN: usize = 32;

/// The administrator's intent for a destination, kept in the file's flags
/// column because a reload resets every runtime state to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatcherState {
    /// Flags `0`: takes traffic (probing may still mark it inactive).
    #[default]
    Active,
    /// Flags `4`: administratively disabled, shown as `DX`, not probed.
    Disabled,
    /// Flags `9` (inactive + probing): shown as `IP`, takes traffic only after
    /// an OPTIONS probe succeeded.
    InactiveUntilProbed,
}

impl DispatcherState {
    /// The number written in the flags column.
    pub fn flags(self) -> u8 {
        match self {
            Self::Active => 0,
            Self::Disabled => 4,
            Self::InactiveUntilProbed => 9,
        }
    }

    pub fn from_flags(flags: u8) -> Option<Self> {
        match flags {
            0 => Some(Self::Active),
            4 => Some(Self::Disabled),
            9 => Some(Self::InactiveUntilProbed),
            _ => None,
        }
    }
}

/// The `attrs` column: `duid=...;weight=...;key=value`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Destination unique id (`duid`), used by `dispatcher.set_duid_state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duid: Option<String>,
    /// Share of traffic for the weight-based algorithm, 1 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
    /// Any other attribute (`socket`, `rweight`, `maxload`, ...): lower-case keys,
    /// token values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Attributes Kamailio reads as a number; anything else would silently become 0.
const NUMERIC_ATTRS: &[&str] = &["maxload", "cc", "latency"];
/// Attributes Kamailio ignores outside 1..=100.
const PERCENT_ATTRS: &[&str] = &["rweight"];
/// Keys that have their own field.
const OWN_FIELD_ATTRS: &[&str] = &["duid", "weight"];

impl Attributes {
    pub fn is_empty(&self) -> bool {
        self.duid.is_none() && self.weight.is_none() && self.extra.is_empty()
    }

    /// The text of the attrs column (empty when there are none).
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some(duid) = &self.duid {
            parts.push(format!("duid={duid}"));
        }
        if let Some(weight) = self.weight {
            parts.push(format!("weight={weight}"));
        }
        parts.extend(
            self.extra
                .iter()
                .map(|(key, value)| format!("{key}={value}")),
        );
        parts.join(";")
    }

    fn check(&self, errors: &mut FieldErrors, field: &str) {
        if let Some(duid) = &self.duid {
            check_token(errors, &format!("{field}.duid"), duid, MAX_ATTR_VALUE_LEN);
        }
        if let Some(weight) = self.weight
            && !(1..=100).contains(&weight)
        {
            errors.push(
                format!("{field}.weight"),
                "must be 1 to 100 (Kamailio ignores any other weight)",
            );
        }
        for (key, value) in &self.extra {
            let key_field = format!("{field}.extra.{}", key.escape_debug());
            if !is_attr_key(key) {
                errors.push(
                    &key_field,
                    format!(
                        "key {} must be a lower-case letter followed by up to {} letters, digits or '_'",
                        quoted(key),
                        MAX_ATTR_KEY_LEN - 1
                    ),
                );
                continue;
            }
            if OWN_FIELD_ATTRS.contains(&key.as_str()) {
                errors.push(
                    &key_field,
                    format!("set {key} with its own field, not as an extra attribute"),
                );
                continue;
            }
            check_token(errors, &key_field, value, MAX_ATTR_VALUE_LEN);
            if NUMERIC_ATTRS.contains(&key.as_str()) && !is_plain_number(value) {
                errors.push(
                    &key_field,
                    "must be a whole number without sign or leading zeros",
                );
            }
            if PERCENT_ATTRS.contains(&key.as_str())
                && !(is_plain_number(value)
                    && value.parse::<u8>().is_ok_and(|v| (1..=100).contains(&v)))
            {
                errors.push(
                    &key_field,
                    "must be 1 to 100 (Kamailio ignores any other value)",
                );
            }
        }
        if self.render().len() > MAX_ATTRS_LEN {
            errors.push(
                field,
                format!("must render to at most {MAX_ATTRS_LEN} characters"),
            );
        }
    }
}

fn is_attr_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= MAX_ATTR_KEY_LEN
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Digits only, no sign, no leading zero (except `0` itself), fits an `i32`.
fn is_plain_number(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'))
        && value.parse::<i32>().is_ok()
}

/// One destination of a dispatcher set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Dispatcher set (group), 1 to 2^31-1.
    pub set_id: u32,
    /// `sip:<IPv4>[:port]` or `sip:[<IPv6>][:port]`, in the form
    /// [`canonical_sip_uri`] returns.
    pub uri: String,
    pub state: DispatcherState,
    /// 0 to 2^31-1; higher is tried first by the priority algorithm.
    pub priority: i32,
    #[serde(default)]
    pub attrs: Attributes,
}

impl Destination {
    /// Every problem with this destination, by field.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.set_id == 0 || i32::try_from(self.set_id).is_err() {
            errors.push("set_id", "must be 1 to 2147483647");
        }
        match canonical_sip_uri(&self.uri) {
            Ok(canonical) if canonical == self.uri => {}
            Ok(canonical) => errors.push("uri", format!("must be written as {canonical}")),
            Err(reason) => errors.push("uri", reason),
        }
        if self.priority < 0 {
            errors.push(
                "priority",
                "must be 0 or more (Kamailio reads only digits, a '-' would shift the line)",
            );
        }
        self.attrs.check(&mut errors, "attrs");
        errors.finish()
    }

    /// The `dispatcher.list` line, without the newline. Call only after
    /// [`Self::validate`] succeeded.
    pub(crate) fn line(&self) -> String {
        let mut line = format!(
            "{} {} {} {}",
            self.set_id,
            self.uri,
            self.state.flags(),
            self.priority
        );
        let attrs = self.attrs.render();
        if !attrs.is_empty() {
            line.push(' ');
            line.push_str(&attrs);
        }
        line
    }
}

/// The canonical URI for an IP literal and an optional port.
pub fn sip_uri(ip: IpAddr, port: Option<u16>) -> String {
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    match port {
        Some(port) => format!("sip:{host}:{port}"),
        None => format!("sip:{host}"),
    }
}

/// Parses `sip:<IP literal>[:port]` (IPv6 in brackets) and returns it in
/// canonical form (IPv6 compressed and lower-case). Host names, user parts,
/// parameters, port 0 and non-unicast addresses are refused.
pub fn canonical_sip_uri(input: &str) -> Result<String, String> {
    let (ip, port) = parse_sip_uri(input)?;
    Ok(sip_uri(ip, port))
}

fn parse_sip_uri(input: &str) -> Result<(IpAddr, Option<u16>), String> {
    let rest = input
        .strip_prefix("sip:")
        .ok_or_else(|| format!("{} must start with 'sip:'", quoted(input)))?;
    let (ip, port_text) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{} has no closing ']'", quoted(input)))?;
        let v6: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("{} is not an IPv6 address", quoted(inside)))?;
        (IpAddr::V6(v6), after)
    } else {
        let (host, after) = match rest.find(':') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let v4 = host.parse().map_err(|_| {
            format!(
                "{} is not an IPv4 address (use an IP literal, IPv6 in brackets; host names are resolved at every reload)",
                quoted(host)
            )
        })?;
        (IpAddr::V4(v4), after)
    };
    check_unicast(ip)?;
    let port = match port_text {
        "" => None,
        text => {
            let digits = text
                .strip_prefix(':')
                .ok_or_else(|| format!("unexpected {} after the address", quoted(text)))?;
            Some(parse_port(digits)?)
        }
    };
    Ok((ip, port))
}

fn parse_port(digits: &str) -> Result<u16, String> {
    if !is_plain_number(digits) {
        return Err(format!(
            "port {} must be digits only, without leading zeros",
            quoted(digits)
        ));
    }
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("port {} must be 1 to 65535", quoted(digits))),
    }
}

/// Refuses addresses a SIP destination or a trusted host can never be.
pub(crate) fn check_unicast(ip: IpAddr) -> Result<(), String> {
    let refused = match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => {
            if v6.to_ipv4_mapped().is_some() {
                return Err(format!("{v6} is IPv4-mapped: write the IPv4 address"));
            }
            v6.is_unspecified() || v6.is_multicast()
        }
    };
    if refused {
        Err(format!("{ip} is not a unicast address"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(uri: &str) -> Destination {
        Destination {
            set_id: 1,
            uri: uri.into(),
            state: DispatcherState::Active,
            priority: 0,
            attrs: Attributes::default(),
        }
    }

    fn fields(result: Result<(), FieldErrors>) -> Vec<String> {
        result
            .err()
            .map(|e| e.0.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn flags_match_the_lab_values() {
        assert_eq!(DispatcherState::Active.flags(), 0);
        assert_eq!(DispatcherState::Disabled.flags(), 4);
        assert_eq!(DispatcherState::InactiveUntilProbed.flags(), 9);
        for state in [
            DispatcherState::Active,
            DispatcherState::Disabled,
            DispatcherState::InactiveUntilProbed,
        ] {
            assert_eq!(DispatcherState::from_flags(state.flags()), Some(state));
        }
        assert_eq!(DispatcherState::from_flags(1), None);
    }

    #[test]
    fn canonical_uris() {
        assert_eq!(
            canonical_sip_uri("sip:127.0.0.1:5999").as_deref(),
            Ok("sip:127.0.0.1:5999")
        );
        assert_eq!(
            canonical_sip_uri("sip:10.0.0.1").as_deref(),
            Ok("sip:10.0.0.1")
        );
        assert_eq!(
            canonical_sip_uri("sip:[2001:DB8:0:0::1]:5060").as_deref(),
            Ok("sip:[2001:db8::1]:5060")
        );
        for bad in [
            "127.0.0.1",
            "sips:127.0.0.1",
            "sip:gw.example.com",
            "sip:alice@127.0.0.1",
            "sip:127.0.0.1:0",
            "sip:127.0.0.1:65536",
            "sip:127.0.0.1:05060",
            "sip:127.0.0.1:+5060",
            "sip:127.0.0.1;transport=tcp",
            "sip:127.0.0.1:5060;transport=tcp",
            "sip:127.000.0.1",
            "sip:[::1",
            "sip:[::1]x",
            "sip:::1",
            "sip:0.0.0.0",
            "sip:224.0.0.1",
            "sip:[::ffff:127.0.0.1]",
            "sip:127.0.0.1 ",
            "sip:127.0.0.1#x",
        ] {
            assert!(canonical_sip_uri(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_non_canonical_uri_is_refused_with_the_canonical_form() {
        let errors = dest("sip:[2001:DB8::1]").validate().unwrap_err();
        assert_eq!(errors.0[0].field, "uri");
        assert!(
            errors.0[0].message.contains("sip:[2001:db8::1]"),
            "{errors}"
        );
    }

    #[test]
    fn each_field_is_checked() {
        let mut d = dest("sip:127.0.0.1");
        d.set_id = 0;
        d.priority = -1;
        d.attrs.weight = Some(101);
        d.attrs.duid = Some("a b".into());
        assert_eq!(
            fields(d.validate()),
            ["set_id", "priority", "attrs.duid", "attrs.weight"]
        );

        let mut d = dest("sip:127.0.0.1");
        d.set_id = u32::MAX;
        assert_eq!(fields(d.validate()), ["set_id"]);
    }

    #[test]
    fn extra_attributes_are_checked() {
        let mut d = dest("sip:127.0.0.1");
        d.attrs
            .extra
            .insert("socket".into(), "udp:127.0.0.1:5060".into());
        d.attrs.extra.insert("rweight".into(), "50".into());
        d.attrs.extra.insert("maxload".into(), "0".into());
        assert_eq!(d.validate(), Ok(()));

        for (key, value) in [
            ("Socket", "x"),
            ("weight", "5"),
            ("duid", "x"),
            ("rweight", "0"),
            ("rweight", "101"),
            ("maxload", "-1"),
            ("maxload", "007"),
            ("x", "a;b=c"),
            ("x", ""),
            ("x y", "1"),
        ] {
            let mut d = dest("sip:127.0.0.1");
            d.attrs.extra.insert(key.into(), value.into());
            assert!(d.validate().is_err(), "{key}={value} was accepted");
        }
    }

    #[test]
    fn line_has_every_column() {
        let mut d = dest("sip:127.0.0.1:5999");
        d.priority = 10;
        d.attrs.duid = Some("gw5999".into());
        d.attrs.weight = Some(50);
        assert_eq!(d.line(), "1 sip:127.0.0.1:5999 0 10 duid=gw5999;weight=50");
        d.state = DispatcherState::InactiveUntilProbed;
        d.attrs = Attributes::default();
        assert_eq!(d.line(), "1 sip:127.0.0.1:5999 9 10");
    }
}
