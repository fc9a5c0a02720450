//! The dialplan the double reports through `dialplan show` and `ShowDialPlan`: by default the
//! lab's `[from-internal]` context of the recordings.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priority {
    pub number: u32,
    pub application: String,
    pub data: String,
    /// Line in extensions.conf.
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub name: String,
    pub priorities: Vec<Priority>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub name: String,
    pub extensions: Vec<Extension>,
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
                    "n" => extension.priorities.last().map_or(1, |p| p.number + 1),
                    p => p.parse().ok()?,
                };
                extension
                    .priorities
                    .push(priority(number, application, data, *line as u32));
            }
            match contexts.iter_mut().find(|c| c.name == section.name) {
                Some(existing) => existing.extensions.extend(extensions),
                None => contexts.push(Context {
                    name: section.name,
                    extensions,
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
                let step = format!("{}. {}({})", p.number, p.application, p.data);
                lines.push(format!(
                    "  {label:<17} {step:<45} [extensions.conf:{}]",
                    p.line
                ));
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
