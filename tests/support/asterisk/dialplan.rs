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
