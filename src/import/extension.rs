//! Adopting a hand-written phone: an endpoint with its auth and its aor becomes
//! an extension that renders to the same effective options.
//!
//! For each extension template, the phone's own fields (context, codecs,
//! transport, caller ID, credentials, max_contacts) fill the template; every
//! other option that differs becomes an override, and an option the template
//! writes that the original lacks is set back to Asterisk's default. The
//! template with the fewest overrides wins, and the result is rendered and
//! compared with the original once more: whatever does not come out the same
//! is left as it is, with the reason.

use std::collections::BTreeMap;

use super::conf::ConfTree;
use super::matching::{self, Rules, Sections};
use super::{Effective, Left, section_index};
use crate::model::extension::NumberPolicy;
use crate::model::options::{EXTENSION_SECTIONS, ObjectOptions};
use crate::model::{Extension, ExtensionAuth, FieldErrors};
use crate::render::{RenderSettings, render_extension};

const RULES: Rules = Rules {
    sections: EXTENSION_SECTIONS,
    // Compared through the extension's own fields, not one by one.
    by_field: &[
        ("endpoint", "type"),
        ("endpoint", "auth"),
        ("endpoint", "aors"),
        ("endpoint", "allow"),
        ("endpoint", "disallow"),
        ("auth", "type"),
        ("auth", "auth_type"),
        ("auth", "username"),
        ("auth", "password"),
        ("auth", "md5_cred"),
        ("auth", "realm"),
        ("aor", "type"),
    ],
    // Asterisk 22's default of each option an extension template writes, as
    // PJSIPShowEndpoint/PJSIPShowAors report it for an object that does not
    // set it (transcripts d1, h1).
    defaults: &[
        ("aor", "default_expiration", "3600"),
        ("aor", "max_contacts", "0"),
        ("aor", "maximum_expiration", "7200"),
        ("aor", "qualify_frequency", "0"),
        ("aor", "remove_existing", "no"),
        ("aor", "remove_unavailable", "no"),
        ("endpoint", "direct_media", "yes"),
        ("endpoint", "dtls_auto_generate_cert", "no"),
        ("endpoint", "force_rport", "yes"),
        ("endpoint", "ice_support", "no"),
        ("endpoint", "rewrite_contact", "no"),
        ("endpoint", "rtp_keepalive", "0"),
        ("endpoint", "rtp_symmetric", "no"),
        ("endpoint", "t38_udptl", "no"),
        ("endpoint", "t38_udptl_ec", "none"),
        ("endpoint", "t38_udptl_nat", "no"),
        ("endpoint", "webrtc", "no"),
    ],
};

/// What Asterisk ends with after `disallow`/`allow` lines in order, from none.
pub(super) fn codecs(options: &[(String, String)]) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for (option, value) in options {
        let items = value
            .split([',', '|'])
            .map(str::trim)
            .filter(|c| !c.is_empty());
        match option.to_ascii_lowercase().as_str() {
            "allow" => {
                for codec in items {
                    if codec.eq_ignore_ascii_case("all") {
                        list.clear();
                        list.push("all".into());
                    } else if !list.iter().any(|c| c == codec) {
                        list.push(codec.to_owned());
                    }
                }
            }
            "disallow" => {
                for codec in items {
                    if codec.eq_ignore_ascii_case("all") {
                        list.clear();
                    } else {
                        list.retain(|c| c != codec);
                    }
                }
            }
            _ => {}
        }
    }
    list
}

/// The three sections of a phone, effective options each.
struct Phone {
    endpoint: Effective,
    auth: Effective,
    sections: Sections,
}

/// What planning an endpoint found: an extension, or why not.
pub(super) enum Adoption {
    Extension(Box<Adopted>),
    Left(Left),
}

/// An endpoint adopted as an extension.
pub(super) struct Adopted {
    pub extension: Extension,
    /// The sections it replaces: (index in the tree).
    pub sections: Vec<usize>,
}

