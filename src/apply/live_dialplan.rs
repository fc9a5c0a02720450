//! Changing the running dialplan without reloading it.
//!
//! With hints, a `pbx_config.so` reload of 10,000 extensions takes 3.8 s, and
//! 9–11 s when the file changed (transcript n3), against a few milliseconds to
//! add or remove one extension's lines with `DialplanExtensionAdd` /
//! `DialplanExtensionRemove` (o1). So when the only difference between the
//! dialplan Asterisk runs and the rendered file is whole extensions of rayan's
//! blocks, the worker makes those edits live and writes the same text to the
//! file, which Asterisk reads at its next reload or restart (a reload drops
//! live lines and reads the file, o1, so both stay the same).
//!
//! Anything else (text outside rayan's blocks, `include` lines, a context that
//! goes away, more than [`MAX_LIVE_EXTENSIONS`] extensions) needs the reload.

use std::collections::BTreeMap;

use crate::render::ManagedFile;

/// Beyond this many changed extensions a reload is cheaper (about 4.6 ms per
/// extension next to 10,000 hints, o1, against a 10 s reload).
pub const MAX_LIVE_EXTENSIONS: usize = 1_000;

/// One priority: (priority, application, data), as `ShowDialPlan` lists it:
/// `("hint", "PJSIP/2001", "")`, `("1", "Dial", "PJSIP/2001,30")`.
pub type Priority = (String, String, String);

/// One change to the running dialplan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Add {
        context: String,
        extension: String,
        priority: Priority,
        /// The priority exists with other data (`Replace: yes`).
        replace: bool,
    },
    /// A priority, or the whole extension when `priority` is `None`.
    Remove {
        context: String,
        extension: String,
        priority: Option<String>,
    },
}

/// What one extension must look like afterwards (no priorities: gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The managed block the extension is in (for its apply outcome).
    pub block: String,
    pub context: String,
    pub extension: String,
    pub expected: Vec<Priority>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct LivePlan {
    pub edits: Vec<Edit>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Context {
    block: String,
    includes: Vec<String>,
    extensions: BTreeMap<String, Vec<Priority>>,
}

/// `[ctx]`, `exten => name,prio,App(data)`, ` same => n,App(data)`, `include =>`
/// lines of rayan's dialplan blocks; `None` for anything else.
fn parse_blocks<'a>(
    blocks: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<BTreeMap<String, Context>> {
    let mut contexts: BTreeMap<String, Context> = BTreeMap::new();
    for (block, body) in blocks {
        let mut current: Option<String> = None;
        let mut last: Option<(String, u32)> = None;
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let context = contexts.entry(name.to_owned()).or_default();
                if !context.block.is_empty() && context.block != block {
                    return None;
                }
                context.block = block.to_owned();
                current = Some(name.to_owned());
                last = None;
                continue;
            }
            let context = contexts.get_mut(current.as_deref()?)?;
            if let Some(included) = line.strip_prefix("include => ") {
                context.includes.push(included.to_owned());
            } else if let Some(rest) = line.strip_prefix("exten => ") {
                let (name, rest) = rest.split_once(',')?;
                let (priority, step) = rest.split_once(',')?;
                let number = match priority {
                    "hint" => None,
                    p => Some(p.parse::<u32>().ok()?),
                };
                let priority = application(priority, step)?;
                context
                    .extensions
                    .entry(name.to_owned())
                    .or_default()
                    .push(priority);
                last = number.map(|n| (name.to_owned(), n));
            } else if let Some(step) = line.strip_prefix(" same => n,") {
                let (name, number) = last.as_mut()?;
                *number += 1;
                let priority = application(&number.to_string(), step)?;
                context.extensions.get_mut(name.as_str())?.push(priority);
            } else {
                return None;
            }
        }
    }
    Some(contexts)
}

