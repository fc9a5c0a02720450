//! What a single token in `dispatcher.list` or `address.list` may contain.
//!
//! Both of Kamailio's list parsers split on space, tab, CR and LF; the address
//! parser and the dispatcher URI also stop at `#`; dispatcher attributes are
//! `;`-separated `name=value` pairs that may be quoted. A token made only of the
//! characters below is read back exactly as written by every one of them.

use crate::model::FieldErrors;

/// Letters, digits and `. _ - : @ +`.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@' | '+')
}

/// Pushes an error unless `value` is 1 to `max_len` token characters.
pub(crate) fn check_token(errors: &mut FieldErrors, field: &str, value: &str, max_len: usize) {
    if value.is_empty() || value.len() > max_len || !value.chars().all(is_token_char) {
        errors.push(
            field,
            format!(
                "must be 1 to {max_len} characters of letters, digits, '.', '_', '-', ':', '@' or '+'"
            ),
        );
    }
}

/// `value` shown in an error message without letting it break the message.
pub(crate) fn quoted(value: &str) -> String {
    let shown: String = value.chars().take(80).collect();
    format!("'{}'", shown.escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_tokens_and_refuses_separators() {
        let mut errors = FieldErrors::new();
        check_token(&mut errors, "a", "gw-5999_a.b:c@d+e", 64);
        assert!(errors.is_empty());
        for bad in [
            "", "a b", "a\tb", "a#b", "a;b", "a=b", "a\"b", "a\nb", "ä", "a,b",
        ] {
            let mut errors = FieldErrors::new();
            check_token(&mut errors, "f", bad, 64);
            assert_eq!(errors.0.len(), 1, "{bad:?} was accepted");
            assert_eq!(errors.0[0].field, "f");
        }
        let mut errors = FieldErrors::new();
        check_token(&mut errors, "f", &"a".repeat(65), 64);
        assert!(!errors.is_empty());
    }
}
