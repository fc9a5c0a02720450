//! Taking over a running Asterisk: read its hand-written `pjsip.conf` (with its
//! includes), find the phones in it, and plan how each becomes an extension
//! that renders to the same effective options, keeping the credentials phones
//! already use. What cannot be adopted is left untouched, with the reason.
//!
//! Planning is pure: it reads a [`conf::ConfTree`] and says what would change.
//! The service commits the plan and has the apply worker switch over in one
//! reload.

pub mod conf;
mod extension;
mod matching;
mod trunk;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::extension::NumberPolicy;
use crate::model::options::ObjectOptions;
use crate::model::pjsip::check_option;
use crate::model::{Extension, Trunk};
use crate::render::RenderSettings;
use crate::templates::ProviderTemplate;
use conf::{ConfTree, Section};

/// A section's effective options (templates first), in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Effective {
    pub options: Vec<(String, String)>,
    /// Each option once, with its last value, names in lower case.
    last: Vec<(String, String)>,
}

impl Effective {
    fn of(tree: &ConfTree, index: usize) -> Self {
        let mut effective = Effective::default();
        for (k, v) in tree.effective(index) {
            effective.push(k, v);
        }
        effective
    }

    /// Adds an option after the others (it wins over an earlier one).
    fn push(&mut self, option: String, value: String) {
        let key = option.to_ascii_lowercase();
        match self.last.iter_mut().find(|(o, _)| *o == key) {
            Some(slot) => slot.1.clone_from(&value),
            None => self.last.push((key, value.clone())),
        }
        self.options.push((option, value));
    }

    /// The last value of `option` (later lines win, as in Asterisk).
    pub fn get(&self, option: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(option))
            .map(|(_, v)| v.as_str())
    }

    /// Each option once, with its last value, names in lower case.
    fn last_values(&self) -> &[(String, String)] {
        &self.last
    }
}

/// A value as Asterisk compares it: booleans in one spelling, case ignored.
pub(crate) fn normalized(value: &str) -> String {
    let v = value.trim().to_ascii_lowercase();
    if crate::model::pjsip::values::BOOL_TRUE.contains(&v.as_str()) {
        "yes".into()
    } else if crate::model::pjsip::values::BOOL_FALSE.contains(&v.as_str()) {
        "no".into()
    } else {
        v
    }
}

/// The hand-written section named `name` whose effective type is `section_type`.
fn section_index(tree: &ConfTree, name: &str, section_type: &str) -> Option<usize> {
    tree.find(name, section_type)
}

/// An object left as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Left {
    pub name: String,
    /// `endpoint`, `wizard`, `registration`, …
    pub kind: String,
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl Left {
    fn new(section: &Section, kind: &str, reason: String) -> Self {
        Left {
            name: section.name.clone(),
            kind: kind.to_owned(),
            file: section.file.display().to_string(),
            line: section.line,
            reason,
        }
    }
}

/// Where an adopted object was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Place {
    pub section_type: String,
    pub name: String,
    pub file: String,
    pub line: usize,
}

/// One adopted phone, as the plan shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedExtension {
    pub extension: String,
    /// The extension template that renders it with the fewest overrides.
    pub template: String,
    /// The options beyond the template kept as overrides.
    #[serde(skip_serializing_if = "ObjectOptions::is_empty")]
    pub overrides: ObjectOptions,
    pub context: String,
    pub transport: Option<String>,
    /// The hand-written sections it replaces.
    pub replaces: Vec<Place>,
}

/// One adopted trunk, as the plan shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedTrunk {
    pub name: String,
    /// The provider template that renders it with the fewest overrides.
    pub provider: String,
    #[serde(skip_serializing_if = "ObjectOptions::is_empty")]
    pub overrides: ObjectOptions,
    pub server: Option<String>,
    /// The hand-written sections it replaces.
    pub replaces: Vec<Place>,
}

/// A hand-written file as it is and as it would be.
#[derive(Debug, Clone)]
pub struct FileEdit {
    pub path: PathBuf,
    pub before: String,
    pub after: String,
}

