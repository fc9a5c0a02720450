//! What Asterisk 22 accepts in `pjsip.conf`: the option names of each section
//! type ([`options`]) and how each option's value is parsed ([`values`]). Every
//! option rayan writes, from a template, an override or a transport, passes
//! [`check_option`] first, so that a value Asterisk would refuse (and drop the
//! whole object for) gets a 422 naming it instead.

pub mod options;
pub mod values;

use std::net::IpAddr;

pub use options::{is_valid_option, options_for, section_types};
pub use values::{ValueType, value_type};

use super::validate::KNOWN_CODECS;
use values::{BOOL_FALSE, BOOL_TRUE, DSCP_NAMES};

/// Checks `value` for `option` in a section of type `section_type`: the option
/// must exist there and the value must be one Asterisk 22 takes. The reason
/// names what is wrong, not the option (the caller names the field).
pub fn check_option(section_type: &str, option: &str, value: &str) -> Result<(), String> {
    if !is_valid_option(section_type, option) {
        return Err(format!("is not a PJSIP {section_type} option"));
    }
    match value_type(section_type, option) {
        Some(value_type) => check_value(value_type, value),
        None => Ok(()),
    }
}

fn one_of(words: &[&str], value: &str, case_sensitive: bool) -> Result<(), String> {
    let found = words.iter().any(|w| {
        if case_sensitive {
            *w == value
        } else {
            w.eq_ignore_ascii_case(value)
        }
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not one of {}",
            value.escape_debug(),
            words.join(", ")
        ))
    }
}

/// An integer as Asterisk writes it back: plain decimal. `010` (octal to
/// Asterisk) and `0x10` are refused, so that what the administrator reads is
/// what Asterisk uses.
fn plain_integer(value: &str) -> Result<i128, String> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !plain {
        return Err(format!(
            "'{}' is not a whole number (plain decimal)",
            value.escape_debug()
        ));
    }
    value
        .parse::<i128>()
        .map_err(|_| format!("'{}' is out of range", value.escape_debug()))
}

fn in_range(value: &str, min: i128, max: i128) -> Result<(), String> {
    let n = plain_integer(value)?;
    if (min..=max).contains(&n) {
        Ok(())
    } else {
        Err(format!("{n} is not within {min} to {max}"))
    }
}

fn is_host_name(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// An address with an optional `/prefix` or `/mask`, no host bits set.
fn check_network(entry: &str) -> Result<(), String> {
    let entry = entry.strip_prefix('!').unwrap_or(entry).trim();
    let (address, mask) = match entry.split_once('/') {
        Some((address, mask)) => (address, Some(mask)),
        None => (entry, None),
    };
    let ip: IpAddr = address
        .parse()
        .map_err(|_| format!("'{}' is not an IP address", address.escape_debug()))?;
    let bits = if ip.is_ipv4() { 32u32 } else { 128 };
    let prefix = match mask {
        None => bits,
        Some(mask) => match mask.parse::<u32>() {
            Ok(prefix) if prefix <= bits => prefix,
            Ok(_) => return Err(format!("prefix /{mask} is longer than {bits} bits")),
            Err(_) => match mask.parse::<IpAddr>() {
                Ok(m) if m.is_ipv4() == ip.is_ipv4() => {
                    let value = match m {
                        IpAddr::V4(m) => u128::from(u32::from(m)) << 96,
                        IpAddr::V6(m) => u128::from(m),
                    };
                    if value.leading_ones() + value.trailing_zeros() != 128 {
                        return Err(format!("mask {mask} is not contiguous"));
                    }
                    value.leading_ones()
                }
                _ => return Err(format!("'{}' is not a mask", mask.escape_debug())),
            },
        },
    };
    let host_bits = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
        IpAddr::V6(v6) => u128::from(v6),
    };
    // Both families sit in the top bits of `host_bits`: keep the first `prefix`.
    let kept = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    if host_bits & !kept != 0 {
        return Err(format!("{entry} has host bits set"));
    }
    Ok(())
}

/// `ip`, `ip:port`, `[v6]` or `[v6]:port`.
fn check_address(value: &str, port: bool) -> Result<(), String> {
    if value.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let bad = || format!("'{}' is not an IP address", value.escape_debug());
    if !port {
        return Err(bad());
    }
    let parsed: Result<std::net::SocketAddr, _> = value.parse();
    match parsed {
        Ok(_) => Ok(()),
        Err(_) => match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            Some(v6) if v6.parse::<std::net::Ipv6Addr>().is_ok() => Ok(()),
            _ => Err(bad()),
        },
    }
}

fn check_sip_uri(value: &str) -> Result<(), String> {
    let uri = value
        .strip_prefix('<')
        .and_then(|v| v.strip_suffix('>'))
        .unwrap_or(value);
    let lower = uri.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("sip:")
        .or_else(|| lower.strip_prefix("sips:"))
        .ok_or_else(|| format!("'{}' is not a sip: or sips: URI", value.escape_debug()))?;
    if rest.is_empty() || uri.len() > 511 {
        return Err(format!("'{}' is not a SIP URI", value.escape_debug()));
    }
    Ok(())
}

