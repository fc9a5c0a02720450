//! Trunks: a connection to a SIP provider, built from a provider template.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::options::{ObjectOptions, TRUNK_SECTIONS};
use super::validate::{FieldErrors, check_codecs, double_option};

/// A trunk as the renderer sees it: the secret is already decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub id: i64,
    /// Section base name in pjsip.conf, e.g. `telnyx_main`.
    pub name: String,
    /// Provider template id, e.g. `telnyx`.
    pub provider: String,
    pub username: Option<String>,
    /// Plain text, only ever in memory and in the rendered file.
    pub password: Option<String>,
    /// Overrides the template's default server.
    pub server: Option<String>,
    pub port: Option<u16>,
    /// The number the provider delivers calls to, e.g. `+15551234567`.
    pub did: Option<String>,
    /// Context inbound calls from this trunk land in.
    pub context: String,
    /// `None`: the template's default codecs.
    pub codecs: Option<Vec<String>>,
    /// Provider addresses (IP or CIDR) for IP-authenticated trunks.
    pub match_addresses: Vec<String>,
    pub enabled: bool,
    /// PJSIP options beyond the provider template's, rendered after them.
    pub options: ObjectOptions,
    /// The transport its endpoint and registration name; `None`: `asterisk.udp_transport`.
    pub transport: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Context inbound calls from a new trunk land in, unless it names one.
pub const DEFAULT_TRUNK_CONTEXT: &str = "from-trunk";
/// Longest trunk name: its sections are `<name>`, `<name>-auth`, `<name>-identify`, ...
pub const MAX_TRUNK_NAME: usize = 40;
/// Most addresses one trunk's `identify` may match.
pub const MAX_MATCH_ADDRESSES: usize = 32;
pub const MAX_TRUNK_PASSWORD: usize = 128;

/// Contexts a trunk or route may not use: the two `extensions.conf` keeps for its
/// settings, and the prefix of the contexts rayan makes for outbound routes.
const RESERVED_CONTEXTS: &[&str] = &["general", "globals"];
pub const ROUTE_CONTEXT_PREFIX: &str = "rayan-out-";

/// Checks the name of an object that becomes a section or context name: a letter, then
/// letters, digits, `_`, `-` or `.`. Starting with a letter keeps trunk endpoints apart
/// from extension endpoints, whose names are digits.
pub fn check_object_name(errors: &mut FieldErrors, field: &str, name: &str, max_len: usize) {
    let valid = name.len() <= max_len
        && name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !valid {
        errors.push(
            field,
            format!(
                "must be 1 to {max_len} characters: a letter, then letters, digits, '_', '-' or '.'"
            ),
        );
    }
}

/// Checks a dialplan context a trunk or route names.
pub fn check_dialplan_context(errors: &mut FieldErrors, field: &str, context: &str) {
    errors.identifier(field, context, 79);
    if RESERVED_CONTEXTS.contains(&context) {
        errors.push(field, format!("'{context}' is reserved by extensions.conf"));
    } else if context.starts_with(ROUTE_CONTEXT_PREFIX) {
        errors.push(
            field,
            format!("contexts starting with '{ROUTE_CONTEXT_PREFIX}' are rayan's own"),
        );
    }
}

/// Checks a trunk password: it is written as `password=<value>` into pjsip.conf, so it
/// must be a safe, non-empty value that does not start with `>` (Asterisk reads `=>`).
/// The message never repeats the value.
pub fn check_trunk_password(errors: &mut FieldErrors, field: &str, password: &str) {
    if password.is_empty() {
        errors.push(field, "must not be empty");
    } else if password.starts_with('>') {
        errors.push(field, "must not start with '>'");
    } else {
        errors.text(field, password, MAX_TRUNK_PASSWORD);
    }
}

