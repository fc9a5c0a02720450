//! Section text with a last line of defence.
//!
//! Every value the renderer writes passes [`check_value`] (the shared
//! [`check_config_value`] rule the API validators use too), and every section name
//! [`check_name`]. Rendered pjsip text is then read
//! back by [`verify_pjsip`], which accepts only `[name]` headers, a `type=` first, and
//! `option=value` lines whose option Asterisk documents for that type. A caller that skipped
//! validation gets an error naming the object and the option, never a file with an extra
//! line, section or comment.

use std::borrow::Cow;
use std::fmt;

use super::RenderError;
use crate::model::options::ObjectOptions;
use crate::model::pjsip::{check_option, is_valid_option, options_for};
use crate::model::safe::{check_config_value, is_plain_identifier};

/// Longest section name written (trunk names plus `-identify`).
pub const MAX_SECTION_NAME: usize = 100;

/// A value or name that passed the checks; only this type reaches the templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked<'a>(Cow<'a, str>);

impl Checked<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Checked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// [`check_config_value`], except that `bind=` may hold an IPv6 socket address
/// in brackets (`[::]:5060`): the only brackets Asterisk needs in a value, safe
/// because the whole value parses as an address and the line starts with `bind=`.
fn check_option_value(option: &str, value: &str) -> Result<(), crate::model::safe::UnsafeValue> {
    if option == "bind" && value.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    check_config_value(value)
}

/// Checks a value for `option` of `object`.
pub fn check_value<'a>(
    object: &str,
    option: &str,
    value: impl Into<Cow<'a, str>>,
) -> Result<Checked<'a>, RenderError> {
    let value = value.into();
    match check_option_value(option, &value) {
        Err(problem) => Err(RenderError::UnsafeValue {
            object: object.to_owned(),
            option: option.to_owned(),
            reason: problem.to_string(),
        }),
        Ok(()) => Ok(Checked(value)),
    }
}