fn check_codecs(value: &str) -> Result<(), String> {
    let items: Vec<&str> = value
        .split([',', '|'])
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    if items.is_empty() {
        return Err("names no codec".into());
    }
    for item in items {
        let item = item.strip_prefix('!').unwrap_or(item);
        let (name, framing) = match item.split_once(':') {
            Some((name, ms)) => (name, Some(ms)),
            None => (item, None),
        };
        if !(name.eq_ignore_ascii_case("all") || KNOWN_CODECS.contains(&name)) {
            return Err(format!("unknown codec '{}'", name.escape_debug()));
        }
        if let Some(ms) = framing {
            in_range(ms, 1, 1000).map_err(|e| format!("packetization of {name}: {e}"))?;
        }
    }
    Ok(())
}

fn check_name(value: &str) -> Result<(), String> {
    if crate::model::safe::is_plain_identifier(value, 255) {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not an object name (letters, digits, '_', '-', '.')",
            value.escape_debug()
        ))
    }
}

/// A comma-separated list: each item must pass `check`, and there must be one.
fn each(
    value: &str,
    nothing: &str,
    mut check: impl FnMut(&str) -> Result<(), String>,
) -> Result<(), String> {
    let mut items = value
        .split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .peekable();
    if items.peek().is_none() {
        return Err(nothing.into());
    }
    items.try_for_each(&mut check)
}