/// The whole plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub extensions: Vec<PlannedExtension>,
    /// The extensions to store, in the order of `extensions`.
    pub adopted: Vec<Extension>,
    pub trunks: Vec<PlannedTrunk>,
    /// The trunks to store (passwords in the clear: encrypt before storing).
    pub adopted_trunks: Vec<Trunk>,
    pub left: Vec<Left>,
    /// The hand-written files that lose the adopted sections.
    pub edits: Vec<FileEdit>,
    pub warnings: Vec<String>,
    /// The realm of an auth that sets none (`[global] default_realm`, else `asterisk`).
    pub default_realm: String,
}

/// What planning needs besides the files.
pub struct PlanInput<'a> {
    pub tree: &'a ConfTree,
    pub policy: NumberPolicy,
    pub render: &'a RenderSettings,
    /// Names rayan already manages (extension numbers, trunk and transport names).
    pub managed: &'a HashSet<String>,
    /// The provider templates a trunk may be matched to.
    pub providers: &'a [ProviderTemplate],
}

/// Option names a phone's three sections may hold; anything else Asterisk
/// would refuse (and drop the object for).
fn unknown_option(tree: &ConfTree, indexes: &[usize]) -> Option<String> {
    for &i in indexes {
        let effective = Effective::of(tree, i);
        let Some(kind) = effective.get("type").map(str::to_owned) else {
            continue;
        };
        for (option, value) in &effective.options {
            if option.eq_ignore_ascii_case("type") {
                continue;
            }
            if let Err(e) = check_option(&kind, &option.to_ascii_lowercase(), value) {
                let section = &tree.sections[i];
                return Some(format!(
                    "{kind} option {option}={value} ({}, line {}): {e}",
                    section.file.display(),
                    section
                        .options
                        .iter()
                        .find(|(k, _, _)| k == option)
                        .map_or(section.line, |(_, _, l)| *l)
                ));
            }
        }
    }
    None
}