/// Checks a section (or context) name of `object`.
pub fn check_name<'a>(object: &str, name: &'a str) -> Result<Checked<'a>, RenderError> {
    if is_plain_identifier(name, MAX_SECTION_NAME) {
        Ok(Checked(Cow::Borrowed(name)))
    } else {
        Err(RenderError::UnsafeSectionName {
            object: object.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// Appends one pjsip section to `out`, checking the name, every option name against the
/// option table and every value.
pub fn write_section(
    out: &mut String,
    object: &str,
    name: &str,
    section_type: &str,
    options: &[(&str, &str)],
) -> Result<(), RenderError> {
    let name = check_name(object, name)?;
    if options_for(section_type).is_none() {
        return Err(RenderError::UnknownOption {
            object: object.to_owned(),
            section_type: section_type.to_owned(),
            option: "type".to_owned(),
        });
    }
    let start = out.len();
    out.push('[');
    out.push_str(name.as_str());
    out.push_str("]\ntype=");
    out.push_str(section_type);
    out.push('\n');
    for (option, value) in options {
        let problem = if *option == "type" || !is_valid_option(section_type, option) {
            Some(RenderError::UnknownOption {
                object: object.to_owned(),
                section_type: section_type.to_owned(),
                option: (*option).to_owned(),
            })
        } else {
            check_value(object, option, *value).err()
        };
        if let Some(error) = problem {
            out.truncate(start);
            return Err(error);
        }
        out.push_str(option);
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    Ok(())
}

/// Puts an object's option overrides into its rendered sections: an option the
/// section already has takes the override's value in place; the others are added
/// at the end of the first section of their type. The values were checked with the
/// object (`ObjectOptions::check`), and the caller reads the result back with
/// [`verify_pjsip`].
pub fn apply_overrides(body: &str, options: &ObjectOptions) -> String {
    if options.is_empty() {
        return body.to_owned();
    }
    let mut out = String::with_capacity(body.len() + 64);
    let mut overrides: Option<&std::collections::BTreeMap<String, String>> = None;
    let mut written: Vec<&str> = Vec::new();
    let mut done_types: Vec<String> = Vec::new();
    let flush = |out: &mut String,
                 overrides: Option<&std::collections::BTreeMap<String, String>>,
                 written: &mut Vec<&str>| {
        if let Some(overrides) = overrides {
            for (option, value) in overrides {
                if !written.contains(&option.as_str()) {
                    out.push_str(option);
                    out.push('=');
                    out.push_str(value);
                    out.push('\n');
                }
            }
        }
        written.clear();
    };
    for line in body.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if text.starts_with('[') {
            flush(&mut out, overrides.take(), &mut written);
            out.push_str(line);
            continue;
        }
        match text.split_once('=') {
            Some(("type", section_type)) => {
                if !done_types.iter().any(|t| t == section_type) {
                    overrides = options.section(section_type);
                    done_types.push(section_type.to_owned());
                }
                out.push_str(line);
            }
            Some((option, _)) => match overrides.and_then(|o| o.get_key_value(option)) {
                Some((name, value)) => {
                    out.push_str(option);
                    out.push('=');
                    out.push_str(value);
                    out.push('\n');
                    written.push(name.as_str());
                }
                None => out.push_str(line),
            },
            None => out.push_str(line),
        }
    }
    if !out.ends_with('\n') && !out.is_empty() {
        out.push('\n');
    }
    flush(&mut out, overrides, &mut written);
    out
}

/// Reads rendered pjsip text back and refuses anything but `[name]` headers with plain
/// names, `type=<known type>` as each section's first line, and `option=value` lines with
/// a documented option and a safe value of the option's type. Returns the number of sections.
pub fn verify_pjsip(object: &str, text: &str) -> Result<usize, RenderError> {
    let unexpected = |line: usize, reason: String| RenderError::UnexpectedOutput {
        object: object.to_owned(),
        line,
        reason,
    };
    let mut section_type: Option<&str> = None;
    let mut awaiting_type = false;
    let mut sections = 0;
    for (index, line) in text.split('\n').enumerate() {
        let number = index + 1;
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(unexpected(number, "unterminated section header".into()));
            };
            if !is_plain_identifier(name, MAX_SECTION_NAME) {
                return Err(unexpected(
                    number,
                    format!("section name '{}'", name.escape_debug()),
                ));
            }
            if awaiting_type {
                return Err(unexpected(number, "previous section has no type".into()));
            }
            awaiting_type = true;
            sections += 1;
            continue;
        }
        let Some((option, value)) = line.split_once('=') else {
            return Err(unexpected(
                number,
                format!("not an option line: '{}'", line.escape_debug()),
            ));
        };
        if let Err(problem) = check_option_value(option, value) {
            return Err(unexpected(number, format!("{option}: value {problem}")));
        }
        if awaiting_type {
            if option != "type" || options_for(value).is_none() {
                return Err(unexpected(
                    number,
                    "a section must start with a known type=".into(),
                ));
            }
            section_type = Some(value);
            awaiting_type = false;
            continue;
        }
        match section_type {
            Some(t) if option != "type" && is_valid_option(t, option) => {
                // A value Asterisk would refuse drops the whole object on reload.
                if let Err(problem) = check_option(t, option, value) {
                    return Err(unexpected(number, format!("{option}: value {problem}")));
                }
            }
            Some(t) => {
                return Err(unexpected(
                    number,
                    format!("'{option}' is not a {t} option"),
                ));
            }
            None => return Err(unexpected(number, "option outside a section".into())),
        }
    }
    if awaiting_type {
        return Err(unexpected(
            text.split('\n').count(),
            "last section has no type".into(),
        ));
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_in_place_and_append_to_their_section() {
        let body = "[1001]\ntype=endpoint\ndirect_media=no\nallow=ulaw\n[1001]\ntype=aor\nmax_contacts=1\n";
        let options: ObjectOptions = serde_json::from_value(serde_json::json!({
            "endpoint": {"direct_media": "yes", "dtmf_mode": "info"},
            "aor": {"qualify_frequency": 30},
        }))
        .expect("options");
        assert_eq!(
            apply_overrides(body, &options),
            "[1001]\ntype=endpoint\ndirect_media=yes\nallow=ulaw\ndtmf_mode=info\n[1001]\ntype=aor\nmax_contacts=1\nqualify_frequency=30\n"
        );
        assert_eq!(apply_overrides(body, &ObjectOptions::default()), body);
    }

    #[test]
    fn writes_a_checked_section() {
        let mut out = String::new();
        write_section(
            &mut out,
            "trunk t",
            "t-aor",
            "aor",
            &[("contact", "sip:sip.example.com:5060")],
        )
        .unwrap();
        assert_eq!(out, "[t-aor]\ntype=aor\ncontact=sip:sip.example.com:5060\n");
        assert_eq!(verify_pjsip("t", &out).unwrap(), 1);
    }

    #[test]
    fn refuses_and_leaves_nothing_behind() {
        let mut out = String::from("keep\n");
        let err = write_section(
            &mut out,
            "trunk t",
            "t",
            "endpoint",
            &[("context", "a\n[evil]")],
        )
        .unwrap_err();
        assert!(
            matches!(&err, RenderError::UnsafeValue { option, .. } if option == "context"),
            "{err}"
        );
        assert_eq!(out, "keep\n");
        let err = write_section(
            &mut out,
            "trunk t",
            "t",
            "endpoint",
            &[("no_such_option", "1")],
        )
        .unwrap_err();
        assert!(matches!(err, RenderError::UnknownOption { .. }));
        let err = write_section(&mut out, "trunk t", "t]\n[x", "endpoint", &[]).unwrap_err();
        assert!(matches!(err, RenderError::UnsafeSectionName { .. }));
        assert!(
            write_section(&mut out, "trunk t", "t", "endpoint", &[("callerid", ">x")]).is_err()
        );
        assert!(write_section(&mut out, "trunk t", "t", "endpoint", &[("type", "aor")]).is_err());
        assert_eq!(out, "keep\n");
    }

    #[test]
    fn verification_refuses_foreign_lines() {
        for bad in [
            "[a]\ntype=endpoint\n; comment\n",
            "[a]\ntype=endpoint\n#include x\n",
            "[a]\ncontext=x\n",
            "[a]\ntype=nope\n",
            "[a]\ntype=aor\ncontext=x\n",
            "[a\ntype=aor\n",
            "type=aor\n",
            "[a]\n",
            "[a]\ntype=endpoint\ncontext=x;y\n",
        ] {
            assert!(verify_pjsip("t", bad).is_err(), "{bad:?}");
        }
    }
}