/// Checks `value` against `value_type` as Asterisk 22 parses it. Where Asterisk
/// is lenient (a boolean it reads as "no" whatever the word), the check takes
/// only the words Asterisk acts on: a typo is refused here rather than quietly
/// meaning no there.
pub fn check_value(value_type: ValueType, value: &str) -> Result<(), String> {
    match value_type {
        ValueType::Bool => {
            let words: Vec<&str> = BOOL_TRUE.iter().chain(BOOL_FALSE).copied().collect();
            one_of(&words, value, false)
        }
        ValueType::Enum(words) => one_of(words, value, false),
        ValueType::EnumExact(words) => one_of(words, value, true),
        ValueType::EnumList(words) => {
            each(value, "names nothing", |item| one_of(words, item, false))
        }
        ValueType::Uint { min, max } => in_range(value, i128::from(min), i128::from(max)),
        ValueType::Int { min, max } => in_range(value, i128::from(min), i128::from(max)),
        ValueType::Float => match value.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 => Ok(()),
            _ => Err(format!("'{}' is not a number", value.escape_debug())),
        },
        ValueType::Seconds => match value.parse::<f64>() {
            Ok(f) if f.is_finite() && f >= 0.0 => Ok(()),
            _ => Err(format!(
                "'{}' is not a number of seconds",
                value.escape_debug()
            )),
        },
        ValueType::IpAddress { port } => check_address(value, port),
        ValueType::Host => {
            if value.parse::<IpAddr>().is_ok() || is_host_name(value) {
                Ok(())
            } else {
                Err(format!(
                    "'{}' is not an IP address or host name",
                    value.escape_debug()
                ))
            }
        }
        ValueType::CidrList => each(value, "names no network", check_network),
        ValueType::CidrOrHostList => each(value, "names nothing", |entry| {
            if entry.contains('/') || entry.parse::<IpAddr>().is_ok() {
                check_network(entry)
            } else if check_address(entry, true).is_ok() || is_host_name(entry) {
                Ok(())
            } else {
                Err(format!(
                    "'{}' is not an address, network or host name",
                    entry.escape_debug()
                ))
            }
        }),
        ValueType::Tos => {
            if DSCP_NAMES.iter().any(|n| n.eq_ignore_ascii_case(value)) {
                Ok(())
            } else {
                in_range(value, 0, 255)
            }
        }
        ValueType::Codecs => check_codecs(value),
        ValueType::ObjectName => check_name(value),
        ValueType::ObjectNames => each(value, "names nothing", check_name),
        ValueType::SipUri => check_sip_uri(value),
        ValueType::SipUris => each(value, "names no URI", check_sip_uri),
        ValueType::Text => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_named_option_has_a_value_type_and_no_more() {
        for section in section_types() {
            for option in options_for(section).unwrap_or_default() {
                assert!(
                    value_type(section, option).is_some(),
                    "{section}.{option} has no value type"
                );
            }
        }
        for (section, option, _) in values::VALUE_TYPES {
            assert!(is_valid_option(section, option), "{section}.{option}");
        }
    }

    /// One real value per type (from the transcripts, Asterisk's sample
    /// configuration or the provider templates) and what Asterisk refuses.
    #[test]
    fn each_type_takes_what_asterisk_takes() {
        let accepted = [
            ("endpoint", "direct_media", "no"),
            ("endpoint", "rtp_symmetric", "YES"),
            ("endpoint", "dtmf_mode", "rfc4733"),
            ("endpoint", "dtmf_mode", "RFC4733"),
            ("endpoint", "dtmf_mode", "none"),
            ("endpoint", "type", "endpoint"),
            ("endpoint", "identify_by", "username,ip"),
            ("aor", "max_contacts", "3"),
            ("aor", "qualify_frequency", "60"),
            ("aor", "qualify_timeout", "3.5"),
            ("transport", "bind", "0.0.0.0:5060"),
            ("transport", "bind", "[::]:5061"),
            ("transport", "external_media_address", "203.0.113.7"),
            ("transport", "external_signaling_address", "pbx.example.com"),
            (
                "transport",
                "local_net",
                "10.0.0.0/8,192.168.0.0/255.255.0.0",
            ),
            ("transport", "tos", "cs3"),
            ("transport", "tos", "184"),
            ("transport", "protocol", "wss"),
            (
                "identify",
                "match",
                "203.0.113.0/24,sip.telnyx.com,203.0.113.9:5060",
            ),
            ("endpoint", "allow", "ulaw,alaw"),
            ("endpoint", "allow", "!all,g722:20"),
            ("endpoint", "transport", "transport-udp"),
            ("endpoint", "aors", "1001, 1001-mobile"),
            ("aor", "outbound_proxy", "sip:proxy.example.com"),
            ("registration", "server_uri", "sip:sip.telnyx.com"),
        ];
        for (section, option, value) in accepted {
            assert_eq!(
                check_option(section, option, value),
                Ok(()),
                "{section}.{option} = {value}"
            );
        }
        let refused = [
            ("endpoint", "direct_media", "maybe"),
            ("endpoint", "direct_media", ""),
            ("endpoint", "dtmf_mode", "bogus_mode"),
            ("endpoint", "type", "Endpoint"),
            ("endpoint", "identify_by", "username,mac"),
            ("endpoint", "no_such_option", "1"),
            ("aor", "max_contacts", "-1"),
            ("aor", "max_contacts", "010"),
            ("aor", "max_contacts", "0x3"),
            ("aor", "max_contacts", "3 "),
            ("aor", "max_contacts", "4294967296"),
            ("aor", "qualify_frequency", "86401"),
            ("aor", "qualify_timeout", "soon"),
            ("transport", "bind", "localhost:5060"),
            ("transport", "bind", "0.0.0.0:70000"),
            ("transport", "external_media_address", "bad host"),
            ("transport", "local_net", "10.0.0.1/8"),
            ("transport", "local_net", "10.0.0.0/33"),
            ("transport", "local_net", "10.0.0.0/255.0.255.0"),
            ("transport", "tos", "256"),
            ("transport", "tos", "fast"),
            ("transport", "protocol", "sctp"),
            ("identify", "match", "203.0.113.1/24"),
            ("endpoint", "allow", "mp3"),
            ("endpoint", "allow", ""),
            ("endpoint", "allow", "ulaw:0"),
            ("endpoint", "transport", "transport udp"),
            ("aor", "outbound_proxy", "http://proxy.example.com"),
        ];
        for (section, option, value) in refused {
            assert!(
                check_option(section, option, value).is_err(),
                "{section}.{option} = {value:?} should be refused"
            );
        }
    }

    proptest! {
        #[test]
        fn any_value_gets_an_answer(section in "(endpoint|aor|auth|transport|identify|registration)", value in "\\PC{0,40}") {
            for option in options_for(&section).unwrap_or_default() {
                let _ = check_option(&section, option, &value);
            }
        }

        #[test]
        fn unsigned_numbers_in_range_are_taken(n in 0u32..=86_400) {
            prop_assert_eq!(check_option("aor", "qualify_frequency", &n.to_string()), Ok(()));
            prop_assert_eq!(check_option("aor", "max_contacts", &n.to_string()), Ok(()));
            let padded = format!("0{n}");
            prop_assert!(check_option("aor", "max_contacts", &padded).is_err());
        }

        #[test]
        fn boolean_spellings_in_any_case_are_taken(word in proptest::sample::select(vec!["yes", "no", "true", "false", "on", "off", "y", "n", "t", "f", "1", "0"]), upper in any::<bool>()) {
            let word = if upper { word.to_ascii_uppercase() } else { word.to_owned() };
            prop_assert_eq!(check_option("endpoint", "direct_media", &word), Ok(()));
        }

        #[test]
        fn networks_are_taken_exactly_without_host_bits(a in any::<u32>(), prefix in 0u32..=32) {
            let network = if prefix == 0 { 0 } else { a & (u32::MAX << (32 - prefix)) };
            let text = format!("{}/{prefix}", std::net::Ipv4Addr::from(network));
            prop_assert_eq!(check_option("transport", "local_net", &text), Ok(()));
            if network != a {
                let with_host = format!("{}/{prefix}", std::net::Ipv4Addr::from(a));
                prop_assert!(check_option("transport", "local_net", &with_host).is_err());
            }
        }
    }
}