/// `POST /api/v1/trunks`. Which of the optional fields are needed depends on the
/// provider template (`required_fields`).
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrunk {
    /// Section name in pjsip.conf.
    #[schema(example = "telnyx_main")]
    pub name: String,
    /// Provider template id.
    #[schema(example = "telnyx")]
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Stored encrypted; never returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Host name or IP address; the template's default when absent.
    #[schema(example = "sip.telnyx.com")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[schema(example = "+15551234567")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did: Option<String>,
    /// Where inbound calls land (default `from-trunk`).
    #[schema(example = "from-trunk")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[schema(example = json!(["ulaw", "alaw"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Vec<String>>,
    /// Provider addresses (IP, CIDR or host) calls are accepted from.
    #[schema(example = json!(["192.76.120.10"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_addresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// PJSIP options beyond the provider template's, per section.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<ObjectOptions>,
    /// A transport by name; absent: the UDP default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

/// `PATCH /api/v1/trunks/{name}`: only the fields sent change; `null` clears an
/// optional field.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u16>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<Option<u16>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Option<Vec<String>>>,
    /// `[]` clears the list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_addresses: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replaces every override; `null` removes them.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Option<ObjectOptions>>,
    /// `null` goes back to the UDP default.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Option<String>>,
}

/// The trunk fields both inputs share, borrowed for validation.
struct TrunkFieldRefs<'a> {
    username: Option<&'a str>,
    password: Option<&'a str>,
    server: Option<&'a str>,
    port: Option<u16>,
    did: Option<&'a str>,
    context: Option<&'a str>,
    codecs: Option<&'a [String]>,
    match_addresses: Option<&'a [String]>,
    transport: Option<&'a str>,
}

fn check_trunk_fields(errors: &mut FieldErrors, f: TrunkFieldRefs<'_>) {
    if let Some(username) = f.username {
        errors.text("username", username, 200);
    }
    if let Some(password) = f.password {
        check_trunk_password(errors, "password", password);
    }
    if let Some(server) = f.server {
        errors.text("server", server, 255);
    }
    if let Some(transport) = f.transport {
        errors.identifier("transport", transport, super::transport::MAX_TRANSPORT_NAME);
    }
    if f.port == Some(0) {
        errors.push("port", "must be 1 to 65535");
    }
    if let Some(did) = f.did {
        errors.text("did", did, 40);
    }
    if let Some(context) = f.context {
        check_dialplan_context(errors, "context", context);
    }
    if let Some(codecs) = f.codecs {
        check_codecs(errors, "codecs", codecs);
    }
    if let Some(addresses) = f.match_addresses {
        if addresses.len() > MAX_MATCH_ADDRESSES {
            errors.push(
                "match_addresses",
                format!("must list at most {MAX_MATCH_ADDRESSES} addresses"),
            );
        }
        for (i, address) in addresses.iter().enumerate() {
            errors.text(&format!("match_addresses[{i}]"), address, 64);
        }
    }
}

impl NewTrunk {
    /// Checks every field on its own; the provider's rules are checked by the service.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        check_object_name(&mut errors, "name", &self.name, MAX_TRUNK_NAME);
        errors.identifier("provider", &self.provider, 40);
        check_trunk_fields(
            &mut errors,
            TrunkFieldRefs {
                username: self.username.as_deref(),
                password: self.password.as_deref(),
                server: self.server.as_deref(),
                port: self.port,
                did: self.did.as_deref(),
                context: self.context.as_deref(),
                codecs: self.codecs.as_deref(),
                match_addresses: self.match_addresses.as_deref(),
                transport: self.transport.as_deref(),
            },
        );
        if let Some(options) = &self.options {
            options.check(&mut errors, "options", TRUNK_SECTIONS);
        }
        errors.finish()
    }
}