/// Plans endpoint `index` of `tree` as an extension.
/// `implicit_transport`: the transport Asterisk uses for an endpoint that names
/// none, when there is exactly one UDP transport (it is then written out).
pub(super) fn plan(
    tree: &ConfTree,
    index: usize,
    policy: &NumberPolicy,
    default_realm: &str,
    render: &RenderSettings,
    implicit_transport: Option<&str>,
    templates: &[(String, Sections)],
) -> Adoption {
    let section = &tree.sections[index];
    let left = |reason: String| Adoption::Left(Left::new(section, "endpoint", reason));
    let number = section.name.clone();
    let mut errors = FieldErrors::new();
    policy.check(&mut errors, "extension", &number);
    if !errors.is_empty() {
        return left(format!(
            "the name is not an extension number ({}); endpoints of trunks are adopted with their trunk",
            errors.0[0].message
        ));
    }
    let mut endpoint = Effective::of(tree, index);
    if endpoint.get("transport").is_none() {
        if let Some(transport) = implicit_transport {
            endpoint.push("transport".into(), transport.to_owned());
        }
    }
    let Some(auth_name) = endpoint.get("auth").map(str::to_owned) else {
        return left("it has no auth= (a phone that registers needs one)".into());
    };
    if auth_name.contains(',') {
        return left(format!("it names several auths ({auth_name})"));
    }
    let aors = endpoint.get("aors").unwrap_or_default().to_owned();
    if aors != number {
        return left(format!(
            "its aor is '{aors}'; rayan names a phone's aor after its number, and renaming it would drop its registered contacts"
        ));
    }
    let (Some(auth_index), Some(aor_index)) = (
        section_index(tree, &auth_name, "auth"),
        section_index(tree, &aors, "aor"),
    ) else {
        return left(format!(
            "its auth '{auth_name}' or aor '{aors}' is not defined (Asterisk would not load it complete)"
        ));
    };
    let auth = Effective::of(tree, auth_index);
    let sections = Sections::from([
        ("endpoint".to_owned(), endpoint.clone()),
        ("auth".to_owned(), auth.clone()),
        ("aor".to_owned(), Effective::of(tree, aor_index)),
    ]);
    let phone = Phone {
        endpoint,
        auth,
        sections,
    };
    match phone.adopt(&number, default_realm, render, templates) {
        Ok(extension) => Adoption::Extension(Box::new(Adopted {
            extension,
            sections: vec![index, auth_index, aor_index],
        })),
        Err(reason) => left(reason),
    }
}

