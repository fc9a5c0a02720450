//! The dialplan the double reports through `dialplan show` and `ShowDialPlan`: by default the
//! lab's `[from-internal]` context of the recordings.

/// Asterisk's `PRIORITY_HINT` (-1): the `hint` line of an extension, listed before priority 1.
pub const HINT: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    /// The priority number, or [`HINT`]; for a hint `application` holds the devices.
    pub number: u32,
    pub application: String,
    pub data: String,
    /// Line in extensions.conf; 0 for a line added live (DialplanExtensionAdd).
    pub line: u32,
}

impl Priority {
    pub fn is_hint(&self) -> bool {
        self.number == HINT
    }

    /// `hint` or the number, as ShowDialPlan's `Priority:` shows it.
    pub fn label(&self) -> String {
        if self.is_hint() {
            "hint".to_owned()
        } else {
            self.number.to_string()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub priorities: Vec<Priority>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub name: String,
    pub extensions: Vec<Extension>,
    /// A live add found this context already there: the next pbx_config reload keeps it,
    /// empty, even when extensions.conf lacks it (o1, parts 2 and 4).
    pub kept_by_live_add: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dialplan {
    pub contexts: Vec<Context>,
}

fn priority(number: u32, application: &str, data: &str, line: u32) -> Priority {
    Priority {
        number,
        application: application.to_owned(),
        data: data.to_owned(),
        line,
    }
}

impl Dialplan {
    /// extensions.conf of the lab: `_1XXX` dials the endpoint, `9000` answers and waits.
    pub fn lab() -> Self {
        Self {
            contexts: vec![Context {
                name: "from-internal".to_owned(),
                extensions: vec![
                    Extension {
                        name: "9000".to_owned(),
                        priorities: vec![
                            priority(1, "Answer", "", 9),
                            priority(2, "Wait", "10", 10),
                            priority(3, "Hangup", "", 11),
                        ],
                    },
                    Extension {
                        name: "_1XXX".to_owned(),
                        priorities: vec![
                            priority(1, "Dial", "PJSIP/${EXTEN},20", 6),
                            priority(2, "Hangup", "", 7),
                        ],
                    },
                ],
                kept_by_live_add: false,
            }],
        }
    }

    /// Reads `[context]` sections with `exten => name,priority,App(data)` and
    /// `same => n,App(data)` lines, as pbx_config does; `None` when the file does not parse.
    pub fn from_extensions_conf(text: &str) -> Option<Self> {
        let mut warnings = Vec::new();
        let sections = super::config_file::parse(text, &mut warnings).ok()?;
        let mut contexts: Vec<Context> = Vec::new();
        for section in sections.into_iter().filter(|s| !s.is_template) {
            let mut extensions: Vec<Extension> = Vec::new();
            for (key, value, line) in &section.options {
                let (name, rest) = match key.as_str() {
                    "exten" => match value.split_once(',') {
                        Some((name, rest)) => (Some(name.trim().to_owned()), rest),
                        None => continue,
                    },
                    "same" => (None, value.as_str()),
                    _ => continue,
                };
                let Some((prio, app)) = rest.split_once(',') else {
                    continue;
                };
                let (application, data) = match app.split_once('(') {
                    Some((a, d)) => (a.trim(), d.strip_suffix(')').unwrap_or(d)),
                    None => (app.trim(), ""),
                };
                let extension = match name {
                    Some(name) => match extensions.iter().position(|e| e.name == name) {
                        Some(i) => &mut extensions[i],
                        None => {
                            extensions.push(Extension {
                                name,
                                priorities: Vec::new(),
                            });
                            extensions.last_mut()?
                        }
                    },
                    None => extensions.last_mut()?,
                };
                let number = match prio.trim() {
                    "n" => extension
                        .priorities
                        .iter()
                        .rfind(|p| !p.is_hint())
                        .map_or(1, |p| p.number + 1),
                    "hint" => HINT,
                    p => p.parse().ok()?,
                };
                // `exten => 2001,hint,PJSIP/2001`: the whole rest is the device list.
                let (application, data) = if number == HINT {
                    (app.trim(), "")
                } else {
                    (application, data)
                };
                insert_sorted(
                    &mut extension.priorities,
                    priority(number, application, data, *line as u32),
                );
            }
            match contexts.iter_mut().find(|c| c.name == section.name) {
                Some(existing) => existing.extensions.extend(extensions),
                None => contexts.push(Context {
                    name: section.name,
                    extensions,
                    kept_by_live_add: false,
                }),
            }
        }
        Some(Self { contexts })
    }

    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }

    /// Output lines of the CLI command `dialplan show <context>`.
    pub fn show(&self, name: &str) -> Vec<String> {
        let Some(context) = self.context(name) else {
            return vec![format!("There is no existence of '{name}' context")];
        };
        let mut lines = vec![format!(
            "[ Context '{}' created by 'pbx_config' ]",
            context.name
        )];
        let mut priorities = 0;
        for extension in &context.extensions {
            for (index, p) in extension.priorities.iter().enumerate() {
                let label = if index == 0 {
                    format!("'{}' =>", extension.name)
                } else {
                    String::new()
                };
                // print_ext() and show_dialplan_helper_extension_output() in main/pbx.c:
                // a hint prints as `hint: <devices>`, a live line names its registrar.
                let step = if p.is_hint() {
                    format!("hint: {}", p.application)
                } else {
                    format!("{}. {}({})", p.number, p.application, p.data)
                };
                let origin = if p.line == 0 {
                    "pbx_config".to_owned()
                } else {
                    format!("extensions.conf:{}", p.line)
                };
                lines.push(format!("  {label:<17} {step:<45} [{origin}]"));
                priorities += 1;
            }
        }
        lines.push(String::new());
        lines.push(format!(
            "-= {} extensions ({} priorities) in 1 context. =-",
            context.extensions.len(),
            priorities
        ));
        lines
    }
}

/// Priorities stay sorted with the hint first, as Asterisk keeps an extension's peers.
fn insert_sorted(priorities: &mut Vec<Priority>, new: Priority) {
    let key = |p: &Priority| {
        if p.is_hint() {
            -1i64
        } else {
            i64::from(p.number)
        }
    };
    let at = priorities
        .iter()
        .position(|p| key(p) > key(&new))
        .unwrap_or(priorities.len());
    priorities.insert(at, new);
}

/// What a DialplanExtensionAdd did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// `EEXIST` of ast_add_extension2 without `Replace`.
    Exists,
}

/// What a DialplanExtensionRemove did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveOutcome {
    RemovedPriority,
    RemovedExtension,
    Failed,
}

