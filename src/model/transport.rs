//! PJSIP transports: the sockets Asterisk listens on, with their NAT settings
//! (`external_*`, `local_net`) and, for TLS, their certificates.
//!
//! Asterisk applies only some of a transport's options on reload (transcript
//! `k1`): `external_media_address`, `external_signaling_address` (+ port) and
//! `local_net` change at once; protocol, bind, TLS, TCP, ToS and CoS settings
//! wait for a restart unless `allow_reload=yes`. [`Transport::waits_for_restart`]
//! is that rule, in one place.

use std::net::{IpAddr, SocketAddr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pjsip::check_option;
use super::trunk::check_object_name;
use super::validate::{FieldErrors, double_option};

/// Longest transport name (a section name of its own).
pub const MAX_TRANSPORT_NAME: usize = 40;
/// Most networks one `local_net` may list.
pub const MAX_LOCAL_NETS: usize = 32;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportProtocol {
    #[default]
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

impl TransportProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Udp, Self::Tcp, Self::Tls, Self::Ws, Self::Wss]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(text))
    }

    /// WebSocket transports ride Asterisk's HTTP server: its port, not one of theirs.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    /// The port a transport of this protocol listens on unless told otherwise.
    pub fn default_port(self) -> Option<u16> {
        match self {
            Self::Udp | Self::Tcp => Some(5060),
            Self::Tls => Some(5061),
            Self::Ws | Self::Wss => None,
        }
    }
}

/// TLS settings (only for `tls`; `wss` takes its certificate from `http.conf`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priv_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_list_file: Option<String>,
    /// `tlsv1_2`, `tlsv1_3`, `sslv23`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_client: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_server: Option<bool>,
}

impl TlsSettings {
    pub fn is_empty(&self) -> bool {
        *self == TlsSettings::default()
    }

    /// The files it names, with their field, for the readability check.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        [
            ("tls.cert_file", self.cert_file.as_deref()),
            ("tls.priv_key_file", self.priv_key_file.as_deref()),
            ("tls.ca_list_file", self.ca_list_file.as_deref()),
        ]
        .into_iter()
        .filter_map(|(field, path)| path.map(|p| (field, p)))
        .collect()
    }
}

