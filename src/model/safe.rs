//! What may appear in a value written into an Asterisk or Kamailio config file.
//!
//! Asterisk's config parser reads `;` as the start of a comment (unless escaped),
//! `[` at a line start as a new section, `#include`/`#exec` at a line start as a
//! directive, and a newline as the end of the option. A value that carries any of
//! these could smuggle a new option or section into the file. The API validators
//! and the renderer both call [`check_config_value`], so the rule lives in one place.

use thiserror::Error;

/// Why a value is unsafe to write into a config file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UnsafeValue {
    #[error("must not contain a line break")]
    LineBreak,
    #[error("must not contain a NUL byte")]
    Nul,
    #[error("must not contain control characters")]
    Control,
    #[error("must not contain ';' (Asterisk reads it as a comment)")]
    Semicolon,
    #[error("must not contain '[' or ']' (they can open a config section)")]
    Bracket,
    #[error("must not contain a backslash (Asterisk treats it as an escape)")]
    Backslash,
    #[error("must not contain '${{' (Asterisk would expand it as a variable)")]
    Expansion,
    #[error("must not start or end with whitespace (Asterisk trims it)")]
    OuterWhitespace,
    #[error("must not be empty")]
    Empty,
    #[error("must not start with '>' (Asterisk would read '=>')")]
    LeadingArrow,
    /// Bidirectional overrides, zero-width characters and the BOM change what an
    /// administrator reading the file or a phone's display sees without being visible.
    #[error("must not contain invisible or text-direction characters (U+{0:04X})")]
    Invisible(u32),
}

/// Unicode format characters that reorder or hide text: bidirectional marks,
/// embeddings, overrides and isolates, zero-width characters, word joiners and
/// invisible operators, the Mongolian vowel separator, interlinear annotation
/// marks and the byte order mark.
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

/// Checks one value destined for `key=value` in an Asterisk or Kamailio file.
pub fn check_config_value(value: &str) -> Result<(), UnsafeValue> {
    if value.is_empty() {
        return Err(UnsafeValue::Empty);
    }
    if value.starts_with('>') {
        return Err(UnsafeValue::LeadingArrow);
    }
    for c in value.chars() {
        match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{85}' => return Err(UnsafeValue::LineBreak),
            '\0' => return Err(UnsafeValue::Nul),
            ';' => return Err(UnsafeValue::Semicolon),
            '[' | ']' => return Err(UnsafeValue::Bracket),
            '\\' => return Err(UnsafeValue::Backslash),
            c if c.is_control() => return Err(UnsafeValue::Control),
            c if is_invisible_or_bidi(c) => return Err(UnsafeValue::Invisible(c as u32)),
            _ => {}
        }
    }
    if value.contains("${") || value.contains("$[") {
        return Err(UnsafeValue::Expansion);
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(UnsafeValue::OuterWhitespace);
    }
    Ok(())
}

/// True when `name` can be used as a section name or identifier without quoting:
/// ASCII letters, digits, `_`, `-`, `.`, `+`, 1 to `max` long.
pub fn is_plain_identifier(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_each_injection_vector() {
        assert_eq!(check_config_value("a\nb"), Err(UnsafeValue::LineBreak));
        assert_eq!(check_config_value("a\rb"), Err(UnsafeValue::LineBreak));
        assert_eq!(check_config_value("a\0b"), Err(UnsafeValue::Nul));
        assert_eq!(check_config_value("a;b"), Err(UnsafeValue::Semicolon));
        assert_eq!(check_config_value("[x]"), Err(UnsafeValue::Bracket));
        assert_eq!(check_config_value("a\\"), Err(UnsafeValue::Backslash));
        assert_eq!(
            check_config_value("${SHELL(id)}"),
            Err(UnsafeValue::Expansion)
        );
        assert_eq!(check_config_value(" a"), Err(UnsafeValue::OuterWhitespace));
        assert_eq!(check_config_value("a\u{7}"), Err(UnsafeValue::Control));
        assert!(check_config_value("\"Alice B\" <1001>").is_ok());
        assert!(check_config_value("Jürgen Dvořák").is_ok());
        assert_eq!(check_config_value(""), Err(UnsafeValue::Empty));
        assert_eq!(check_config_value(">x"), Err(UnsafeValue::LeadingArrow));
        for c in [
            '\u{202E}', '\u{200B}', '\u{200D}', '\u{2066}', '\u{FEFF}', '\u{061C}',
        ] {
            let value = format!("abc{c}def");
            assert_eq!(
                check_config_value(&value),
                Err(UnsafeValue::Invisible(c as u32)),
                "{value:?}"
            );
        }
        assert!(
            check_config_value("محمد رضا").is_ok(),
            "right-to-left text itself is fine"
        );
    }

    proptest! {
        /// Whatever passes the check, written as `key=value` on one line, stays one
        /// option line: no second line, no section, no comment.
        #[test]
        fn accepted_values_stay_on_their_line(value in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            if check_config_value(&value).is_ok() {
                let line = format!("key={value}");
                prop_assert_eq!(line.lines().count().max(1), 1);
                prop_assert!(!line.contains(';'));
                prop_assert!(!line.contains('['));
                prop_assert!(!line.contains('\r'));
            }
        }
    }
}
