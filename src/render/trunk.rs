//! A trunk's PJSIP sections, built from its provider template.
//!
//! Sections (for trunk `t`): `[t-auth]` (credential templates), `[t-reg]` (templates that
//! register), `[t-aor]`, `[t]` (the endpoint) and `[t-identify]` (when there are addresses
//! to match). The renderer writes the options that tie them together and carry the trunk's
//! data; the template adds its own options or replaces a default one (see
//! `templates::provider`). Disabled trunks are not rendered.

use std::collections::BTreeMap;

use super::extension::codec_list;
use super::section::{check_name, verify_pjsip, write_section};
use super::{ManagedBlock, RenderError, RenderSettings};
use crate::model::address::{is_did, is_host, is_match_address, is_sip_user};
use crate::model::options::TRUNK_SECTIONS;
use crate::model::{FieldErrors, ObjectRef, Trunk};
use crate::templates::provider::expand_placeholders;
use crate::templates::{AuthType, ProviderTemplate};

type Options = Vec<(String, String)>;

fn opt(options: &mut Options, name: &str, value: impl Into<String>) {
    options.push((name.to_owned(), value.into()));
}

/// The trunk's own overrides of one section: an option already there takes the
/// override's value in place, the others follow.
fn override_with(options: &mut Options, trunk: &Trunk, section_type: &str) {
    let Some(overrides) = trunk.options.section(section_type) else {
        return;
    };
    for (name, value) in overrides {
        match options.iter_mut().find(|(n, _)| n == name) {
            Some(existing) => existing.1 = value.clone(),
            None => opt(options, name, value.clone()),
        }
    }
}

/// The trunk's values the sections are made of, checked.
struct TrunkValues<'t> {
    object: String,
    name: &'t str,
    username: Option<&'t str>,
    password: Option<&'t str>,
    server: &'t str,
    port: String,
    did: Option<&'t str>,
}

impl<'t> TrunkValues<'t> {
    fn placeholder(&self, name: &str) -> Option<&str> {
        match name {
            "trunk" => Some(self.name),
            "username" => self.username,
            "server" => Some(self.server),
            "port" => Some(&self.port),
            "did" => self.did,
            _ => None,
        }
    }

    /// Applies the template's options of one section: a template option replaces the
    /// default of the same name, others are appended; options whose placeholders the trunk
    /// cannot fill are left out.
    fn apply(
        &self,
        options: &mut Options,
        extra: &BTreeMap<String, String>,
    ) -> Result<(), RenderError> {
        for (name, value) in extra {
            let expanded =
                expand_placeholders(value, |p| self.placeholder(p)).map_err(|reason| {
                    RenderError::InvalidField {
                        object: self.object.clone(),
                        field: name.clone(),
                        reason,
                    }
                })?;
            let Some(expanded) = expanded else { continue };
            match options.iter_mut().find(|(n, _)| n == name) {
                Some(existing) => existing.1 = expanded,
                None => options.push((name.clone(), expanded)),
            }
        }
        Ok(())
    }
}

fn invalid(object: &str, field: &str, reason: &str) -> RenderError {
    RenderError::InvalidField {
        object: object.to_owned(),
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn check_values<'t>(
    trunk: &'t Trunk,
    template: &'t ProviderTemplate,
) -> Result<TrunkValues<'t>, RenderError> {
    let object = format!("trunk {}", trunk.name);
    if let Some(field) = template.missing_required(trunk).first() {
        return Err(RenderError::MissingField {
            object,
            field: field.to_string(),
        });
    }
    let username = nonempty(&trunk.username);
    if username.is_some_and(|u| !is_sip_user(u)) {
        return Err(invalid(
            &object,
            "username",
            "must be 1 to 64 letters, digits or - _ . + * ~ ! ' ( ) & =",
        ));
    }
    let password = nonempty(&trunk.password);
    if template.auth_type == AuthType::Credential {
        for (field, value) in [("username", username), ("password", password)] {
            if value.is_none() {
                return Err(RenderError::MissingField {
                    object,
                    field: field.to_owned(),
                });
            }
        }
    }
    let server = nonempty(&trunk.server)
        .or(template.default_server.as_deref())
        .ok_or_else(|| RenderError::MissingField {
            object: object.clone(),
            field: "server".to_owned(),
        })?;
    if !is_host(server) {
        return Err(invalid(
            &object,
            "server",
            "must be a host name or an IP address",
        ));
    }
    let port = trunk.port.unwrap_or(template.default_port);
    if port == 0 {
        return Err(invalid(&object, "port", "must be 1 to 65535"));
    }
    let did = nonempty(&trunk.did);
    if did.is_some_and(|d| !is_did(d)) {
        return Err(invalid(
            &object,
            "did",
            "must be an optional '+' and 2 to 20 digits",
        ));
    }
    Ok(TrunkValues {
        object,
        name: &trunk.name,
        username,
        password,
        server,
        port: port.to_string(),
        did,
    })
}

