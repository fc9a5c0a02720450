//! What Asterisk must show for a rendered block, and the comparison with what
//! `PJSIPShowEndpoint` reports. Expectations come from the rendered text itself,
//! so they hold for every template and provider without a second source of truth.

use crate::ami::EndpointDetails;

/// One `type=endpoint` section of a rendered block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedEndpoint {
    pub name: String,
    pub context: Option<String>,
    pub aors: Vec<String>,
    pub auth: Option<String>,
    /// The transport it names, if any.
    pub transport: Option<String>,
    /// `webrtc=yes`: it needs a WebSocket transport and Asterisk's HTTP server with TLS.
    pub webrtc: bool,
}

/// A PJSIP section as rendered: its name and options in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub options: Vec<(String, String)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `[name]` headers and `key=value` lines; comments and blank lines are skipped.
/// Only for text rayan rendered or an administrator's pjsip.conf read for its
/// transports; it is not a full parser of the Asterisk dialect.
pub fn sections(text: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for raw in text.lines() {
        let line = match raw.find(';') {
            Some(i) => &raw[..i],
            None => raw,
        }
        .trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if let Some(end) = rest.find(']') {
                out.push(Section {
                    name: rest[..end].trim().to_owned(),
                    options: Vec::new(),
                });
            }
            continue;
        }
        if let (Some(section), Some((k, v))) = (out.last_mut(), line.split_once('=')) {
            // `exten => …` is `exten = > …` to this split.
            let v = v.strip_prefix('>').unwrap_or(v);
            section
                .options
                .push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The endpoints a rendered block defines.
pub fn expected_endpoints(body: &str) -> Vec<ExpectedEndpoint> {
    sections(body)
        .into_iter()
        .filter(|s| s.get("type") == Some("endpoint"))
        .map(|s| ExpectedEndpoint {
            context: s.get("context").map(str::to_owned),
            aors: s.get("aors").map(split_list).unwrap_or_default(),
            auth: s.get("auth").map(str::to_owned),
            transport: s.get("transport").map(str::to_owned),
            webrtc: s.get("webrtc").is_some_and(|v| {
                crate::model::pjsip::values::BOOL_TRUE
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(v))
            }),
            name: s.name,
        })
        .collect()
}

/// The extension names a rendered dialplan block defines (`exten => NAME,...`).
pub fn expected_extensions(body: &str) -> Vec<String> {
    let mut names: Vec<String> = sections(body)
        .iter()
        .flat_map(|s| s.options.iter())
        .filter(|(k, _)| k == "exten")
        .filter_map(|(_, v)| v.split(',').next().map(|n| n.trim().to_owned()))
        .collect();
    names.dedup();
    names
}

/// A fingerprint of the `type=transport` sections of a pjsip.conf except the
/// managed ones named in `managed` (checked one by one instead): a change to a
/// hand-written transport needs a restart.
pub fn transport_fingerprint(pjsip_conf: &str, managed: &[String]) -> Vec<String> {
    let mut out: Vec<String> = sections(pjsip_conf)
        .into_iter()
        .filter(|s| s.get("type") == Some("transport"))
        .filter(|s| !managed.contains(&s.name))
        .map(|s| {
            let mut options: Vec<String> =
                s.options.iter().map(|(k, v)| format!("{k}={v}")).collect();
            options.sort();
            format!("[{}] {}", s.name, options.join(" "))
        })
        .collect();
    out.sort();
    out
}

/// `None` when Asterisk loaded the endpoint as rendered; otherwise why not.
pub fn check_endpoint(
    expected: &ExpectedEndpoint,
    loaded: Option<&EndpointDetails>,
) -> Option<String> {
    let name = &expected.name;
    let Some(loaded) = loaded else {
        return Some(format!(
            "Asterisk did not load endpoint {name} after reload (a bad value or unknown option drops it; see the Asterisk log)"
        ));
    };
    let mut problems = Vec::new();
    if let Some(context) = &expected.context {
        if loaded.context() != Some(context.as_str()) {
            problems.push(format!(
                "context is {:?}, expected {context}",
                loaded.context().unwrap_or("")
            ));
        }
    }
    let aors = loaded.aor_names();
    for aor in &expected.aors {
        if !aors.contains(&aor.as_str()) {
            problems.push(format!("aor {aor} is not attached"));
        }
    }
    for aor in loaded.missing_aors() {
        problems.push(format!("aor {aor} was not loaded"));
    }
    if let Some(auth) = &expected.auth {
        if !loaded.auth_names().contains(&auth.as_str()) {
            problems.push(format!("auth {auth} is not attached"));
        }
    }
    for auth in loaded.missing_auths() {
        problems.push(format!("auth {auth} was not loaded"));
    }
    if loaded.transport_missing() {
        problems.push(format!(
            "transport {} does not exist",
            loaded.transport_name().unwrap_or("?")
        ));
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "Asterisk loaded endpoint {name} incompletely: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_endpoints_from_rendered_text() {
        let body = "[1001]\ntype=endpoint\ncontext=from-internal\naors=1001\nauth=1001\n\n[1001]\ntype=aor\nmax_contacts=1\n";
        let endpoints = expected_endpoints(body);
        assert_eq!(
            endpoints,
            vec![ExpectedEndpoint {
                name: "1001".into(),
                context: Some("from-internal".into()),
                aors: vec!["1001".into()],
                auth: Some("1001".into()),
                transport: None,
                webrtc: false,
            }]
        );
    }

    #[test]
    fn reads_extension_names_from_a_dialplan_block() {
        let body = "[from-internal]\nexten => 1001,1,Dial(PJSIP/1001,30)\nsame => n,Hangup()\nexten => _9NXX,1,Goto(x,${EXTEN},1)\n";
        assert_eq!(
            expected_extensions(body),
            vec!["1001".to_owned(), "_9NXX".to_owned()]
        );
    }

    #[test]
    fn transport_fingerprint_ignores_order_and_comments() {
        let a = "[transport-udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5060\n[1001]\ntype=endpoint\n";
        let b =
            "; comment\n[transport-udp]\nbind=0.0.0.0:5060 ; here\ntype=transport\nprotocol=udp\n";
        assert_eq!(transport_fingerprint(a, &[]), transport_fingerprint(b, &[]));
        let c = "[transport-udp]\ntype=transport\nprotocol=udp\nbind=0.0.0.0:5070\n";
        assert_ne!(transport_fingerprint(a, &[]), transport_fingerprint(c, &[]));
        assert!(transport_fingerprint(c, &["transport-udp".to_owned()]).is_empty());
    }
}