/// `Dial(PJSIP/2001,30)` → ("1", "Dial", "PJSIP/2001,30"); a hint's device is
/// its application, as `ShowDialPlan` shows it.
fn application(priority: &str, step: &str) -> Option<Priority> {
    if priority == "hint" {
        return Some((priority.to_owned(), step.to_owned(), String::new()));
    }
    let (app, data) = match step.split_once('(') {
        Some((app, data)) => (app, data.strip_suffix(')')?),
        None => (step, ""),
    };
    Some((priority.to_owned(), app.to_owned(), data.to_owned()))
}

/// The file without rayan's blocks: it must not change for a live edit.
fn outside_text(file: &ManagedFile<'_>) -> String {
    let mut skeleton = file.clone();
    let ids: Vec<String> = file.blocks().map(|(id, _)| id.to_owned()).collect();
    for id in &ids {
        skeleton.remove(id);
    }
    skeleton.render()
}

/// The edits that bring the running dialplan (`loaded`, the text Asterisk last
/// read or was brought to) to `desired`; `None` when only a reload can.
pub fn plan(loaded: &str, desired: &str) -> Option<LivePlan> {
    let loaded_file = ManagedFile::parse(loaded, ";").ok()?;
    let desired_file = ManagedFile::parse(desired, ";").ok()?;
    if outside_text(&loaded_file) != outside_text(&desired_file) {
        return None;
    }
    let before = parse_blocks(loaded_file.blocks())?;
    let after = parse_blocks(desired_file.blocks())?;
    if before.keys().any(|name| !after.contains_key(name)) {
        return None;
    }
    let mut plan = LivePlan::default();
    let empty = Context::default();
    for (name, wanted) in &after {
        let running = before.get(name).unwrap_or(&empty);
        if running.includes != wanted.includes {
            return None;
        }
        let names = running.extensions.keys().chain(wanted.extensions.keys());
        let mut seen = std::collections::BTreeSet::new();
        for extension in names.filter(|n| seen.insert(*n)) {
            let old = running.extensions.get(extension);
            let new = wanted.extensions.get(extension);
            if old == new {
                continue;
            }
            if plan.checks.len() == MAX_LIVE_EXTENSIONS {
                return None;
            }
            extension_edits(name, extension, old, new, &mut plan.edits);
            plan.checks.push(Check {
                block: wanted.block.clone(),
                context: name.clone(),
                extension: extension.clone(),
                expected: new.cloned().unwrap_or_default(),
            });
        }
    }
    Some(plan)
}

fn extension_edits(
    context: &str,
    extension: &str,
    old: Option<&Vec<Priority>>,
    new: Option<&Vec<Priority>>,
    edits: &mut Vec<Edit>,
) {
    let Some(new) = new else {
        edits.push(Edit::Remove {
            context: context.to_owned(),
            extension: extension.to_owned(),
            priority: None,
        });
        return;
    };
    let old = old.map(Vec::as_slice).unwrap_or_default();
    for priority in new {
        let existing = old.iter().find(|p| p.0 == priority.0);
        if existing == Some(priority) {
            continue;
        }
        edits.push(Edit::Add {
            context: context.to_owned(),
            extension: extension.to_owned(),
            priority: priority.clone(),
            replace: existing.is_some(),
        });
    }
    for gone in old.iter().filter(|p| !new.iter().any(|n| n.0 == p.0)) {
        edits.push(Edit::Remove {
            context: context.to_owned(),
            extension: extension.to_owned(),
            priority: Some(gone.0.clone()),
        });
    }
}

/// What differs between what Asterisk lists and what was expected, if anything.
pub fn compare(check: &Check, mut listed: Vec<Priority>) -> Option<String> {
    let mut expected = check.expected.clone();
    expected.sort();
    listed.sort();
    if expected == listed {
        return None;
    }
    Some(if expected.is_empty() {
        format!(
            "Asterisk still has extension {} in context {}",
            check.extension, check.context
        )
    } else if listed.is_empty() {
        format!(
            "Asterisk has no extension {} in context {}",
            check.extension, check.context
        )
    } else {
        format!(
            "extension {} in context {} runs {} where {} was written",
            check.extension,
            check.context,
            describe(&listed),
            describe(&expected)
        )
    })
}

