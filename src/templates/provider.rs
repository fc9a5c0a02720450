//! Provider templates: how to build a trunk's PJSIP sections for one SIP provider.
//!
//! A template is a TOML file in `provider_templates/`. It names the trunk fields the
//! provider needs, its default server, port, codecs and signalling addresses, and the
//! extra options of each section (`[endpoint]`, `[aor]`, `[auth]`, `[registration]`,
//! `[identify]`). The renderer writes the options that tie the sections together itself
//! (names, `type`, `aors`, `outbound_auth`, `endpoint`, `match`, credentials, context,
//! codecs); a template may add any other documented option or replace a default one.
//!
//! Option values may use placeholders filled from the trunk: `{trunk}`, `{username}`,
//! `{server}`, `{port}` and `{did}`. An option whose placeholder refers to a field the
//! trunk does not have (e.g. `{did}` on a trunk without a DID) is left out.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::TemplateError;
use crate::model::address::{is_host, is_match_address};
use crate::model::options::TRUNK_SECTIONS;
use crate::model::pjsip::{check_option, is_valid_option};
use crate::model::safe::{check_config_value, is_plain_identifier};
use crate::model::validate::check_codecs;
use crate::model::{FieldErrors, Trunk};

/// How the provider recognises this PBX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// Digest username and password (with or without registration).
    Credential,
    /// The provider trusts this PBX's public IP address; no credentials.
    Ip,
}

/// A trunk input field a template can require.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TrunkField {
    Username,
    Password,
    Server,
    Port,
    Did,
    Context,
    Codecs,
    MatchAddresses,
}

impl TrunkField {
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkField::Username => "username",
            TrunkField::Password => "password",
            TrunkField::Server => "server",
            TrunkField::Port => "port",
            TrunkField::Did => "did",
            TrunkField::Context => "context",
            TrunkField::Codecs => "codecs",
            TrunkField::MatchAddresses => "match_addresses",
        }
    }

    /// True when `trunk` has a value for this field.
    pub fn is_set(self, trunk: &Trunk) -> bool {
        match self {
            TrunkField::Username => trunk.username.as_deref().is_some_and(|s| !s.is_empty()),
            TrunkField::Password => trunk.password.as_deref().is_some_and(|s| !s.is_empty()),
            TrunkField::Server => trunk.server.as_deref().is_some_and(|s| !s.is_empty()),
            TrunkField::Port => trunk.port.is_some(),
            TrunkField::Did => trunk.did.as_deref().is_some_and(|s| !s.is_empty()),
            TrunkField::Context => !trunk.context.is_empty(),
            TrunkField::Codecs => trunk.codecs.as_ref().is_some_and(|c| !c.is_empty()),
            TrunkField::MatchAddresses => !trunk.match_addresses.is_empty(),
        }
    }
}

impl std::fmt::Display for TrunkField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn default_port() -> u16 {
    5060
}

/// One provider template, as loaded from `provider_templates/<id>.toml` or made by an
/// administrator through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderTemplate {
    #[schema(example = "telnyx")]
    pub id: String,
    #[schema(example = "Telnyx")]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    pub auth_type: AuthType,
    /// Used when the trunk names no server.
    #[serde(default)]
    #[schema(example = "sip.telnyx.com")]
    pub default_server: Option<String>,
    #[serde(default = "default_port")]
    pub default_port: u16,
    /// Whether Asterisk registers to the provider (credential templates only).
    #[serde(default)]
    pub register: bool,
    pub required_fields: Vec<TrunkField>,
    #[serde(default)]
    pub optional_fields: Vec<TrunkField>,
    /// `allow=` when the trunk sets no codecs.
    pub default_codecs: Vec<String>,
    /// The provider's signalling addresses for `identify`, when the trunk lists none.
    #[serde(default)]
    pub default_match: Vec<String>,
    /// Where the servers and options come from.
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub endpoint: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub aor: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub auth: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub registration: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "scalar_map")]
    pub identify: BTreeMap<String, String>,
}