pub fn plan(input: PlanInput<'_>) -> Plan {
    let tree = input.tree;
    let mut plan = Plan {
        warnings: tree.warnings.clone(),
        ..Plan::default()
    };
    // Hand-written, real (not template) sections by (type, name).
    let mut by_key: HashMap<(String, String), Vec<usize>> = HashMap::new();
    let mut additions: HashSet<String> = HashSet::new();
    for (i, s) in tree.sections.iter().enumerate() {
        if s.is_template || s.managed {
            continue;
        }
        if s.adds {
            additions.insert(s.name.clone());
            continue;
        }
        let kind = tree.option(i, "type").unwrap_or_default().to_owned();
        by_key.entry((kind, s.name.clone())).or_default().push(i);
    }
    let default_realm = (0..tree.sections.len())
        .filter(|&i| !tree.sections[i].is_template && tree.option(i, "type") == Some("global"))
        .find_map(|i| tree.option(i, "default_realm").map(str::to_owned))
        .unwrap_or_else(|| crate::model::extension::DEFAULT_REALM.to_owned());
    // Who uses each auth and aor: one shared by two endpoints cannot move with one.
    let mut users: HashMap<String, Vec<String>> = HashMap::new();
    let mut trunk_endpoints: HashSet<String> = HashSet::new();
    for ((kind, name), indexes) in &by_key {
        if !matches!(kind.as_str(), "endpoint" | "registration" | "identify") {
            continue;
        }
        let e = Effective::of(tree, indexes[indexes.len() - 1]);
        match kind.as_str() {
            "endpoint" => {
                for r in ["auth", "outbound_auth", "aors"] {
                    let kind = if r == "aors" { "aor" } else { "auth" };
                    for target in e.get(r).unwrap_or_default().split(',').map(str::trim) {
                        if !target.is_empty() {
                            let users = users.entry(format!("{kind}:{target}")).or_default();
                            if !users.contains(name) {
                                users.push(name.clone());
                            }
                        }
                    }
                }
                if e.get("outbound_auth").is_some() {
                    trunk_endpoints.insert(name.clone());
                }
            }
            "registration" | "identify" => {
                if let Some(endpoint) = e.get("endpoint") {
                    trunk_endpoints.insert(endpoint.to_owned());
                }
            }
            _ => {}
        }
    }
    plan.default_realm = default_realm.clone();
    // An endpoint without transport= uses the only transport of its protocol.
    let udp: Vec<&String> = by_key
        .iter()
        .filter(|((kind, _), _)| kind == "transport")
        .filter(|(_, indexes)| {
            Effective::of(tree, indexes[0])
                .get("protocol")
                .is_none_or(|p| p.eq_ignore_ascii_case("udp"))
        })
        .map(|((_, name), _)| name)
        .collect();
    let implicit_transport = match udp.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    };
    let mut candidates = Vec::new();
    let mut trunk_candidates = Vec::new();
    let mut keys: Vec<&(String, String)> = by_key.keys().collect();
    keys.sort_by_key(|key| (by_key[*key][0], key.0.as_str()));
    for key in keys {
        let (kind, name) = key;
        let indexes = &by_key[key];
        let section = &tree.sections[indexes[0]];
        let left = |reason: String| Left::new(section, kind, reason);
        match kind.as_str() {
            "wizard" => plan.left.push(left(
                "a pjsip_wizard object: rayan adopts endpoints written out in full".into(),
            )),
            "registration" => {
                let e = Effective::of(tree, indexes[0]);
                let endpoint = e.get("endpoint").unwrap_or_default();
                if indexes.len() > 1 {
                    plan.left.push(left(format!(
                        "registration {name} is defined {} times",
                        indexes.len()
                    )));
                } else if section_index(tree, endpoint, "endpoint").is_none() {
                    plan.left.push(left(
                        "a registration without an endpoint of its own: rayan's trunks have one"
                            .into(),
                    ));
                }
            }
            "endpoint" if indexes.len() > 1 => plan.left.push(left(format!(
                "endpoint {name} is defined {} times",
                indexes.len()
            ))),
            "endpoint" if additions.contains(name) => plan.left.push(left(
                "it is extended with a (+) section; adopt it after merging that by hand".into(),
            )),
            "endpoint" if input.managed.contains(name) => plan.left.push(left(format!(
                "rayan already manages an object named {name}; remove one of the two"
            ))),
            "endpoint" if trunk_endpoints.contains(name) => trunk_candidates.push(indexes[0]),
            "endpoint" => candidates.push(indexes[0]),
            _ => {}
        }
    }
    let templates = extension::template_sections(input.render);
    let planned: Vec<extension::Adoption> = candidates
        .par_iter()
        .map(|&i| {
            let e = Effective::of(tree, i);
            let mut parts = vec![i];
            for r in ["auth", "aors"] {
                let kind = if r == "auth" { "auth" } else { "aor" };
                let target = e.get(r).unwrap_or_default();
                if let Some(j) = section_index(tree, target, kind) {
                    parts.push(j);
                    let key = format!("{kind}:{target}");
                    if users.get(&key).is_some_and(|u| u.len() > 1) {
                        return extension::Adoption::Left(Left::new(
                            &tree.sections[i],
                            "endpoint",
                            format!(
                                "its {kind} {target} is shared with {}",
                                users[&key].join(", ")
                            ),
                        ));
                    }
                    if by_key
                        .get(&(kind.to_owned(), target.to_owned()))
                        .is_some_and(|v| v.len() > 1)
                        || additions.contains(target)
                    {
                        return extension::Adoption::Left(Left::new(
                            &tree.sections[i],
                            "endpoint",
                            format!("its {r} {target} is defined more than once"),
                        ));
                    }
                }
            }
            if let Some(why) = unknown_option(tree, &parts) {
                return extension::Adoption::Left(Left::new(&tree.sections[i], "endpoint", why));
            }
            extension::plan(
                tree,
                i,
                &input.policy,
                &default_realm,
                input.render,
                implicit_transport,
                &templates,
            )
        })
        .collect();
    let trunks: Vec<trunk::TrunkAdoption> = trunk_candidates
        .par_iter()
        .map(|&i| {
            let e = Effective::of(tree, i);
            if let Some(auth) = e.get("outbound_auth") {
                let key = format!("auth:{auth}");
                if users.get(&key).is_some_and(|u| u.len() > 1) {
                    return trunk::TrunkAdoption::Left(Left::new(
                        &tree.sections[i],
                        "trunk",
                        format!(
                            "its outbound auth {auth} is shared with {}",
                            users[&key].join(", ")
                        ),
                    ));
                }
            }
            match trunk::plan(tree, i, input.providers, input.render, implicit_transport) {
                trunk::TrunkAdoption::Trunk(t) => match unknown_option(tree, &t.sections) {
                    Some(why) => {
                        trunk::TrunkAdoption::Left(Left::new(&tree.sections[i], "trunk", why))
                    }
                    None => trunk::TrunkAdoption::Trunk(t),
                },
                left => left,
            }
        })
        .collect();
    let mut removed: BTreeMap<PathBuf, Vec<std::ops::Range<usize>>> = BTreeMap::new();
    let mut places = |sections: &[usize]| -> Vec<Place> {
        sections
            .iter()
            .map(|&i| {
                let s = &tree.sections[i];
                removed
                    .entry(s.file.clone())
                    .or_default()
                    .push(s.lines.clone());
                Place {
                    section_type: Effective::of(tree, i)
                        .get("type")
                        .unwrap_or_default()
                        .to_owned(),
                    name: s.name.clone(),
                    file: s.file.display().to_string(),
                    line: s.line,
                }
            })
            .collect()
    };
    for adoption in trunks {
        match adoption {
            trunk::TrunkAdoption::Left(left) => plan.left.push(left),
            trunk::TrunkAdoption::Trunk(adopted) => {
                let t = adopted.trunk;
                plan.trunks.push(PlannedTrunk {
                    name: t.name.clone(),
                    provider: t.provider.clone(),
                    overrides: t.options.clone(),
                    server: t.server.clone(),
                    replaces: places(&adopted.sections),
                });
                plan.adopted_trunks.push(t);
            }
        }
    }
    for adoption in planned {
        match adoption {
            extension::Adoption::Left(left) => plan.left.push(left),
            extension::Adoption::Extension(adopted) => {
                let ext = adopted.extension;
                let replaces = places(&adopted.sections);
                plan.extensions.push(PlannedExtension {
                    extension: ext.number.clone(),
                    template: ext.template.clone(),
                    overrides: ext.options.clone(),
                    context: ext.context.clone(),
                    transport: ext.transport.clone(),
                    replaces,
                });
                plan.adopted.push(ext);
            }
        }
    }
    plan.left
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    for (path, ranges) in removed {
        let Some(before) = tree.text(&path) else {
            continue;
        };
        plan.edits.push(FileEdit {
            after: without_lines(before, &ranges),
            before: before.to_owned(),
            path,
        });
    }
    plan
}