impl TrunkPatch {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Some(provider) = &self.provider {
            errors.identifier("provider", provider, 40);
        }
        check_trunk_fields(
            &mut errors,
            TrunkFieldRefs {
                username: self.username.as_ref().and_then(|v| v.as_deref()),
                password: self.password.as_ref().and_then(|v| v.as_deref()),
                server: self.server.as_ref().and_then(|v| v.as_deref()),
                port: self.port.flatten(),
                did: self.did.as_ref().and_then(|v| v.as_deref()),
                context: self.context.as_deref(),
                codecs: self.codecs.as_ref().and_then(|v| v.as_deref()),
                match_addresses: self.match_addresses.as_deref(),
                transport: self.transport.as_ref().and_then(|t| t.as_deref()),
            },
        );
        if let Some(Some(options)) = &self.options {
            options.check(&mut errors, "options", TRUNK_SECTIONS);
        }
        errors.finish()
    }

    /// Applies the patch to `trunk` (whose password may be a stand-in: only whether it is
    /// set matters to the caller's checks).
    pub fn apply_to(&self, trunk: &mut Trunk) {
        if let Some(provider) = &self.provider {
            trunk.provider = provider.clone();
        }
        if let Some(username) = &self.username {
            trunk.username = username.clone();
        }
        if let Some(password) = &self.password {
            trunk.password = password.clone();
        }
        if let Some(server) = &self.server {
            trunk.server = server.clone();
        }
        if let Some(port) = self.port {
            trunk.port = port;
        }
        if let Some(did) = &self.did {
            trunk.did = did.clone();
        }
        if let Some(context) = &self.context {
            trunk.context = context.clone();
        }
        if let Some(codecs) = &self.codecs {
            trunk.codecs = codecs.clone();
        }
        if let Some(addresses) = &self.match_addresses {
            trunk.match_addresses = addresses.clone();
        }
        if let Some(enabled) = self.enabled {
            trunk.enabled = enabled;
        }
        if let Some(options) = &self.options {
            trunk.options = options.clone().unwrap_or_default();
        }
        if let Some(transport) = &self.transport {
            trunk.transport = transport.clone();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.provider.is_none()
            && self.username.is_none()
            && self.password.is_none()
            && self.server.is_none()
            && self.port.is_none()
            && self.did.is_none()
            && self.context.is_none()
            && self.codecs.is_none()
            && self.match_addresses.is_none()
            && self.transport.is_none()
            && self.enabled.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn object_names_start_with_a_letter() {
        for (name, ok) in [
            ("telnyx_main", true),
            ("t", true),
            ("us-east.2", true),
            ("1001", false),
            ("", false),
            ("a b", false),
            ("a+b", false),
            ("x[y]", false),
            (&"a".repeat(41), false),
        ] {
            let mut errors = FieldErrors::new();
            check_object_name(&mut errors, "name", name, MAX_TRUNK_NAME);
            assert_eq!(errors.is_empty(), ok, "{name}");
        }
    }

    #[test]
    fn reserved_and_route_contexts_are_refused() {
        for (context, ok) in [
            ("from-trunk", true),
            ("general", false),
            ("globals", false),
            ("rayan-out-x", false),
            ("a;b", false),
        ] {
            let mut errors = FieldErrors::new();
            check_dialplan_context(&mut errors, "context", context);
            assert_eq!(errors.is_empty(), ok, "{context}");
        }
    }

    #[test]
    fn patch_applies_only_what_was_sent() {
        let now = Utc::now();
        let mut trunk = Trunk {
            id: 1,
            name: "t".into(),
            provider: "telnyx".into(),
            username: Some("u".into()),
            password: Some("p".into()),
            server: Some("sip.example.com".into()),
            port: Some(5060),
            did: None,
            context: "from-trunk".into(),
            codecs: None,
            match_addresses: vec![],
            enabled: true,
            options: Default::default(),
            transport: None,
            created_at: now,
            updated_at: now,
        };
        let patch: TrunkPatch =
            serde_json::from_str(r#"{"server": null, "port": 5080, "enabled": false}"#).unwrap();
        patch.apply_to(&mut trunk);
        assert_eq!(trunk.server, None);
        assert_eq!(trunk.port, Some(5080));
        assert!(!trunk.enabled);
        assert_eq!(trunk.username.as_deref(), Some("u"));
        assert_eq!(trunk.password.as_deref(), Some("p"));
    }

    proptest! {
        /// Whatever the trunk validator accepts cannot open a line, section or comment.
        #[test]
        fn hostile_text_never_validates(s in prop_oneof![
            "\\PC{0,20}",
            "[a-z]{0,4}[\\n\\r\\x00;\\[\\]\\\\][a-z]{0,4}",
        ]) {
            let input = NewTrunk {
                name: "t".into(),
                provider: "custom_ip".into(),
                username: Some(s.clone()),
                password: Some(s.clone()),
                server: Some(s.clone()),
                did: Some(s.clone()),
                context: Some(s.clone()),
                match_addresses: Some(vec![s.clone()]),
                ..Default::default()
            };
            if input.validate().is_ok() {
                for c in ['\n', '\r', '\0', ';', '[', ']', '\\'] {
                    prop_assert!(!s.contains(c));
                }
            }
        }
    }
}