/// Option values may be written as TOML strings, integers or booleans (`yes`/`no`).
fn scalar_map<'de, D: Deserializer<'de>>(de: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Integer(i64),
        Flag(bool),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(de)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Scalar::Text(s) => s,
                Scalar::Integer(i) => i.to_string(),
                Scalar::Flag(true) => "yes".to_owned(),
                Scalar::Flag(false) => "no".to_owned(),
            };
            (k, v)
        })
        .collect())
}

/// The placeholders option values may use.
pub const PLACEHOLDERS: &[&str] = &["trunk", "username", "server", "port", "did"];

/// Expands the placeholders of `value` with `lookup`. `Ok(None)`: a placeholder names a
/// value the trunk does not have. `Err`: a malformed or unknown placeholder.
pub fn expand_placeholders<'v>(
    value: &str,
    lookup: impl Fn(&str) -> Option<&'v str>,
) -> Result<Option<String>, String> {
    let mut out = String::with_capacity(value.len() + 16);
    let mut rest = value;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("'{{' without '}}' in '{value}'"));
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder '{{{name}}}' (known: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        match lookup(name) {
            Some(v) => out.push_str(v),
            None => return Ok(None),
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("'}}' without '{{' in '{value}'"));
    }
    out.push_str(rest);
    Ok(Some(out))
}

