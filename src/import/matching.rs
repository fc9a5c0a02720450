//! Matching an original object's sections with a rendering of rayan's: the
//! overrides that make them equal, and the final comparison. Shared by phones
//! and trunks; each brings its own rules.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Effective, normalized};
use crate::model::options::{ObjectOptions, OwnedOptions};

/// Section type → its effective options.
pub(super) type Sections = BTreeMap<String, Effective>;

/// How one kind of object is compared.
pub(super) struct Rules {
    /// Its sections, and the options its own fields write.
    pub sections: OwnedOptions,
    /// Options compared through the object's fields (references to sections
    /// rayan renames, codecs, credentials), never one by one.
    pub by_field: &'static [(&'static str, &'static str)],
    /// Asterisk 22's default of each option rayan's renderings write, where
    /// the original may leave it unset.
    pub defaults: &'static [(&'static str, &'static str, &'static str)],
}

impl Rules {
    fn default_of(&self, section: &str, option: &str) -> Option<&'static str> {
        self.defaults
            .iter()
            .find(|(s, o, _)| *s == section && *o == option)
            .map(|(_, _, d)| *d)
    }

    /// The options of `section` compared through fields or written from them.
    fn owned_in(&self, section: &str) -> HashSet<&'static str> {
        self.by_field
            .iter()
            .filter(|(s, _)| *s == section)
            .map(|(_, o)| *o)
            .chain(
                self.sections
                    .iter()
                    .filter(|(s, _)| *s == section)
                    .flat_map(|(_, owned)| owned.iter().map(|(o, _)| *o)),
            )
            .collect()
    }
}

/// The overrides that make `rendered` (a rendering without any) show the
/// original's options: an option the original sets differently is kept; one
/// the rendering adds is set back to Asterisk's default. `Err` when the
/// rendering adds an option whose default rayan does not know.
pub(super) fn overrides(
    original: &Sections,
    rendered: &Sections,
    rules: &Rules,
) -> Result<ObjectOptions, String> {
    let empty = Effective::default();
    let mut options = ObjectOptions::default();
    for (section, _) in rules.sections {
        let owned = rules.owned_in(section);
        let original = original.get(*section).unwrap_or(&empty);
        let from_rayan = values(rendered.get(*section).unwrap_or(&empty));
        let mut set = |option: &str, value: &str| {
            options
                .0
                .entry((*section).to_owned())
                .or_default()
                .insert(option.to_owned(), value.to_owned());
        };
        for (option, value) in original.last_values() {
            if owned.contains(option.as_str()) {
                continue;
            }
            // What rayan leaves unset counts as Asterisk's default.
            let rendered = from_rayan
                .get(option.as_str())
                .copied()
                .or_else(|| rules.default_of(section, option));
            if rendered.map(normalized) != Some(normalized(value)) {
                set(option, value);
            }
        }
        let original = values(original);
        for (option, value) in &from_rayan {
            if owned.contains(option) || original.contains_key(option) {
                continue;
            }
            match rules.default_of(section, option) {
                Some(default) if normalized(default) == normalized(value) => {}
                Some(default) => set(option, default),
                None => {
                    return Err(format!(
                        "it writes {section}.{option}={value}, which the original leaves at a default rayan does not know"
                    ));
                }
            }
        }
    }
    Ok(options)
}

/// A section's last values by (lower-case) option name.
fn values(effective: &Effective) -> HashMap<&str, &str> {
    effective
        .last_values()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// `Ok` when every option compared one by one has the same effective value
/// (a missing one counts as its default); otherwise the first difference.
pub(super) fn same(original: &Sections, rendered: &Sections, rules: &Rules) -> Result<(), String> {
    let empty = Effective::default();
    for (section, _) in rules.sections {
        match (
            original.contains_key(*section),
            rendered.contains_key(*section),
        ) {
            (true, false) => return Err(format!("its {section} would be dropped")),
            (false, true) => return Err(format!("a {section} would be added")),
            _ => {}
        }
        let before = values(original.get(*section).unwrap_or(&empty));
        let after = values(rendered.get(*section).unwrap_or(&empty));
        // In order, so that the difference reported is always the same one.
        let mut names: Vec<&str> = before.keys().chain(after.keys()).copied().collect();
        names.sort_unstable();
        names.dedup();
        for option in names {
            if rules.by_field.contains(&(section, option)) {
                continue;
            }
            let value = |v: &HashMap<&str, &str>| {
                v.get(option)
                    .map(|v| normalized(v))
                    .or_else(|| rules.default_of(section, option).map(normalized))
            };
            if value(&before) != value(&after) {
                return Err(format!(
                    "{section}.{option} would change from {:?} to {:?}",
                    before.get(option),
                    after.get(option)
                ));
            }
        }
    }
    Ok(())
}

/// A rendered block's sections, by type.
pub(super) fn sections_of(body: &str) -> Result<Sections, String> {
    let tree = super::conf::parse_text(std::path::Path::new("rendered"), body)
        .map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for i in 0..tree.sections.len() {
        let effective = Effective::of(&tree, i);
        if let Some(kind) = effective.get("type").map(str::to_owned) {
            out.insert(kind, effective);
        }
    }
    Ok(out)
}
