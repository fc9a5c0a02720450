//! Whether Asterisk runs each managed transport as rendered, and what waits for a
//! restart. Two sources, both recorded from Asterisk 22 (`k1`, `k2`):
//! - `pjsip show transports` lists every transport Asterisk has, with protocol,
//!   bind, ToS and CoS: the options a reload leaves as they were;
//! - the `TransportDetail` of an endpoint that names the transport carries every
//!   option, including `external_*` and `local_net`, which a reload applies.
//!
//! A reloadable option that differs means Asterisk refused it: failed. A
//! non-reloadable one that differs waits for a restart.

use std::net::{IpAddr, SocketAddr};

use super::expect::sections;
use crate::ami::Message;
use crate::model::pjsip::values::{BOOL_TRUE, DSCP_NAMES};

/// A transport block as rendered: its name and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTransport {
    pub name: String,
    pub options: Vec<(String, String)>,
}

impl ExpectedTransport {
    fn get(&self, option: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == option)
            .map(|(_, v)| v.as_str())
    }
}

/// The `type=transport` sections of a rendered block.
pub fn expected_transports(body: &str) -> Vec<ExpectedTransport> {
    sections(body)
        .into_iter()
        .filter(|s| s.get("type") == Some("transport"))
        .map(|s| ExpectedTransport {
            name: s.name,
            options: s.options.into_iter().filter(|(k, _)| k != "type").collect(),
        })
        .collect()
}

/// One row of `pjsip show transports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningTransport {
    pub name: String,
    pub protocol: String,
    pub cos: String,
    pub tos: String,
    pub bind: String,
}

/// Reads the rows of `pjsip show transports` (`Transport:  <id> <type> <cos> <tos> <bind>`).
pub fn parse_show_transports(lines: &[String]) -> Vec<RunningTransport> {
    lines
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("Transport:") {
                return None;
            }
            let name = words.next()?;
            if name.starts_with('<') {
                return None;
            }
            Some(RunningTransport {
                name: name.to_owned(),
                protocol: words.next()?.to_owned(),
                cos: words.next()?.to_owned(),
                tos: words.next()?.to_owned(),
                bind: words.next()?.to_owned(),
            })
        })
        .collect()
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportState {
    /// Running with every rendered value.
    Live {
        detail: Option<String>,
    },
    /// Some values wait for a restart (the detail names them and what runs now).
    WaitsForRestart(String),
    Failed(String),
}

/// The ToS byte Asterisk keeps for a `tos=` value: a DSCP name shifted into
/// place, or the number rounded down to a multiple of 4.
fn tos_byte(value: &str) -> Option<u32> {
    if let Some(i) = DSCP_NAMES
        .iter()
        .position(|n| n.eq_ignore_ascii_case(value))
    {
        // CS0..CS7, AF11..AF43, EF, in the table's order.
        const DSCP: [u32; 21] = [
            0, 8, 16, 24, 32, 40, 48, 56, 10, 12, 14, 18, 20, 22, 26, 28, 30, 34, 36, 38, 46,
        ];
        return DSCP.get(i).map(|d| d << 2);
    }
    value.parse::<u32>().ok().map(|v| v & !3)
}

fn same_bind(rendered: &str, running: &str) -> bool {
    match (
        rendered.parse::<SocketAddr>(),
        running.parse::<SocketAddr>(),
    ) {
        (Ok(a), Ok(b)) => a == b,
        // A WebSocket transport's bind is only an address.
        _ => match (rendered.parse::<IpAddr>(), running.parse::<SocketAddr>()) {
            (Ok(a), Ok(b)) => a == b.ip(),
            _ => rendered == running,
        },
    }
}

/// `local_net` as `TransportDetail` prints it: `127.0.0.0/255.0.0.0`, sorted.
fn local_nets(value: &str) -> Vec<String> {
    let mut nets: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|net| match net.split_once('/') {
            Some((address, prefix)) => match (address.parse::<IpAddr>(), prefix.parse::<u32>()) {
                (Ok(IpAddr::V4(a)), Ok(p)) if p <= 32 => {
                    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                    format!("{a}/{}", std::net::Ipv4Addr::from(mask))
                }
                _ => net.to_owned(),
            },
            None => match net.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => format!("{a}/255.255.255.255"),
                _ => net.to_owned(),
            },
        })
        .collect();
    nets.sort();
    nets
}