impl Dialplan {
    /// The hints: (context, extension, devices), in dialplan order.
    pub fn hints(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for context in &self.contexts {
            for extension in &context.extensions {
                for p in extension.priorities.iter().filter(|p| p.is_hint()) {
                    out.push((
                        context.name.clone(),
                        extension.name.clone(),
                        p.application.clone(),
                    ));
                }
            }
        }
        out
    }

    /// The hint of `exten@context`, if it has one.
    pub fn hint(&self, context: &str, exten: &str) -> Option<String> {
        self.context(context)?
            .extensions
            .iter()
            .find(|e| e.name == exten)?
            .priorities
            .iter()
            .find(|p| p.is_hint())
            .map(|p| p.application.clone())
    }

    /// DialplanExtensionAdd (pbx_config.c, manager_dialplan_extension_add): finds or
    /// creates the context, refuses an existing priority unless `replace`.
    pub fn add_live(
        &mut self,
        context: &str,
        exten: &str,
        number: u32,
        application: &str,
        data: &str,
        replace: bool,
    ) -> AddOutcome {
        let index = match self.contexts.iter().position(|c| c.name == context) {
            Some(i) => {
                self.contexts[i].kept_by_live_add = true;
                i
            }
            None => {
                self.contexts.push(Context {
                    name: context.to_owned(),
                    ..Context::default()
                });
                self.contexts.len() - 1
            }
        };
        let ctx = &mut self.contexts[index];
        let extension = match ctx.extensions.iter().position(|e| e.name == exten) {
            Some(i) => &mut ctx.extensions[i],
            None => {
                ctx.extensions.push(Extension {
                    name: exten.to_owned(),
                    priorities: Vec::new(),
                });
                ctx.extensions.last_mut().expect("just pushed")
            }
        };
        let new = priority(number, application, data, 0);
        if let Some(i) = extension.priorities.iter().position(|p| p.number == number) {
            if !replace {
                return AddOutcome::Exists;
            }
            extension.priorities[i] = new;
            return AddOutcome::Added;
        }
        insert_sorted(&mut extension.priorities, new);
        AddOutcome::Added
    }

    /// DialplanExtensionRemove: `None` removes the whole extension. An extension left
    /// without priorities is gone; its context stays.
    pub fn remove_live(
        &mut self,
        context: &str,
        exten: &str,
        number: Option<u32>,
    ) -> RemoveOutcome {
        let Some(ctx) = self.contexts.iter_mut().find(|c| c.name == context) else {
            return RemoveOutcome::Failed;
        };
        let Some(index) = ctx.extensions.iter().position(|e| e.name == exten) else {
            return RemoveOutcome::Failed;
        };
        match number {
            None => {
                ctx.extensions.remove(index);
                RemoveOutcome::RemovedExtension
            }
            Some(number) => {
                let extension = &mut ctx.extensions[index];
                let Some(at) = extension.priorities.iter().position(|p| p.number == number) else {
                    return RemoveOutcome::Failed;
                };
                extension.priorities.remove(at);
                if extension.priorities.is_empty() {
                    ctx.extensions.remove(index);
                }
                RemoveOutcome::RemovedPriority
            }
        }
    }

    /// The dialplan after a pbx_config reload read `fresh` from the file: lines added
    /// live are gone; a context a live add found existing stays, empty (o1).
    pub fn reloaded_from(&self, mut fresh: Dialplan) -> Dialplan {
        for old in self.contexts.iter().filter(|c| c.kept_by_live_add) {
            if fresh.context(&old.name).is_none() {
                fresh.contexts.push(Context {
                    name: old.name.clone(),
                    ..Context::default()
                });
            }
        }
        fresh
    }
}
