//! Adopting a hand-written trunk: an endpoint with its outbound auth, aor,
//! registration and identify becomes a trunk of the provider template that
//! renders it with the fewest overrides (`custom_credential` or `custom_ip`
//! unless a provider's own template fits).
//!
//! rayan names a trunk's sections after it (`<name>-auth`, `-aor`, `-reg`,
//! `-identify`): the aor of a trunk holds no registered contacts, and the
//! registration re-registers once under its new name.

use super::conf::ConfTree;
use super::extension::codecs;
use super::matching::{self, Rules, Sections};
use super::{Effective, Left, section_index};
use crate::model::options::{ObjectOptions, TRUNK_SECTIONS};
use crate::model::{FieldErrors, Trunk};
use crate::render::{RenderSettings, render_trunk};
use crate::templates::{AuthType, ProviderTemplate};

const RULES: Rules = Rules {
    sections: TRUNK_SECTIONS,
    by_field: &[
        ("endpoint", "type"),
        ("endpoint", "aors"),
        ("endpoint", "auth"),
        ("endpoint", "outbound_auth"),
        ("endpoint", "allow"),
        ("endpoint", "disallow"),
        ("aor", "type"),
        ("auth", "type"),
        ("auth", "auth_type"),
        ("auth", "username"),
        ("auth", "password"),
        ("auth", "md5_cred"),
        ("registration", "type"),
        ("registration", "outbound_auth"),
        ("registration", "endpoint"),
        ("identify", "type"),
        ("identify", "endpoint"),
        ("identify", "match"),
    ],
    // Asterisk 22's defaults (OutboundRegistrationDetail of e1, EndpointDetail of
    // d1; contact_user from pjsip_config.xml).
    defaults: &[
        ("aor", "qualify_frequency", "0"),
        ("endpoint", "direct_media", "yes"),
        ("endpoint", "dtmf_mode", "rfc4733"),
        ("endpoint", "force_rport", "yes"),
        ("endpoint", "rewrite_contact", "no"),
        ("endpoint", "rtp_symmetric", "no"),
        ("registration", "auth_rejection_permanent", "yes"),
        ("registration", "contact_user", "s"),
        ("registration", "expiration", "3600"),
        ("registration", "fatal_retry_interval", "0"),
        ("registration", "forbidden_retry_interval", "0"),
        ("registration", "line", "no"),
        ("registration", "max_retries", "10"),
        ("registration", "retry_interval", "60"),
    ],
};

/// A trunk the plan adopts.
pub(super) struct AdoptedTrunk {
    pub trunk: Trunk,
    /// The sections it replaces (indexes in the tree).
    pub sections: Vec<usize>,
}

pub(super) enum TrunkAdoption {
    Trunk(Box<AdoptedTrunk>),
    Left(Left),
}

/// `sip:host[:port][;params]` → (host, port).
fn host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let rest = uri
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .strip_prefix("sip:")?;
    let rest = rest.split([';', '>']).next()?;
    let rest = rest.rsplit('@').next()?;
    match rest.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), Some(port.parse().ok()?))),
        None => Some((rest.to_owned(), None)),
    }
}

