//! Asterisk dial patterns, as an outbound route's `pattern`, and what `strip` and
//! `prepend` may do with the number they match. One rule for the API and the renderer.

use thiserror::Error;

const MAX_PATTERN_LEN: usize = 80;
const MAX_PREPEND_LEN: usize = 20;

/// Why a pattern, strip or prepend is refused, and which of the three it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct PatternError {
    /// `pattern`, `strip` or `prepend`.
    pub field: &'static str,
    pub reason: String,
}

impl PatternError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        PatternError {
            field,
            reason: reason.into(),
        }
    }
}

fn is_dial_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | '+')
}

/// The fewest digits a dialled number matching `pattern` has.
fn pattern_min_len(pattern: &str) -> Result<usize, PatternError> {
    if pattern.is_empty() || pattern.len() > MAX_PATTERN_LEN {
        return Err(PatternError::new(
            "pattern",
            format!("must be 1 to {MAX_PATTERN_LEN} characters"),
        ));
    }
    let Some(body) = pattern.strip_prefix('_') else {
        return match pattern.chars().find(|c| !is_dial_char(*c)) {
            None => Ok(pattern.len()),
            Some(c) => Err(PatternError::new(
                "pattern",
                format!(
                    "'{}' is not allowed in a number; a pattern starts with '_'",
                    c.escape_debug()
                ),
            )),
        };
    };
    if body.is_empty() {
        return Err(PatternError::new(
            "pattern",
            "'_' must be followed by the pattern",
        ));
    }
    let mut len = 0;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if is_dial_char(c) => len += 1,
            'X' | 'x' | 'Z' | 'z' | 'N' | 'n' => len += 1,
            '.' | '!' => {
                if chars.peek().is_some() {
                    return Err(PatternError::new(
                        "pattern",
                        format!("'{c}' may only end the pattern"),
                    ));
                }
                if c == '.' {
                    len += 1;
                }
            }
            '[' => {
                let rest = &body[i + 1..];
                let Some(close) = rest.find(']') else {
                    return Err(PatternError::new("pattern", "'[' without ']'"));
                };
                check_class(&rest[..close])?;
                for _ in 0..=close {
                    chars.next();
                }
                len += 1;
            }
            other => {
                return Err(PatternError::new(
                    "pattern",
                    format!(
                        "'{}' is not pattern syntax (digits, * # +, X Z N, [..], . or !)",
                        other.escape_debug()
                    ),
                ));
            }
        }
    }
    Ok(len)
}

/// A `[...]` character class: digits, `*`, `#`, `+` and ascending digit ranges `a-b`.
fn check_class(class: &str) -> Result<(), PatternError> {
    let chars: Vec<char> = class.chars().collect();
    if chars.is_empty() {
        return Err(PatternError::new("pattern", "'[]' is empty"));
    }
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !is_dial_char(c) {
            return Err(PatternError::new(
                "pattern",
                format!("'{}' is not allowed inside [..]", c.escape_debug()),
            ));
        }
        if chars.get(i + 1) == Some(&'-') {
            let Some(&end) = chars.get(i + 2) else {
                return Err(PatternError::new(
                    "pattern",
                    "range without an end inside [..]",
                ));
            };
            if !(c.is_ascii_digit() && end.is_ascii_digit() && c <= end) {
                return Err(PatternError::new(
                    "pattern",
                    format!("'{c}-{end}' is not an ascending digit range"),
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Checks an outbound route's dial pattern: a number (digits, `*`, `#`, `+`) or `_`
/// followed by digits, `*` `#` `+`, `X` (0-9), `Z` (1-9), `N` (2-9), classes like
/// `[1-5]` or `[268]`, and at the end `.` (one or more more) or `!` (zero or more).
pub fn check_pattern(pattern: &str) -> Result<(), PatternError> {
    pattern_min_len(pattern).map(|_| ())
}

/// Checks a route's strip and prepend against its pattern.
pub fn check_strip_prepend(pattern: &str, strip: u32, prepend: &str) -> Result<(), PatternError> {
    let min_len = pattern_min_len(pattern)?;
    if strip as usize > min_len {
        return Err(PatternError::new(
            "strip",
            format!("strip {strip} removes more digits than the shortest match has ({min_len})"),
        ));
    }
    if prepend.len() > MAX_PREPEND_LEN || !prepend.chars().all(is_dial_char) {
        return Err(PatternError::new(
            "prepend",
            format!("prepend must be at most {MAX_PREPEND_LEN} of digits, '*', '#' and '+'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_asterisk_patterns() {
        for (pattern, min) in [
            ("_1NXXNXXXXXX", 11),
            ("_NXXNXXXXXX", 10),
            ("_011.", 4),
            ("_9!", 1),
            ("_[2-9]XX", 3),
            ("_[268]X.", 3),
            ("911", 3),
            ("+15551234567", 12),
            ("_*72X.", 5),
            ("_zxn", 3),
        ] {
            assert_eq!(pattern_min_len(pattern).unwrap(), min, "{pattern}");
        }
    }

    #[test]
    fn refuses_what_is_not_pattern_syntax() {
        for pattern in [
            "",
            "_",
            "_1.X",
            "_[2-9",
            "_[]",
            "_[9-2]",
            "_[a-c]",
            "_1,2",
            "_1;x",
            "1X",
            "_X\nexten",
            "_X)",
            "_${X}",
            "_1-2",
            "__1",
        ] {
            assert!(check_pattern(pattern).is_err(), "{pattern:?}");
        }
    }

    #[test]
    fn strip_and_prepend_are_checked() {
        assert!(check_strip_prepend("_1NXXNXXXXXX", 1, "+1").is_ok());
        assert_eq!(
            check_strip_prepend("_9X", 3, "").map_err(|e| e.field),
            Err("strip")
        );
        assert_eq!(
            check_strip_prepend("_9X", 0, "1,2").map_err(|e| e.field),
            Err("prepend")
        );
        assert!(check_strip_prepend("_9X", 0, "12)").is_err());
    }
}
