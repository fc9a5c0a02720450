//! Errors as a person reads them: one line, each cause said once.
//!
//! Error types here wrap their causes and often repeat them in their own message
//! (`database error: Connection Error: error returned from database: role "rayan"
//! does not exist`, then each of those causes again). Printing the whole chain
//! would say the same thing four times.

use std::error::Error;

/// `error` and its causes on one line, leaving out any cause whose text is already
/// said.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut messages = Vec::new();
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = next {
        messages.push(current.to_string());
        next = current.source();
    }
    say_once(messages)
}

/// Joins messages, outermost first, with ": ", skipping those already contained in
/// what was said, and folding line breaks so that a log shows one line.
pub fn say_once(messages: impl IntoIterator<Item = String>) -> String {
    let mut said = String::new();
    for message in messages {
        let message = message.replace(['\r', '\n'], " ");
        let message = message.trim();
        if message.is_empty() || said.contains(message) {
            continue;
        }
        if !said.is_empty() {
            said.push_str(": ");
        }
        said.push_str(message);
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        let chain = [
            "database error: Connection Error: error returned from database: role \"rayan\" does not exist",
            "Connection Error: error returned from database: role \"rayan\" does not exist",
            "error returned from database: role \"rayan\" does not exist",
            "role \"rayan\" does not exist",
        ];
        let line = say_once(chain.iter().map(|m| m.to_string()));
        assert_eq!(line, chain[0]);
        assert_eq!(line.matches("does not exist").count(), 1);
    }

    #[test]
    fn new_causes_are_kept_in_order() {
        let line = say_once([
            "cannot start".into(),
            "bind 127.0.0.1:8088".into(),
            "address in use\n".into(),
        ]);
        assert_eq!(line, "cannot start: bind 127.0.0.1:8088: address in use");
    }
}
