//! Unified diffs of what a write would change, with secrets masked.

use similar::TextDiff;

/// Options whose values are secrets; the diff shows them as `********`.
const SECRET_OPTIONS: &[&str] = &[
    "password",
    "md5_cred",
    "oauth_secret",
    "refresh_token",
    "secret",
];
const MASK: &str = "********";

/// Masks the value of a `secret=value` line, keeping the diff's `+`/`-`/` ` marker.
fn mask_line(line: &str) -> Option<String> {
    let (marker, rest) = match line.as_bytes().first() {
        Some(b'+' | b'-' | b' ') if !line.starts_with("+++") && !line.starts_with("---") => {
            line.split_at(1)
        }
        _ => return None,
    };
    let (key, _) = rest.split_once('=')?;
    SECRET_OPTIONS
        .contains(&key.trim())
        .then(|| format!("{marker}{key}={MASK}"))
}

/// The unified diff (3 lines of context) from `old` to `new`, labelled with `label`;
/// empty when they are equal. Secret values are masked.
pub fn unified_diff(label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{label} (current)"),
            &format!("{label} (rendered)"),
        )
        .to_string();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (content, ending) = match line.strip_suffix('\n') {
            Some(c) => (c, "\n"),
            None => (line, ""),
        };
        let (content, cr) = match content.strip_suffix('\r') {
            Some(c) => (c, "\r"),
            None => (content, ""),
        };
        match mask_line(content) {
            Some(masked) => out.push_str(&masked),
            None => out.push_str(content),
        }
        out.push_str(cr);
        out.push_str(ending);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_keeps_the_rest() {
        let old = "[t-auth]\ntype=auth\npassword=old-secret\nusername=u\n";
        let new = "[t-auth]\ntype=auth\npassword=new-secret\nusername=v\n";
        let diff = unified_diff("pjsip.conf", old, new);
        assert!(
            !diff.contains("old-secret") && !diff.contains("new-secret"),
            "{diff}"
        );
        assert!(diff.contains("-password=********"), "{diff}");
        assert!(diff.contains("+password=********"), "{diff}");
        assert!(
            diff.contains("-username=u") && diff.contains("+username=v"),
            "{diff}"
        );
        assert!(diff.starts_with("--- pjsip.conf (current)"), "{diff}");
        assert_eq!(unified_diff("x", old, old), "");
    }
}