/// Plans the trunk whose endpoint is section `index`.
pub(super) fn plan(
    tree: &ConfTree,
    index: usize,
    providers: &[ProviderTemplate],
    render: &RenderSettings,
    implicit_transport: Option<&str>,
) -> TrunkAdoption {
    let section = &tree.sections[index];
    let left = |reason: String| TrunkAdoption::Left(Left::new(section, "trunk", reason));
    let name = section.name.clone();
    let mut errors = FieldErrors::new();
    crate::model::trunk::check_object_name(
        &mut errors,
        "name",
        &name,
        crate::model::trunk::MAX_TRUNK_NAME,
    );
    if !errors.is_empty() {
        return left(format!(
            "the name is not a trunk name rayan takes ({})",
            errors.0[0].message
        ));
    }
    let mut endpoint = Effective::of(tree, index);
    if endpoint.get("transport").is_none() {
        if let Some(transport) = implicit_transport {
            endpoint.push("transport".into(), transport.to_owned());
        }
    }
    let mut original = Sections::new();
    let mut parts = vec![index];
    let find = |kind: &str, pred: &dyn Fn(&Effective) -> bool| -> Vec<usize> {
        (0..tree.sections.len())
            .filter(|&i| {
                let s = &tree.sections[i];
                !s.is_template
                    && !s.managed
                    && tree.option(i, "type") == Some(kind)
                    && pred(&Effective::of(tree, i))
            })
            .collect()
    };
    let registrations = find("registration", &|e| {
        e.get("endpoint") == Some(name.as_str())
    });
    let identifies = find("identify", &|e| e.get("endpoint") == Some(name.as_str()));
    if registrations.len() > 1 || identifies.len() > 1 {
        return left("it has more than one registration or identify".into());
    }
    let registration = registrations.first().map(|&i| Effective::of(tree, i));
    let auth_name = endpoint
        .get("outbound_auth")
        .or_else(|| registration.as_ref().and_then(|r| r.get("outbound_auth")))
        .map(str::to_owned);
    let aor_name = endpoint.get("aors").unwrap_or_default().to_owned();
    if aor_name.is_empty() || aor_name.contains(',') {
        return left("it needs exactly one aor".into());
    }
    let Some(aor_index) = section_index(tree, &aor_name, "aor") else {
        return left(format!("its aor {aor_name} is not defined"));
    };
    parts.push(aor_index);
    let aor = Effective::of(tree, aor_index);
    let mut username = None;
    let mut password = None;
    if let Some(auth_name) = &auth_name {
        let Some(auth_index) = section_index(tree, auth_name, "auth") else {
            return left(format!("its outbound auth {auth_name} is not defined"));
        };
        parts.push(auth_index);
        let auth = Effective::of(tree, auth_index);
        if !auth
            .get("auth_type")
            .unwrap_or("userpass")
            .eq_ignore_ascii_case("userpass")
        {
            return left("its outbound auth is not a user name and password".into());
        }
        username = auth.get("username").map(str::to_owned);
        password = auth.get("password").map(str::to_owned);
        original.insert("auth".into(), auth);
    }
    let server = registration
        .as_ref()
        .and_then(|r| r.get("server_uri"))
        .and_then(host_port)
        .or_else(|| aor.get("contact").and_then(host_port));
    let Some((server, port)) = server else {
        return left(
            "neither a registration server_uri nor an aor contact says where the provider is"
                .into(),
        );
    };
    let did = registration
        .as_ref()
        .and_then(|r| r.get("contact_user"))
        .filter(|c| Some(*c) != username.as_deref())
        .map(str::to_owned);
    let match_addresses: Vec<String> = identifies
        .first()
        .map(|&i| Effective::of(tree, i))
        .and_then(|e| e.get("match").map(str::to_owned))
        .map(|m| {
            m.split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    parts.extend(registrations.iter().copied());
    parts.extend(identifies.iter().copied());
    if let Some(r) = registration {
        original.insert("registration".into(), r);
    }
    if let Some(&i) = identifies.first() {
        original.insert("identify".into(), Effective::of(tree, i));
    }
    let list = codecs(&endpoint.options);
    if list.is_empty() {
        return left("it allows no codec".into());
    }
    let base = Trunk {
        id: 0,
        name: name.clone(),
        provider: String::new(),
        username,
        password,
        server: Some(server.clone()),
        port,
        did,
        context: endpoint.get("context").unwrap_or("default").to_owned(),
        codecs: Some(list.clone()),
        match_addresses: match_addresses.clone(),
        enabled: true,
        options: ObjectOptions::default(),
        transport: endpoint.get("transport").map(str::to_owned),
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    original.insert("endpoint".into(), endpoint);
    original.insert("aor".into(), aor);
    let credential = original.contains_key("auth");
    let candidates = providers.iter().filter(|p| {
        (p.auth_type == AuthType::Credential) == credential
            && (p.id.starts_with("custom_") || p.default_server.as_deref() == Some(server.as_str()))
    });
    let mut best: Option<(usize, Trunk)> = None;
    let mut why_not = Vec::new();
    for provider in candidates {
        let mut candidate = base.clone();
        candidate.provider = provider.id.clone();
        let attempt = (|| {
            let rendered = rendered(&candidate, provider, render)?;
            candidate.options = matching::overrides(&original, &rendered, &RULES)?;
            let mut errors = FieldErrors::new();
            candidate
                .options
                .check(&mut errors, "options", TRUNK_SECTIONS);
            errors.finish().map_err(|e| e.to_string())?;
            let rendered = rendered_with(&candidate, provider, render)?;
            matching::same(&original, &rendered, &RULES)?;
            let matches: Vec<String> = rendered
                .get("identify")
                .and_then(|i| i.get("match"))
                .map(|m| m.split(',').map(|a| a.trim().to_owned()).collect())
                .unwrap_or_default();
            if matches != match_addresses {
                return Err(format!(
                    "identify would match {matches:?}, not {match_addresses:?}"
                ));
            }
            if codecs(&rendered["endpoint"].options) != list {
                return Err("its codecs would change".into());
            }
            Ok::<usize, String>(candidate.options.0.values().map(|s| s.len()).sum())
        })();
        match attempt {
            Ok(count) if best.as_ref().is_none_or(|(n, _)| count < *n) => {
                best = Some((count, candidate))
            }
            Ok(_) => {}
            Err(e) => why_not.push(format!("{}: {e}", provider.id)),
        }
    }
    match best {
        Some((_, trunk)) => TrunkAdoption::Trunk(Box::new(AdoptedTrunk {
            trunk,
            sections: parts,
        })),
        None => left(format!(
            "no provider template renders the same options ({})",
            why_not.join("; ")
        )),
    }
}

/// The trunk rendered without its overrides (what the template alone writes).
fn rendered(
    trunk: &Trunk,
    provider: &ProviderTemplate,
    render: &RenderSettings,
) -> Result<Sections, String> {
    let mut bare = trunk.clone();
    bare.options = ObjectOptions::default();
    rendered_with(&bare, provider, render)
}

fn rendered_with(
    trunk: &Trunk,
    provider: &ProviderTemplate,
    render: &RenderSettings,
) -> Result<Sections, String> {
    let block = render_trunk(trunk, provider, render)
        .map_err(|e| e.to_string())?
        .ok_or("a disabled trunk renders nothing")?;
    matching::sections_of(&block.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_where_the_provider_is() {
        assert_eq!(
            host_port("sip:sip.telnyx.com:5060"),
            Some(("sip.telnyx.com".into(), Some(5060)))
        );
        assert_eq!(
            host_port("sip:user@203.0.113.5;transport=udp"),
            Some(("203.0.113.5".into(), None))
        );
        assert_eq!(host_port("http://x"), None);
    }
}