impl Phone {
    fn adopt(
        &self,
        number: &str,
        default_realm: &str,
        render: &RenderSettings,
        templates: &[(String, Sections)],
    ) -> Result<Extension, String> {
        let auth = self.credentials(number, default_realm)?;
        let codecs = codecs(&self.endpoint.options);
        if codecs.is_empty() {
            return Err("it allows no codec".into());
        }
        let max_contacts = match self.sections["aor"]
            .get("max_contacts")
            .map(str::parse::<u32>)
        {
            Some(Ok(n)) if (1..=crate::model::extension::MAX_CONTACTS_LIMIT).contains(&n) => n,
            Some(Ok(0)) | None => {
                return Err("its aor has max_contacts=0: no phone can register to it".into());
            }
            Some(_) => return Err("its aor's max_contacts is outside 1 to 100".into()),
        };
        let (name, caller_id) = split_callerid(number, self.endpoint.get("callerid"));
        let base = Extension {
            id: 0,
            number: number.to_owned(),
            name,
            template: String::new(),
            context: self.endpoint.get("context").unwrap_or("default").to_owned(),
            codecs: Some(codecs),
            max_contacts: Some(max_contacts),
            caller_id,
            enabled: true,
            auth,
            options: ObjectOptions::default(),
            transport: self.endpoint.get("transport").map(str::to_owned),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let mut best: Option<(usize, Extension)> = None;
        let mut why_not = Vec::new();
        for (template, written) in templates {
            let mut candidate = base.clone();
            candidate.template = template.clone();
            match matching::overrides(&self.sections, written, &RULES) {
                Ok(options) => {
                    let count = options.0.values().map(BTreeMap::len).sum::<usize>();
                    candidate.options = options;
                    if best.as_ref().is_none_or(|(n, _)| count < *n) {
                        best = Some((count, candidate));
                    }
                }
                Err(e) => why_not.push(format!("{template}: {e}")),
            }
        }
        let Some((_, extension)) = best else {
            return Err(format!(
                "no template renders the same options ({})",
                why_not.join("; ")
            ));
        };
        let mut errors = FieldErrors::new();
        extension
            .options
            .check(&mut errors, "options", EXTENSION_SECTIONS);
        if let Err(e) = extension.check() {
            errors.0.extend(e.0);
        }
        if !errors.is_empty() {
            return Err(format!("rayan would refuse it: {errors}"));
        }
        self.same_as_rendered(&extension, render)?;
        Ok(extension)
    }

    /// The digest credentials the phone already uses.
    fn credentials(&self, number: &str, default_realm: &str) -> Result<ExtensionAuth, String> {
        let username = self.auth.get("username").unwrap_or_default();
        if username != number {
            return Err(format!(
                "its auth username is '{username}'; rayan's extensions authenticate as their number"
            ));
        }
        let realm = self
            .auth
            .get("realm")
            .filter(|r| !r.is_empty())
            .unwrap_or(default_realm);
        let auth_type = self.auth.get("auth_type").unwrap_or("userpass");
        match auth_type.to_ascii_lowercase().as_str() {
            "userpass" => {
                let password = self
                    .auth
                    .get("password")
                    .ok_or("its auth has no password")?;
                Ok(ExtensionAuth::from_password(number, realm, password))
            }
            "md5" => {
                let md5 = self
                    .auth
                    .get("md5_cred")
                    .ok_or("its auth has no md5_cred")?;
                Ok(ExtensionAuth {
                    realm: realm.to_owned(),
                    md5_cred: md5.to_ascii_lowercase(),
                })
            }
            other => Err(format!(
                "auth_type={other} is not a password rayan can keep"
            )),
        }
    }

    /// Renders `extension` and compares every option with the original's.
    fn same_as_rendered(
        &self,
        extension: &Extension,
        render: &RenderSettings,
    ) -> Result<(), String> {
        let rendered = rendered_sections(extension, render)?;
        matching::same(&self.sections, &rendered, &RULES)?;
        if codecs(&self.endpoint.options) != codecs(&rendered["endpoint"].options) {
            return Err("its codecs would change".into());
        }
        Ok(())
    }
}

/// `"Alice" <1001>` becomes the name Alice; any other caller ID is kept as is.
fn split_callerid(number: &str, callerid: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(callerid) = callerid.filter(|c| !c.is_empty()) else {
        return (None, None);
    };
    let quoted = callerid
        .strip_suffix(&format!("<{number}>"))
        .map(str::trim)
        .and_then(|n| n.strip_prefix('"'))
        .and_then(|n| n.strip_suffix('"'))
        .filter(|n| !n.is_empty() && !n.contains(['"', '<', '>']));
    match quoted {
        Some(name) => (Some(name.to_owned()), None),
        None => (None, Some(callerid.to_owned())),
    }
}

/// What each extension template writes, per section type: the options that do
/// not come from the extension's own fields are the same for every extension,
/// so one rendering of a probe tells them (the final comparison renders the
/// real one).
pub(super) fn template_sections(render: &RenderSettings) -> Vec<(String, Sections)> {
    let probe = Extension {
        id: 0,
        number: "1000".into(),
        name: None,
        template: String::new(),
        context: "default".into(),
        codecs: Some(vec!["ulaw".into()]),
        max_contacts: Some(1),
        caller_id: None,
        enabled: true,
        auth: ExtensionAuth::from_password("1000", "asterisk", "probe"),
        options: ObjectOptions::default(),
        transport: None,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    crate::templates::builtin_extension_templates()
        .into_iter()
        .filter_map(|t| {
            let extension = Extension {
                template: t.id.clone(),
                ..probe.clone()
            };
            rendered_sections(&extension, render)
                .ok()
                .map(|sections| (t.id, sections))
        })
        .collect()
}

/// `extension` rendered, per section type.
fn rendered_sections(extension: &Extension, render: &RenderSettings) -> Result<Sections, String> {
    let block = render_extension(extension, render)
        .map_err(|e| e.to_string())?
        .ok_or("a disabled extension renders nothing")?;
    matching::sections_of(&block.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codecs_follow_disallow_and_allow_in_order() {
        let o = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            codecs(&o(&[
                ("disallow", "all"),
                ("allow", "ulaw,alaw"),
                ("allow", "g722"),
                ("disallow", "alaw")
            ])),
            ["ulaw", "g722"]
        );
        assert!(codecs(&o(&[("allow", "ulaw"), ("disallow", "all")])).is_empty());
    }

    #[test]
    fn a_quoted_name_becomes_the_name() {
        assert_eq!(
            split_callerid("1001", Some("\"Alice B\" <1001>")),
            (Some("Alice B".into()), None)
        );
        assert_eq!(
            split_callerid("1001", Some("Reception <200>")),
            (None, Some("Reception <200>".into()))
        );
    }
}