/// A transport as stored and rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub id: i64,
    /// Its section name, e.g. `transport-udp`.
    pub name: String,
    pub protocol: TransportProtocol,
    /// The address it listens on.
    pub bind: IpAddr,
    /// `None` for `ws`/`wss`.
    pub port: Option<u16>,
    pub external_media_address: Option<String>,
    pub external_signaling_address: Option<String>,
    pub external_signaling_port: Option<u16>,
    /// Networks reached without NAT, e.g. `192.168.0.0/16`.
    pub local_net: Vec<String>,
    /// A DSCP name (`ef`, `cs3`, …) or a number.
    pub tos: Option<String>,
    pub cos: Option<u8>,
    pub tls: TlsSettings,
    /// Lets a reload apply every option (Asterisk then recreates the listener).
    pub allow_reload: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/transports`.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransport {
    #[schema(example = "transport-udp")]
    pub name: String,
    #[schema(example = "udp")]
    pub protocol: TransportProtocol,
    /// Default `0.0.0.0`.
    #[schema(value_type = Option<String>, example = "0.0.0.0")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<IpAddr>,
    /// Default 5060 (5061 for tls); not for ws/wss.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[schema(example = "203.0.113.7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_media_address: Option<String>,
    #[schema(example = "203.0.113.7")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_signaling_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_signaling_port: Option<u16>,
    #[schema(example = json!(["192.168.0.0/16"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_net: Option<Vec<String>>,
    #[schema(example = "cs3")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cos: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_reload: Option<bool>,
}

/// `PATCH /api/v1/transports/{name}`: only the fields sent change; `null` clears
/// an optional one.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransportPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<IpAddr>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u16>)]
    pub port: Option<Option<u16>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub external_media_address: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub external_signaling_address: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u16>)]
    pub external_signaling_port: Option<Option<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_net: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub tos: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u8>)]
    pub cos: Option<Option<u8>>,
    /// Replaces the TLS settings as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_reload: Option<bool>,
}

impl TransportPatch {
    pub fn is_empty(&self) -> bool {
        *self == TransportPatch::default()
    }

    pub fn apply_to(&self, t: &mut Transport) {
        if let Some(protocol) = self.protocol {
            t.protocol = protocol;
            // A port that made sense for the old protocol is kept only if it fits.
            if self.port.is_none() {
                t.port = match (t.port, protocol.default_port()) {
                    (_, None) => None,
                    (Some(p), Some(_)) => Some(p),
                    (None, default) => default,
                };
            }
        }
        if let Some(bind) = self.bind {
            t.bind = bind;
        }
        if let Some(port) = self.port {
            t.port = port.or(t.protocol.default_port());
        }
        if let Some(v) = &self.external_media_address {
            t.external_media_address = v.clone();
        }
        if let Some(v) = &self.external_signaling_address {
            t.external_signaling_address = v.clone();
        }
        if let Some(v) = self.external_signaling_port {
            t.external_signaling_port = v;
        }
        if let Some(v) = &self.local_net {
            t.local_net = v.clone();
        }
        if let Some(v) = &self.tos {
            t.tos = v.clone();
        }
        if let Some(v) = self.cos {
            t.cos = v;
        }
        if let Some(v) = &self.tls {
            t.tls = v.clone();
        }
        if let Some(v) = self.allow_reload {
            t.allow_reload = v;
        }
    }
}

impl NewTransport {
    /// The transport it describes, with defaults filled in (not yet checked).
    pub fn into_transport(self, now: DateTime<Utc>) -> Transport {
        Transport {
            id: 0,
            name: self.name,
            protocol: self.protocol,
            bind: self
                .bind
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            port: self.port.or(self.protocol.default_port()),
            external_media_address: self.external_media_address,
            external_signaling_address: self.external_signaling_address,
            external_signaling_port: self.external_signaling_port,
            local_net: self.local_net.unwrap_or_default(),
            tos: self.tos,
            cos: self.cos,
            tls: self.tls.unwrap_or_default(),
            allow_reload: self.allow_reload.unwrap_or(false),
            created_at: now,
            updated_at: now,
        }
    }
}

/// Which options a reload applies, and which wait for a restart (`k1`).
pub const RELOADABLE_OPTIONS: &[&str] = &[
    "external_media_address",
    "external_signaling_address",
    "external_signaling_port",
    "local_net",
];

impl Transport {
    /// `bind=` as Asterisk reads it: `0.0.0.0:5060`, `[::]:5061`, or only the
    /// address for WebSocket transports.
    pub fn bind_value(&self) -> String {
        match self.port {
            Some(port) => SocketAddr::new(self.bind, port).to_string(),
            None => self.bind.to_string(),
        }
    }

    /// The options of its `type=transport` section, in the order written.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = vec![
            ("protocol", self.protocol.as_str().to_owned()),
            ("bind", self.bind_value()),
        ];
        let mut push = |name: &'static str, value: Option<String>| {
            if let Some(value) = value {
                out.push((name, value));
            }
        };
        push(
            "external_media_address",
            self.external_media_address.clone(),
        );
        push(
            "external_signaling_address",
            self.external_signaling_address.clone(),
        );
        push(
            "external_signaling_port",
            self.external_signaling_port.map(|p| p.to_string()),
        );
        push(
            "local_net",
            (!self.local_net.is_empty()).then(|| self.local_net.join(",")),
        );
        push("tos", self.tos.clone());
        push("cos", self.cos.map(|c| c.to_string()));
        push("cert_file", self.tls.cert_file.clone());
        push("priv_key_file", self.tls.priv_key_file.clone());
        push("ca_list_file", self.tls.ca_list_file.clone());
        push("method", self.tls.method.clone());
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        push("verify_client", self.tls.verify_client.map(yes_no));
        push("verify_server", self.tls.verify_server.map(yes_no));
        push("allow_reload", self.allow_reload.then(|| "yes".to_owned()));
        out
    }

    /// Checks every field on its own and together; file readability and clashes
    /// with other transports are the service's (they need the disk and the database).
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_object_name(&mut errors, "name", &self.name, MAX_TRANSPORT_NAME);
        if self.bind.is_multicast() {
            errors.push("bind", "must be a unicast address or 0.0.0.0/::");
        }
        match (self.protocol.is_websocket(), self.port) {
            (true, Some(_)) => errors.push(
                "port",
                "ws and wss transports use the port of Asterisk's HTTP server (http.conf); leave it out",
            ),
            (false, Some(0)) => errors.push("port", "must be 1 to 65535"),
            (false, None) => errors.push("port", "is required for udp, tcp and tls"),
            _ => {}
        }
        for (field, value) in [
            ("external_media_address", &self.external_media_address),
            (
                "external_signaling_address",
                &self.external_signaling_address,
            ),
        ] {
            if let Some(value) = value {
                if let Err(e) = check_option("transport", field, value) {
                    errors.push(field, e);
                }
            }
        }
        if self.external_signaling_port == Some(0) {
            errors.push("external_signaling_port", "must be 1 to 65535");
        }
        if self.external_signaling_port.is_some() && self.external_signaling_address.is_none() {
            errors.push(
                "external_signaling_port",
                "needs external_signaling_address",
            );
        }
        if self.local_net.len() > MAX_LOCAL_NETS {
            errors.push(
                "local_net",
                format!("must list at most {MAX_LOCAL_NETS} networks"),
            );
        }
        for (i, net) in self.local_net.iter().enumerate() {
            let field = format!("local_net[{i}]");
            if net.contains(',') || net.trim() != net || net.starts_with('!') {
                errors.push(field, "must be one network, e.g. 192.168.0.0/16");
            } else if let Err(e) = check_option("transport", "local_net", net) {
                errors.push(field, e);
            }
        }
        if let Some(tos) = &self.tos {
            if let Err(e) = check_option("transport", "tos", tos) {
                errors.push("tos", e);
            }
        }
        if self.cos.is_some_and(|c| c > 7) {
            errors.push("cos", "must be 0 to 7");
        }
        let tls = self.protocol == TransportProtocol::Tls;
        if !tls && !self.tls.is_empty() {
            errors.push("tls", "only a tls transport takes TLS settings");
        }
        if tls {
            if self.tls.cert_file.is_none() {
                errors.push("tls.cert_file", "a tls transport needs a certificate");
            }
            if self.tls.priv_key_file.is_none() {
                errors.push("tls.priv_key_file", "a tls transport needs a private key");
            }
        }
        for (field, path) in self.tls.files() {
            if !path.starts_with('/') {
                errors.push(field, "must be an absolute path");
            } else if let Err(e) = check_option("transport", &field[4..], path) {
                errors.push(field, e);
            } else if let Err(e) = super::safe::check_config_value(path) {
                errors.push(field, e.to_string());
            }
        }
        if let Some(method) = &self.tls.method {
            if let Err(e) = check_option("transport", "method", method) {
                errors.push("tls.method", e);
            }
        }
        errors.finish()
    }

    /// Two transports that would listen on the same socket: same protocol family
    /// and port on the same (or an overlapping wildcard) address. WebSocket
    /// transports share Asterisk's HTTP server: one of each protocol.
    pub fn clashes_with(&self, other: &Transport) -> bool {
        if self.name == other.name {
            return false;
        }
        if self.protocol.is_websocket() || other.protocol.is_websocket() {
            return self.protocol == other.protocol;
        }
        // tcp, tls and ws share TCP ports; udp is its own.
        let family = |p: TransportProtocol| p == TransportProtocol::Udp;
        family(self.protocol) == family(other.protocol)
            && self.port == other.port
            && (self.bind == other.bind
                || self.bind.is_unspecified()
                || other.bind.is_unspecified())
    }

    /// The options this transport's last-applied text differs from `self` in that
    /// a reload leaves as they were: what waits for a restart. Empty when a
    /// reload applies everything (`allow_reload`, or only reloadable changes).
    pub fn waits_for_restart(&self, before: &[(String, String)]) -> Vec<String> {
        if self.allow_reload {
            return Vec::new();
        }
        let now = self.options();
        let value = |list: &[(String, String)], name: &str| {
            list.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        };
        let mut names: Vec<&str> = now.iter().map(|(k, _)| *k).collect();
        for (k, _) in before {
            if !names.contains(&k.as_str()) {
                names.push(k);
            }
        }
        let now: Vec<(String, String)> = now.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        names
            .into_iter()
            .filter(|name| !RELOADABLE_OPTIONS.contains(name) && *name != "allow_reload")
            .filter(|name| value(&now, name) != value(before, name))
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn udp() -> Transport {
        NewTransport {
            name: "transport-udp".into(),
            protocol: TransportProtocol::Udp,
            ..NewTransport::default()
        }
        .into_transport(Utc::now())
    }

    #[test]
    fn renders_bind_for_both_families_and_websockets() {
        let mut t = udp();
        assert_eq!(t.bind_value(), "0.0.0.0:5060");
        t.bind = "::".parse().unwrap();
        t.port = Some(5061);
        assert_eq!(t.bind_value(), "[::]:5061");
        t.protocol = TransportProtocol::Wss;
        t.port = None;
        assert_eq!(t.bind_value(), "::");
    }

    #[test]
    fn refuses_what_asterisk_would_refuse_and_names_the_field() {
        let mut t = udp();
        t.local_net = vec!["192.168.1.1/24".into(), "10.0.0.0/8".into()];
        t.external_media_address = Some("bad host!".into());
        t.cos = Some(9);
        t.tos = Some("loud".into());
        let errors = t.check().unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec!["external_media_address", "local_net[0]", "tos", "cos"],
            "{errors}"
        );
        assert!(errors.0[1].message.contains("host bits"), "{errors}");
    }

    #[test]
    fn tls_needs_its_files_and_others_take_none() {
        let mut t = udp();
        t.protocol = TransportProtocol::Tls;
        let errors = t.check().unwrap_err().to_string();
        assert!(errors.contains("tls.cert_file"), "{errors}");
        t.tls.cert_file = Some("/etc/asterisk/keys/a.pem".into());
        t.tls.priv_key_file = Some("relative.key".into());
        let errors = t.check().unwrap_err().to_string();
        assert!(
            errors.contains("tls.priv_key_file: must be an absolute"),
            "{errors}"
        );
        let mut u = udp();
        u.tls.method = Some("tlsv1_2".into());
        assert!(u.check().unwrap_err().to_string().contains("only a tls"));
    }

    #[test]
    fn clashes_on_the_same_socket_only() {
        let a = udp();
        let mut b = udp();
        b.name = "other".into();
        assert!(a.clashes_with(&b));
        b.bind = "127.0.0.1".parse().unwrap();
        assert!(a.clashes_with(&b), "0.0.0.0 covers 127.0.0.1");
        b.protocol = TransportProtocol::Tcp;
        assert!(!a.clashes_with(&b), "udp and tcp are separate sockets");
        b.port = Some(5070);
        b.protocol = TransportProtocol::Udp;
        assert!(!a.clashes_with(&b));
    }

    #[test]
    fn only_non_reloadable_changes_wait_for_a_restart() {
        let before: Vec<(String, String)> = udp()
            .options()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let mut t = udp();
        t.external_media_address = Some("203.0.113.7".into());
        t.local_net = vec!["10.0.0.0/8".into()];
        assert!(t.waits_for_restart(&before).is_empty());
        t.port = Some(5066);
        t.tos = Some("cs3".into());
        assert_eq!(t.waits_for_restart(&before), vec!["bind", "tos"]);
        t.allow_reload = true;
        assert!(t.waits_for_restart(&before).is_empty());
    }

    proptest! {
        /// Whatever passes the checks renders values Asterisk's parser takes back
        /// unchanged: one line each, no section or comment.
        #[test]
        fn checked_transports_render_safe_lines(
            a in any::<[u8; 4]>(), port in 1u16.., prefix in 8u8..=32,
            ext in "[a-z]{1,10}\\.example\\.com", tos in prop::sample::select(vec!["ef", "cs3", "af41", "0x10", "96"]),
        ) {
            let mut t = udp();
            t.bind = IpAddr::from(a);
            t.port = Some(port);
            let net = u32::from_be_bytes(a) & (u32::MAX << (32 - u32::from(prefix)));
            t.local_net = vec![format!("{}/{prefix}", std::net::Ipv4Addr::from(net))];
            t.external_media_address = Some(ext);
            t.tos = Some(tos.to_owned());
            if t.bind.is_multicast() { return Ok(()); }
            if t.check().is_ok() {
                for (option, value) in t.options() {
                    prop_assert!(!value.contains('\n') && !value.contains(';'), "{option}={value}");
                    prop_assert!(check_option("transport", option, &value).is_ok(), "{option}={value}");
                }
            }
        }
    }
}
