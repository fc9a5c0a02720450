//! Per-object option overrides: PJSIP options an administrator sets on one
//! extension or trunk beyond its template (`{"endpoint": {"direct_media": "no"},
//! "aor": {"max_contacts": 3}}`). They are rendered after the template's
//! options, replacing a line of the same name. Every option must exist in its
//! section, carry a value Asterisk takes, and not be one rayan writes from the
//! object's own fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::pjsip::check_option;
use super::safe::check_config_value;
use super::validate::FieldErrors;

/// The most options one section may override.
pub const MAX_OPTIONS_PER_SECTION: usize = 64;

/// Section type → option → value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[schema(value_type = Object, example = json!({"endpoint": {"direct_media": "no"}, "aor": {"max_contacts": "3"}}))]
pub struct ObjectOptions(pub BTreeMap<String, BTreeMap<String, String>>);

/// A JSON scalar as the text Asterisk reads: `3` and `"3"` alike, `true` as `yes`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

impl<'de> Deserialize<'de> for ObjectOptions {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let raw: BTreeMap<String, BTreeMap<String, Scalar>> = Deserialize::deserialize(de)?;
        Ok(ObjectOptions(
            raw.into_iter()
                .map(|(section, options)| {
                    let options = options
                        .into_iter()
                        .map(|(option, value)| {
                            let text = match value {
                                Scalar::Text(text) => text,
                                Scalar::Number(n) => n.to_string(),
                                Scalar::Bool(true) => "yes".into(),
                                Scalar::Bool(false) => "no".into(),
                            };
                            (option, text)
                        })
                        .collect();
                    (section, options)
                })
                .collect(),
        ))
    }
}

/// Which sections a kind of object renders, and per section the options rayan
/// writes from the object's own fields (with the field to use instead).
pub type OwnedOptions = &'static [(&'static str, &'static [(&'static str, &'static str)])];

/// An extension's sections and what its fields already write.
pub const EXTENSION_SECTIONS: OwnedOptions = &[
    (
        "endpoint",
        &[
            ("type", "the section type"),
            ("auth", "the extension's own auth"),
            ("aors", "the extension's own aor"),
            ("context", "context"),
            ("allow", "codecs"),
            ("disallow", "codecs"),
            ("callerid", "caller_id"),
            ("transport", "transport"),
        ],
    ),
    (
        "auth",
        &[
            ("type", "the section type"),
            ("auth_type", "password"),
            ("username", "the extension number"),
            ("password", "password"),
            ("md5_cred", "password"),
            ("realm", "the realm setting"),
        ],
    ),
    (
        "aor",
        &[
            ("type", "the section type"),
            ("max_contacts", "max_contacts"),
        ],
    ),
];

/// A trunk's sections and what its fields already write.
pub const TRUNK_SECTIONS: OwnedOptions = &[
    (
        "endpoint",
        &[
            ("type", "the section type"),
            ("aors", "the trunk's own aor"),
            ("auth", "the trunk's own auth"),
            ("outbound_auth", "the trunk's own auth"),
            ("context", "context"),
            ("transport", "transport"),
            ("allow", "codecs"),
            ("disallow", "codecs"),
        ],
    ),
    ("aor", &[("type", "the section type")]),
    (
        "auth",
        &[
            ("type", "the section type"),
            ("auth_type", "password"),
            ("username", "username"),
            ("password", "password"),
            ("md5_cred", "password"),
        ],
    ),
    (
        "registration",
        &[
            ("type", "the section type"),
            ("outbound_auth", "the trunk's own auth"),
            ("endpoint", "the trunk's own endpoint"),
            ("transport", "transport"),
        ],
    ),
    (
        "identify",
        &[
            ("type", "the section type"),
            ("endpoint", "the trunk's own endpoint"),
            ("match", "match_addresses"),
        ],
    ),
];

impl ObjectOptions {
    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }

    /// The overrides of one section type, if any.
    pub fn section(&self, section_type: &str) -> Option<&BTreeMap<String, String>> {
        self.0.get(section_type).filter(|o| !o.is_empty())
    }

    /// Pushes an error per bad entry, at `field.section.option`.
    pub fn check(&self, errors: &mut FieldErrors, field: &str, sections: OwnedOptions) {
        for (section, options) in &self.0 {
            let Some((_, owned)) = sections.iter().find(|(s, _)| s == section) else {
                let known: Vec<&str> = sections.iter().map(|(s, _)| *s).collect();
                errors.push(
                    format!("{field}.{}", section.escape_debug()),
                    format!("not a section of this object (one of {})", known.join(", ")),
                );
                continue;
            };
            if options.len() > MAX_OPTIONS_PER_SECTION {
                errors.push(
                    format!("{field}.{section}"),
                    format!("at most {MAX_OPTIONS_PER_SECTION} options"),
                );
                continue;
            }
            for (option, value) in options {
                let at = || format!("{field}.{section}.{}", option.escape_debug());
                if let Some((_, instead)) = owned.iter().find(|(o, _)| o == option) {
                    errors.push(at(), format!("is written by rayan from {instead}"));
                } else if let Err(e) = check_config_value(value) {
                    errors.push(at(), format!("value {e}"));
                } else if let Err(e) = check_option(section, option, value) {
                    errors.push(at(), e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn errors_of(json: serde_json::Value) -> Vec<String> {
        let options: ObjectOptions = serde_json::from_value(json).expect("parses");
        let mut errors = FieldErrors::new();
        options.check(&mut errors, "options", EXTENSION_SECTIONS);
        errors.0.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn good_overrides_pass_and_scalars_become_text() {
        let json = serde_json::json!({"endpoint": {"direct_media": false, "dtmf_mode": "info"}, "aor": {"qualify_frequency": 60}});
        let options: ObjectOptions = serde_json::from_value(json).expect("parses");
        assert_eq!(options.0["endpoint"]["direct_media"], "no");
        assert_eq!(options.0["aor"]["qualify_frequency"], "60");
        let mut errors = FieldErrors::new();
        options.check(&mut errors, "options", EXTENSION_SECTIONS);
        assert!(errors.0.is_empty(), "{errors}");
    }

    #[test]
    fn each_problem_is_named_by_its_field() {
        let fields = errors_of(serde_json::json!({
            "endpoint": {"dtmf_mode": "bogus_mode", "aors": "x", "no_such": "1", "from_user": "a\nb"},
            "registration": {"expiration": 60},
            "aor": {"max_contacts": 3},
        }));
        for expected in [
            "options.endpoint.dtmf_mode",
            "options.endpoint.aors",
            "options.endpoint.no_such",
            "options.endpoint.from_user",
            "options.registration",
            "options.aor.max_contacts",
        ] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} in {fields:?}"
            );
        }
    }

    proptest! {
        /// Nothing that could start a line, section or option passes.
        #[test]
        fn hostile_values_never_pass(value in "\\PC{0,20}[\\n\\r;\\[\\]]\\PC{0,20}") {
            let options = ObjectOptions(BTreeMap::from([(
                "endpoint".to_owned(),
                BTreeMap::from([("from_user".to_owned(), value)]),
            )]));
            let mut errors = FieldErrors::new();
            options.check(&mut errors, "options", EXTENSION_SECTIONS);
            prop_assert!(!errors.0.is_empty());
        }
    }
}