impl ProviderTemplate {
    /// Parses and validates one template; `origin` names it in errors (e.g. the file name).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, TemplateError> {
        let template: ProviderTemplate =
            toml::from_str(text).map_err(|e| TemplateError::Parse {
                origin: origin.to_owned(),
                message: e.to_string(),
            })?;
        template.validate(origin)?;
        Ok(template)
    }

    /// The extra options of one trunk section kind (`endpoint`, `aor`, ...).
    pub fn options(&self, section: &str) -> Option<&BTreeMap<String, String>> {
        match section {
            "endpoint" => Some(&self.endpoint),
            "aor" => Some(&self.aor),
            "auth" => Some(&self.auth),
            "registration" => Some(&self.registration),
            "identify" => Some(&self.identify),
            _ => None,
        }
    }

    /// The required fields `trunk` leaves empty (the API answers 422 with them).
    pub fn missing_required(&self, trunk: &Trunk) -> Vec<TrunkField> {
        self.required_fields
            .iter()
            .copied()
            .filter(|f| !f.is_set(trunk))
            .collect()
    }

    /// Everything wrong with this template, one sentence each; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !is_plain_identifier(&self.id, 40) {
            problems.push("id must be 1 to 40 letters, digits, '_', '-', '.' or '+'".to_owned());
        }
        if self.display_name.trim().is_empty() || self.display_name.chars().count() > 80 {
            problems.push("display_name must be 1 to 80 characters".to_owned());
        }
        if self.default_port == 0 {
            problems.push("default_port must be 1 to 65535".to_owned());
        }
        self.check_fields(&mut problems);
        if let Some(server) = &self.default_server {
            if !is_host(server) {
                problems.push(format!(
                    "default_server '{}' is not a host name or IP address",
                    server.escape_debug()
                ));
            }
        }
        let mut codec_errors = FieldErrors::new();
        check_codecs(&mut codec_errors, "default_codecs", &self.default_codecs);
        problems.extend(
            codec_errors
                .0
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message)),
        );
        for address in &self.default_match {
            if !is_match_address(address) {
                problems.push(format!(
                    "default_match '{}' is not an IP, CIDR network or host",
                    address.escape_debug()
                ));
            }
        }
        self.check_sections(&mut problems);
        problems
    }

    fn check_fields(&self, problems: &mut Vec<String>) {
        let mut seen = Vec::new();
        for field in self.required_fields.iter().chain(&self.optional_fields) {
            if seen.contains(field) {
                problems.push(format!("field '{field}' is listed twice"));
            }
            seen.push(*field);
        }
        let listed = |f: TrunkField| seen.contains(&f);
        let required = |f: TrunkField| self.required_fields.contains(&f);
        match self.auth_type {
            AuthType::Credential => {
                for f in [TrunkField::Username, TrunkField::Password] {
                    if !required(f) {
                        problems.push(format!("a credential template must require '{f}'"));
                    }
                }
            }
            AuthType::Ip => {
                if listed(TrunkField::Password) {
                    problems.push("an ip template takes no password".to_owned());
                }
                if self.register {
                    problems.push("an ip template cannot register".to_owned());
                }
            }
        }
        if self.default_server.is_none() && !required(TrunkField::Server) {
            problems.push("without default_server, 'server' must be a required field".to_owned());
        }
    }

    fn check_sections(&self, problems: &mut Vec<String>) {
        let sample = |name: &str| -> Option<&'static str> {
            match name {
                "trunk" => Some("trunk"),
                "username" => Some("user"),
                "server" => Some("sip.example.com"),
                "port" => Some("5060"),
                "did" => Some("+15551234567"),
                _ => None,
            }
        };
        for (section, owned) in TRUNK_SECTIONS {
            let Some(options) = self.options(section) else {
                continue;
            };
            if options.is_empty() {
                continue;
            }
            let applies = match *section {
                "auth" => self.auth_type == AuthType::Credential,
                "registration" => self.register,
                _ => true,
            };
            if !applies {
                problems.push(format!(
                    "[{section}] options are set but this template renders no {section} section"
                ));
            }
            for (option, value) in options {
                if owned.iter().any(|(o, _)| o == option) {
                    problems.push(format!(
                        "[{section}] {option} is written by rayan and cannot be set by a template"
                    ));
                } else if !is_valid_option(section, option) {
                    problems.push(format!(
                        "[{section}] '{}' is not a PJSIP {section} option",
                        option.escape_debug()
                    ));
                }
                match expand_placeholders(value, sample) {
                    Err(e) => problems.push(format!("[{section}] {option}: {e}")),
                    Ok(Some(expanded)) => {
                        if let Err(e) = check_config_value(&expanded) {
                            problems.push(format!("[{section}] {option}: value {e}"));
                        } else if expanded.is_empty() {
                            problems.push(format!("[{section}] {option}: value is empty"));
                        } else if is_valid_option(section, option)
                            && let Err(e) = check_option(section, option, &expanded)
                        {
                            problems.push(format!("[{section}] {option}: value {e}"));
                        }
                    }
                    Ok(None) => {}
                }
            }
        }
    }

    fn validate(&self, origin: &str) -> Result<(), TemplateError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(TemplateError::Invalid {
                id: self.id.clone(),
                origin: origin.to_owned(),
                problems,
            })
        }
    }
}

/// The templates shipped with rayan (`provider_templates/`), compiled in.
const BUILTIN: &[(&str, &str)] = &[
    (
        "bandwidth.toml",
        include_str!("../../provider_templates/bandwidth.toml"),
    ),
    (
        "custom_credential.toml",
        include_str!("../../provider_templates/custom_credential.toml"),
    ),
    (
        "custom_ip.toml",
        include_str!("../../provider_templates/custom_ip.toml"),
    ),
    (
        "flowroute.toml",
        include_str!("../../provider_templates/flowroute.toml"),
    ),
    (
        "plivo.toml",
        include_str!("../../provider_templates/plivo.toml"),
    ),
    (
        "signalwire.toml",
        include_str!("../../provider_templates/signalwire.toml"),
    ),
    (
        "telnyx.toml",
        include_str!("../../provider_templates/telnyx.toml"),
    ),
    (
        "twilio.toml",
        include_str!("../../provider_templates/twilio.toml"),
    ),
    (
        "voipms.toml",
        include_str!("../../provider_templates/voipms.toml"),
    ),
    (
        "vonage.toml",
        include_str!("../../provider_templates/vonage.toml"),
    ),
];

