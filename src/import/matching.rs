//! Matching an original object's sections with a rendering of rayan's: the
//! overrides that make them equal, and the final comparison. Shared by phones
//! and trunks; each brings its own rules.

use std::collections::BTreeMap;

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

    fn owned(&self, section: &str, option: &str) -> bool {
        self.by_field.contains(&(section, option))
            || self
                .sections
                .iter()
                .any(|(s, owned)| *s == section && owned.iter().any(|(o, _)| *o == option))
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
        let original = original.get(*section).unwrap_or(&empty);
        let from_rayan = rendered.get(*section).unwrap_or(&empty);
        let mut set = |option: String, value: String| {
            options
                .0
                .entry((*section).to_owned())
                .or_default()
                .insert(option, value);
        };
        for (option, value) in original.last_values() {
            if rules.owned(section, option) {
                continue;
            }
            // What rayan leaves unset counts as Asterisk's default.
            let rendered = from_rayan
                .get(option)
                .map(normalized)
                .or_else(|| rules.default_of(section, option).map(normalized));
            if rendered != Some(normalized(value)) {
                set(option.clone(), value.clone());
            }
        }
        for (option, value) in from_rayan.last_values() {
            if rules.owned(section, option) || original.get(option).is_some() {
                continue;
            }
            match rules.default_of(section, option) {
                Some(default) if normalized(default) == normalized(value) => {}
                Some(default) => set(option.clone(), default.to_owned()),
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
        let before = original.get(*section).unwrap_or(&empty);
        let after = rendered.get(*section).unwrap_or(&empty);
        let mut names = before.names();
        names.extend(after.names());
        names.sort();
        names.dedup();
        for option in names {
            if rules.by_field.contains(&(section, option.as_str())) {
                continue;
            }
            let value = |e: &Effective| {
                e.get(&option)
                    .map(normalized)
                    .or_else(|| rules.default_of(section, &option).map(normalized))
            };
            if value(before) != value(after) {
                return Err(format!(
                    "{section}.{option} would change from {:?} to {:?}",
                    before.get(&option),
                    after.get(&option)
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