fn yes_no(value: Option<&str>) -> &'static str {
    match value {
        Some(v) if BOOL_TRUE.iter().any(|t| t.eq_ignore_ascii_case(v)) => "Yes",
        _ => "No",
    }
}

/// Compares a rendered transport with what Asterisk runs. `running` is its row
/// of `pjsip show transports`; `detail` the `TransportDetail` of an endpoint
/// that names it, when one does.
pub fn check_transport(
    expected: &ExpectedTransport,
    running: Option<&RunningTransport>,
    detail: Option<&Message>,
) -> TransportState {
    let name = &expected.name;
    let Some(running) = running else {
        return TransportState::Failed(format!(
            "Asterisk has no transport {name} after reload (a bad value drops it; see the Asterisk log)"
        ));
    };
    let mut waits: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let mut wait = |option: &str, rendered: &str, live: &str| {
        waits.push(format!("{option} (rendered {rendered}, running {live})"));
    };
    let protocol = expected.get("protocol").unwrap_or("udp");
    if !running.protocol.eq_ignore_ascii_case(protocol) {
        wait("protocol", protocol, &running.protocol);
    }
    let bind = expected.get("bind").unwrap_or_default();
    if !same_bind(bind, &running.bind) {
        wait("bind", bind, &running.bind);
    }
    let tos = expected.get("tos").and_then(tos_byte).unwrap_or(0);
    if running.tos.parse::<u32>().ok() != Some(tos) {
        wait("tos", &tos.to_string(), &running.tos);
    }
    let cos = expected.get("cos").unwrap_or("0");
    if running.cos != cos {
        wait("cos", cos, &running.cos);
    }
    let checked_nat = match detail {
        None => false,
        Some(detail) => {
            let field = |name: &str| detail.get(name).unwrap_or_default().to_owned();
            for (option, header) in [
                ("external_media_address", "ExternalMediaAddress"),
                ("external_signaling_address", "ExternalSignalingAddress"),
            ] {
                let rendered = expected.get(option).unwrap_or_default();
                if field(header) != rendered {
                    refused.push(format!(
                        "{option} is '{}', rendered '{rendered}'",
                        field(header)
                    ));
                }
            }
            let port = expected.get("external_signaling_port").unwrap_or("0");
            if field("ExternalSignalingPort") != port {
                refused.push(format!(
                    "external_signaling_port is {}, rendered {port}",
                    field("ExternalSignalingPort")
                ));
            }
            let nets = local_nets(expected.get("local_net").unwrap_or_default());
            if local_nets(&field("LocalNet")) != nets {
                refused.push(format!(
                    "local_net is '{}', rendered '{}'",
                    field("LocalNet"),
                    expected.get("local_net").unwrap_or_default()
                ));
            }
            for (option, header) in [
                ("cert_file", "CertFile"),
                ("priv_key_file", "PrivKeyFile"),
                ("ca_list_file", "CaListFile"),
            ] {
                let rendered = expected.get(option).unwrap_or_default();
                if field(header) != rendered {
                    wait(option, rendered, &field(header));
                }
            }
            let method = expected.get("method").unwrap_or("unspecified");
            if !field("Method").eq_ignore_ascii_case(method) {
                wait("method", method, &field("Method"));
            }
            for (option, header) in [
                ("verify_client", "VerifyClient"),
                ("verify_server", "VerifyServer"),
            ] {
                let rendered = yes_no(expected.get(option));
                if field(header) != rendered {
                    wait(option, rendered, &field(header));
                }
            }
            true
        }
    };
    if !refused.is_empty() {
        return TransportState::Failed(format!(
            "Asterisk did not apply transport {name} as rendered: {}",
            refused.join("; ")
        ));
    }
    if !waits.is_empty() {
        return TransportState::WaitsForRestart(format!(
            "transport {name}: {} wait(s) for an Asterisk restart (a reload does not apply them): {}",
            waits.len(),
            waits.join(", ")
        ));
    }
    TransportState::Live {
        detail: (!checked_nat).then(|| {
            format!(
                "transport {name} runs as rendered; its external addresses and local_net are checked once an endpoint uses it"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pjsip show transports` as Asterisk 22 answered it (k1, block 25).
    const SHOWN: &[&str] = &[
        "",
        "Transport:  <TransportId........>  <Type>  <cos>  <tos>  <BindAddress....................>",
        "==========================================================================================",
        "",
        "Transport:  transport-tcp             tcp      0      0  127.0.0.1:5068",
        "Transport:  transport-udp             udp      0      0  127.0.0.1:5066",
        "",
        "Objects found: 2",
        "",
    ];

    fn shown() -> Vec<RunningTransport> {
        parse_show_transports(&SHOWN.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn udp(bind: &str, extra: &[(&str, &str)]) -> ExpectedTransport {
        let mut options = vec![
            ("protocol".to_owned(), "udp".to_owned()),
            ("bind".to_owned(), bind.to_owned()),
        ];
        options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ExpectedTransport {
            name: "transport-udp".into(),
            options,
        }
    }

    /// The TransportDetail of k1's V2 (bind kept, NAT settings applied).
    fn detail_v2() -> Message {
        Message::new()
            .with("Event", "TransportDetail")
            .with("ObjectName", "transport-udp")
            .with("Protocol", "udp")
            .with("LocalNet", "127.0.0.0/255.0.0.0")
            .with("Bind", "127.0.0.1:5060")
            .with("ExternalMediaAddress", "127.0.0.2")
            .with("Method", "unspecified")
            .with("ExternalSignalingAddress", "127.0.0.3")
            .with("RequireClientCert", "No")
            .with("Tos", "0")
            .with("CertFile", "")
            .with("ExternalSignalingPort", "0")
            .with("VerifyClient", "No")
            .with("VerifyServer", "No")
            .with("PrivKeyFile", "")
            .with("CaListFile", "")
    }

    #[test]
    fn reads_the_recorded_table() {
        let rows = shown();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "transport-udp");
        assert_eq!(rows[1].bind, "127.0.0.1:5066");
        assert_eq!(rows[0].protocol, "tcp");
    }

    #[test]
    fn a_new_bind_waits_for_a_restart_and_nat_settings_are_live() {
        let rows = shown();
        let running = RunningTransport {
            bind: "127.0.0.1:5060".into(),
            ..rows[1].clone()
        };
        let nat = [
            ("external_media_address", "127.0.0.2"),
            ("external_signaling_address", "127.0.0.3"),
            ("local_net", "127.0.0.0/8"),
        ];
        let state = check_transport(
            &udp("127.0.0.1:5066", &nat),
            Some(&running),
            Some(&detail_v2()),
        );
        match state {
            TransportState::WaitsForRestart(why) => {
                assert!(
                    why.contains("bind (rendered 127.0.0.1:5066, running 127.0.0.1:5060)"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        let live = check_transport(
            &udp("127.0.0.1:5060", &nat),
            Some(&running),
            Some(&detail_v2()),
        );
        assert_eq!(live, TransportState::Live { detail: None });
    }

    #[test]
    fn nat_settings_asterisk_did_not_take_fail() {
        let rows = shown();
        let running = RunningTransport {
            bind: "127.0.0.1:5060".into(),
            ..rows[1].clone()
        };
        let state = check_transport(
            &udp("127.0.0.1:5060", &[("local_net", "10.0.0.0/8")]),
            Some(&running),
            Some(&detail_v2()),
        );
        assert!(
            matches!(state, TransportState::Failed(ref why) if why.contains("local_net")),
            "{state:?}"
        );
        assert!(matches!(
            check_transport(&udp("127.0.0.1:5060", &[]), None, None),
            TransportState::Failed(_)
        ));
    }

    #[test]
    fn tos_names_become_the_byte_asterisk_keeps() {
        assert_eq!(tos_byte("cs3"), Some(96));
        assert_eq!(tos_byte("EF"), Some(184));
        assert_eq!(tos_byte("af41"), Some(136));
        assert_eq!(tos_byte("99"), Some(96));
    }
}