fn describe(priorities: &[Priority]) -> String {
    priorities
        .iter()
        .map(|(p, app, data)| format!("{p},{app}({data})"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[general]\nstatic=yes\n\n[handwritten]\nexten => 9000,1,Answer()\n\n";

    fn file(blocks: &[(&str, &str)]) -> String {
        let mut text = HEAD.to_owned();
        for (id, body) in blocks {
            text.push_str(&format!(
                "; BEGIN MANAGED - {id}\n{body}; END MANAGED - {id}\n"
            ));
        }
        text
    }

    fn phone(number: &str) -> String {
        format!(
            "exten => {number},hint,PJSIP/{number}\nexten => {number},1,Dial(PJSIP/{number},30)\n same => n,Hangup()\n"
        )
    }

    fn internal(numbers: &[&str], include: Option<&str>) -> String {
        let mut body = "[from-internal]\n".to_owned();
        for n in numbers {
            body.push_str(&phone(n));
        }
        if let Some(i) = include {
            body.push_str(&format!("include => {i}\n"));
        }
        body
    }

    #[test]
    fn a_new_phone_is_three_adds() {
        let loaded = file(&[("Dialplan from-internal", &internal(&["1001"], None))]);
        let desired = file(&[("Dialplan from-internal", &internal(&["1001", "1002"], None))]);
        let plan = plan(&loaded, &desired).expect("live");
        assert_eq!(plan.edits.len(), 3);
        assert_eq!(
            plan.edits[0],
            Edit::Add {
                context: "from-internal".into(),
                extension: "1002".into(),
                priority: ("hint".into(), "PJSIP/1002".into(), String::new()),
                replace: false,
            }
        );
        assert_eq!(
            plan.edits[2],
            Edit::Add {
                context: "from-internal".into(),
                extension: "1002".into(),
                priority: ("2".into(), "Hangup".into(), String::new()),
                replace: false,
            }
        );
        assert_eq!(plan.checks.len(), 1);
        assert_eq!(plan.checks[0].block, "Dialplan from-internal");
        // And back: one remove of the whole extension.
        let back = super::plan(&desired, &loaded).expect("live");
        assert_eq!(
            back.edits,
            [Edit::Remove {
                context: "from-internal".into(),
                extension: "1002".into(),
                priority: None
            }]
        );
        assert!(back.checks[0].expected.is_empty());
    }

    #[test]
    fn a_changed_line_is_replaced() {
        let loaded = file(&[("Dialplan from-internal", &internal(&["1001"], None))]);
        let changed = loaded.replace("Dial(PJSIP/1001,30)", "Dial(PJSIP/1001,45)");
        let plan = plan(&loaded, &changed).expect("live");
        assert_eq!(
            plan.edits,
            [Edit::Add {
                context: "from-internal".into(),
                extension: "1001".into(),
                priority: ("1".into(), "Dial".into(), "PJSIP/1001,45".into()),
                replace: true,
            }]
        );
    }

    #[test]
    fn what_only_a_reload_can_do() {
        let loaded = file(&[("Dialplan from-internal", &internal(&["1001"], None))]);
        // An include changes.
        let routed = file(&[(
            "Dialplan from-internal",
            &internal(&["1001"], Some("rayan-out-us")),
        )]);
        assert!(plan(&loaded, &routed).is_none());
        // Hand-written text changes.
        let edited = loaded.replace("Answer()", "Answer(1)");
        assert!(plan(&loaded, &edited).is_none());
        // A context goes away.
        let none = file(&[]);
        assert!(plan(&loaded, &none).is_none());
        // Nothing changes: an empty plan.
        assert_eq!(plan(&loaded, &loaded), Some(LivePlan::default()));
        // A new context is created by its first add.
        let two = file(&[
            ("Dialplan from-internal", &internal(&["1001"], None)),
            (
                "Dialplan sales",
                "[sales]\nexten => 2001,1,Dial(PJSIP/2001,30)\n same => n,Hangup()\n",
            ),
        ]);
        assert_eq!(plan(&loaded, &two).map(|p| p.edits.len()), Some(2));
    }

    #[test]
    fn too_many_changes_reload() {
        let loaded = file(&[("Dialplan from-internal", &internal(&[], None))]);
        let numbers: Vec<String> = (0..=MAX_LIVE_EXTENSIONS)
            .map(|n| format!("{}", 10_000 + n))
            .collect();
        let refs: Vec<&str> = numbers.iter().map(String::as_str).collect();
        let desired = file(&[("Dialplan from-internal", &internal(&refs, None))]);
        assert!(plan(&loaded, &desired).is_none());
        let fewer = file(&[("Dialplan from-internal", &internal(&refs[..10], None))]);
        assert_eq!(plan(&loaded, &fewer).map(|p| p.checks.len()), Some(10));
    }

    #[test]
    fn comparison_ignores_order_and_names_the_difference() {
        let check = Check {
            block: "Dialplan from-internal".into(),
            context: "from-internal".into(),
            extension: "1001".into(),
            expected: vec![
                ("hint".into(), "PJSIP/1001".into(), String::new()),
                ("1".into(), "Dial".into(), "PJSIP/1001,30".into()),
            ],
        };
        let listed = vec![
            ("1".into(), "Dial".into(), "PJSIP/1001,30".into()),
            ("hint".into(), "PJSIP/1001".into(), String::new()),
        ];
        assert_eq!(compare(&check, listed), None);
        assert!(compare(&check, Vec::new()).is_some_and(|d| d.contains("has no extension 1001")));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Applying a plan's edits to the loaded dialplan gives the desired one.
            #[test]
            fn edits_bring_loaded_to_desired(
                before in proptest::collection::btree_set(1000u32..1040, 0..12),
                after in proptest::collection::btree_set(1000u32..1040, 0..12),
                timeout in 20u32..22,
            ) {
                let render = |numbers: &std::collections::BTreeSet<u32>, t: u32| {
                    let mut body = "[from-internal]\n".to_owned();
                    for n in numbers {
                        body.push_str(&phone(&n.to_string()).replace(",30)", &format!(",{t})")));
                    }
                    file(&[("Dialplan from-internal", &body)])
                };
                let loaded = render(&before, 20);
                let desired = render(&after, timeout);
                let plan = plan(&loaded, &desired).expect("live");
                let mut running = parse_blocks(ManagedFile::parse(&loaded, ";").expect("parses").blocks()).expect("ours");
                let context = running.entry("from-internal".into()).or_default();
                for edit in &plan.edits {
                    match edit {
                        Edit::Add { extension, priority, replace, .. } => {
                            let prios = context.extensions.entry(extension.clone()).or_default();
                            let at = prios.iter().position(|p| p.0 == priority.0);
                            prop_assert_eq!(at.is_some(), *replace);
                            match at {
                                Some(i) => prios[i] = priority.clone(),
                                None => prios.push(priority.clone()),
                            }
                        }
                        Edit::Remove { extension, priority: None, .. } => {
                            prop_assert!(context.extensions.remove(extension).is_some());
                        }
                        Edit::Remove { extension, priority: Some(p), .. } => {
                            let prios = context.extensions.get_mut(extension).expect("exists");
                            prios.retain(|x| &x.0 != p);
                        }
                    }
                }
                let wanted = parse_blocks(ManagedFile::parse(&desired, ";").expect("parses").blocks()).expect("ours");
                let mut got: Vec<_> = context.extensions.iter().map(|(k, v)| { let mut v = v.clone(); v.sort(); (k.clone(), v) }).collect();
                got.sort();
                let mut want: Vec<_> = wanted.get("from-internal").map(|c| c.extensions.iter().map(|(k, v)| { let mut v = v.clone(); v.sort(); (k.clone(), v) }).collect()).unwrap_or_default();
                want.sort();
                prop_assert_eq!(got, want);
            }
        }
    }
}