/// Renders the sections of one enabled trunk; `Ok(None)` for a disabled one.
pub fn render_trunk(
    trunk: &Trunk,
    template: &ProviderTemplate,
    settings: &RenderSettings,
) -> Result<Option<ManagedBlock>, RenderError> {
    if !trunk.enabled {
        return Ok(None);
    }
    let v = check_values(trunk, template)?;
    let object = v.object.as_str();
    let mut errors = FieldErrors::new();
    trunk.options.check(&mut errors, "options", TRUNK_SECTIONS);
    errors
        .finish()
        .map_err(|errors| RenderError::invalid_fields(object, errors))?;
    let name = check_name(object, &trunk.name)?;
    let name = name.as_str();
    let context = check_name(object, &trunk.context)?;
    let transport = trunk
        .transport
        .as_deref()
        .or(settings.udp_transport.as_deref())
        .map(|t| check_name(object, t))
        .transpose()?;
    let codecs = codec_list(
        object,
        trunk
            .codecs
            .as_deref()
            .filter(|c| !c.is_empty())
            .unwrap_or(&template.default_codecs),
    )?;
    let host_port = format!("{}:{}", v.server, v.port);
    let credential = template.auth_type == AuthType::Credential;

    let mut sections: Vec<(String, &str, Options)> = Vec::with_capacity(5);
    if let (true, Some(username), Some(password)) = (credential, v.username, v.password) {
        let mut auth = Options::new();
        opt(&mut auth, "auth_type", "userpass");
        opt(&mut auth, "username", username);
        opt(&mut auth, "password", password);
        v.apply(&mut auth, &template.auth)?;
        override_with(&mut auth, trunk, "auth");
        sections.push((format!("{name}-auth"), "auth", auth));
        if template.register {
            let mut reg = Options::new();
            if let Some(transport) = &transport {
                opt(&mut reg, "transport", transport.as_str());
            }
            opt(&mut reg, "outbound_auth", format!("{name}-auth"));
            opt(&mut reg, "server_uri", format!("sip:{host_port}"));
            opt(
                &mut reg,
                "client_uri",
                format!("sip:{username}@{host_port}"),
            );
            opt(&mut reg, "contact_user", v.did.unwrap_or(username));
            opt(&mut reg, "line", "yes");
            opt(&mut reg, "endpoint", name);
            v.apply(&mut reg, &template.registration)?;
            override_with(&mut reg, trunk, "registration");
            sections.push((format!("{name}-reg"), "registration", reg));
        }
    }

    let mut aor = Options::new();
    opt(&mut aor, "contact", format!("sip:{host_port}"));
    v.apply(&mut aor, &template.aor)?;
    override_with(&mut aor, trunk, "aor");
    sections.push((format!("{name}-aor"), "aor", aor));

    let mut endpoint = Options::new();
    opt(&mut endpoint, "context", context.as_str());
    opt(&mut endpoint, "disallow", "all");
    opt(&mut endpoint, "allow", codecs);
    if let Some(transport) = &transport {
        opt(&mut endpoint, "transport", transport.as_str());
    }
    opt(&mut endpoint, "aors", format!("{name}-aor"));
    if credential {
        opt(&mut endpoint, "outbound_auth", format!("{name}-auth"));
    }
    for (option, value) in [
        ("direct_media", "no"),
        ("rtp_symmetric", "yes"),
        ("force_rport", "yes"),
        ("rewrite_contact", "yes"),
    ] {
        opt(&mut endpoint, option, value);
    }
    v.apply(&mut endpoint, &template.endpoint)?;
    override_with(&mut endpoint, trunk, "endpoint");
    sections.push((name.to_owned(), "endpoint", endpoint));

    let mut addresses: Vec<&str> = if trunk.match_addresses.is_empty() {
        template.default_match.iter().map(String::as_str).collect()
    } else {
        trunk.match_addresses.iter().map(String::as_str).collect()
    };
    if addresses.is_empty() && !credential {
        addresses.push(v.server);
    }
    if let Some(bad) = addresses.iter().find(|a| !is_match_address(a)) {
        return Err(invalid(
            object,
            "match_addresses",
            &format!(
                "'{}' is not an IP, CIDR network or host",
                bad.escape_debug()
            ),
        ));
    }
    if !addresses.is_empty() {
        let mut identify = Options::new();
        opt(&mut identify, "endpoint", name);
        opt(&mut identify, "match", addresses.join(","));
        v.apply(&mut identify, &template.identify)?;
        override_with(&mut identify, trunk, "identify");
        sections.push((format!("{name}-identify"), "identify", identify));
    }

    let mut body = String::with_capacity(1024);
    for (section, section_type, options) in &sections {
        let pairs: Vec<(&str, &str)> = options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        write_section(&mut body, object, section, section_type, &pairs)?;
    }
    verify_pjsip(object, &body)?;
    Ok(Some(ManagedBlock {
        id: ObjectRef::trunk(&trunk.name).block_id(),
        body,
    }))
}