fn collect(
    files: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<ProviderTemplate>, TemplateError> {
    let mut templates: Vec<(String, ProviderTemplate)> = Vec::new();
    for (origin, text) in files {
        let template = ProviderTemplate::from_toml(&text, &origin)?;
        if let Some((first, _)) = templates.iter().find(|(_, t)| t.id == template.id) {
            return Err(TemplateError::Duplicate {
                id: template.id,
                first: first.clone(),
                second: origin,
            });
        }
        templates.push((origin, template));
    }
    Ok(templates.into_iter().map(|(_, t)| t).collect())
}

/// The provider templates shipped with rayan, validated.
pub fn builtin_provider_templates() -> Result<Vec<ProviderTemplate>, TemplateError> {
    collect(
        BUILTIN
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned())),
    )
}

/// Loads and validates every `*.toml` in `dir`, in file-name order. One bad file fails
/// the whole load, so a typo never silently drops a provider.
pub fn load_dir(dir: &Path) -> Result<Vec<ProviderTemplate>, TemplateError> {
    let io = |source| TemplateError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Io {
            path: path.clone(),
            source,
        })?;
        files.push((path.display().to_string(), text));
    }
    collect(files)
}

/// The template with this id.
pub fn find_provider<'t>(
    templates: &'t [ProviderTemplate],
    id: &str,
) -> Option<&'t ProviderTemplate> {
    templates.iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        id = "lab"
        display_name = "Lab"
        auth_type = "credential"
        default_server = "sip.example.com"
        register = true
        required_fields = ["username", "password"]
        default_codecs = ["ulaw"]
        [registration]
        retry_interval = 20
        [endpoint]
        from_domain = "{server}"
        send_pai = true
    "#;

    #[test]
    fn parses_scalars_and_placeholders() {
        let t = ProviderTemplate::from_toml(MINIMAL, "lab.toml").unwrap();
        assert_eq!(
            t.registration.get("retry_interval").map(String::as_str),
            Some("20")
        );
        assert_eq!(t.endpoint.get("send_pai").map(String::as_str), Some("yes"));
        assert_eq!(t.default_port, 5060);
    }

    #[test]
    fn refuses_unknown_and_owned_options() {
        let bad = MINIMAL.replace("send_pai = true", "no_such_option = 1\naors = \"x\"");
        let Err(TemplateError::Invalid { problems, .. }) = ProviderTemplate::from_toml(&bad, "x")
        else {
            panic!("accepted an unknown option");
        };
        assert!(
            problems.iter().any(|p| p.contains("no_such_option")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("aors is written by rayan")),
            "{problems:?}"
        );
    }

    #[test]
    fn refuses_injection_in_values_and_bad_placeholders() {
        for value in ["\"a\\nb\"", "\"x;y\"", "\"{nope}\"", "\"{server\""] {
            let bad = MINIMAL.replace("\"{server}\"", value);
            assert!(ProviderTemplate::from_toml(&bad, "x").is_err(), "{value}");
        }
    }

    #[test]
    fn placeholders_expand_or_drop() {
        let lookup = |n: &str| match n {
            "server" => Some("sip.example.com"),
            _ => None,
        };
        assert_eq!(
            expand_placeholders("sip:{server}", lookup),
            Ok(Some("sip:sip.example.com".to_owned()))
        );
        assert_eq!(expand_placeholders("{did}", lookup), Ok(None));
        assert!(expand_placeholders("{server", lookup).is_err());
        assert!(expand_placeholders("x}", lookup).is_err());
    }

    #[test]
    fn credential_templates_need_credentials() {
        let bad = MINIMAL.replace(
            "required_fields = [\"username\", \"password\"]",
            "required_fields = [\"username\"]",
        );
        assert!(ProviderTemplate::from_toml(&bad, "x").is_err());
    }

    #[test]
    fn builtins_load() {
        let templates = builtin_provider_templates().unwrap();
        assert_eq!(templates.len(), BUILTIN.len());
    }
}