/// `text` without the lines in `ranges` (0-based, end exclusive).
fn without_lines(text: &str, ranges: &[std::ops::Range<usize>]) -> String {
    let lines = text.split_inclusive('\n').count();
    let mut dropped = vec![false; lines];
    for range in ranges {
        for flag in dropped.iter_mut().take(range.end).skip(range.start) {
            *flag = true;
        }
    }
    let mut out = String::with_capacity(text.len());
    for (line, dropped) in text.split_inclusive('\n').zip(dropped) {
        if !dropped {
            out.push_str(line);
        }
    }
    out
}

/// A dialplan context written by hand that dials adopted phones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DialplanUse {
    pub context: String,
    pub file: String,
    pub line: usize,
    pub extensions: Vec<String>,
}

/// The hand-written contexts of an extensions.conf tree whose lines name
/// `PJSIP/<number>` of an adopted number: dialplan is not imported, so the
/// administrator can move these to routes.
pub fn dialplan_uses(tree: &ConfTree, numbers: &HashSet<String>) -> Vec<DialplanUse> {
    let mut out = Vec::new();
    for s in tree.sections.iter().filter(|s| !s.managed) {
        let mut found: Vec<String> = Vec::new();
        for (_, value, _) in &s.options {
            let mut rest = value.as_str();
            while let Some(at) = rest.find("PJSIP/") {
                let after = &rest[at + 6..];
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                if numbers.contains(&digits) && !found.contains(&digits) {
                    found.push(digits);
                }
                rest = after;
            }
        }
        if !found.is_empty() {
            found.sort();
            out.push(DialplanUse {
                context: s.name.clone(),
                file: s.file.display().to_string(),
                line: s.line,
                extensions: found,
            });
        }
    }
    out
}

/// The path shown for a file: relative to the config directory when inside it.
pub fn shown(path: &Path, config_dir: &Path) -> String {
    path.strip_prefix(config_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}
