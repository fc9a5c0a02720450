//! Extensions: a phone's endpoint, its credentials and where its calls go.

use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::options::{EXTENSION_SECTIONS, ObjectOptions};
use super::validate::{FieldErrors, check_codecs, double_option};

/// Default dialplan context for new extensions.
pub const DEFAULT_CONTEXT: &str = "from-internal";
/// Default extension template.
pub const DEFAULT_TEMPLATE: &str = "basic";
/// Realm used for the digest credentials rayan stores and renders.
pub const DEFAULT_REALM: &str = "asterisk";

/// Which extension numbers are accepted: ASCII digits, `min_len..=max_len` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberPolicy {
    pub min_len: usize,
    pub max_len: usize,
}

impl Default for NumberPolicy {
    fn default() -> Self {
        Self {
            min_len: 2,
            max_len: 10,
        }
    }
}

impl NumberPolicy {
    pub fn check(&self, errors: &mut FieldErrors, field: &str, number: &str) {
        let len = number.len();
        if !number.bytes().all(|b| b.is_ascii_digit()) || len < self.min_len || len > self.max_len {
            errors.push(
                field,
                format!("must be {} to {} digits", self.min_len, self.max_len),
            );
        }
    }
}

/// The credentials Asterisk needs to challenge the phone. rayan keeps the
/// `md5_cred` digest (`md5(number:realm:password)`), which PJSIP can use with
/// `auth_type=md5`, and never the password itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionAuth {
    pub realm: String,
    pub md5_cred: String,
}

impl ExtensionAuth {
    pub fn from_password(number: &str, realm: &str, password: &str) -> Self {
        let digest = Md5::digest(format!("{number}:{realm}:{password}").as_bytes());
        Self {
            realm: realm.to_owned(),
            md5_cred: hex::encode(digest),
        }
    }
}

/// An extension as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub id: i64,
    pub number: String,
    pub name: Option<String>,
    pub template: String,
    pub context: String,
    /// `None`: the template's default codecs.
    pub codecs: Option<Vec<String>>,
    /// `None`: the template's default.
    pub max_contacts: Option<u32>,
    pub caller_id: Option<String>,
    pub enabled: bool,
    pub auth: ExtensionAuth,
    /// PJSIP options beyond the template's, rendered after them.
    pub options: ObjectOptions,
    /// The transport its endpoint names; `None`: the default for its template
    /// (`asterisk.udp_transport` or `asterisk.wss_transport`).
    pub transport: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/extensions`. Only `extension` is required.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExtension {
    /// The extension number, digits only.
    #[schema(example = "1001")]
    pub extension: String,
    #[schema(example = "Alice")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Without one, a strong password is generated and returned once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[schema(example = "basic")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[schema(example = "from-internal")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[schema(example = json!(["ulaw", "alaw"]))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_contacts: Option<u32>,
    #[schema(example = "\"Alice\" <1001>")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// PJSIP options beyond the template's, per section (`endpoint`, `auth`, `aor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<ObjectOptions>,
    /// A transport by name; absent: the default for its template.
    #[schema(example = "transport-tls")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

/// `PATCH /api/v1/extensions/{number}`: only the fields sent change; `null` clears
/// an optional field.
#[derive(Debug, PartialEq, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codecs: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_contacts: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Replaces every override; `null` or `{}` removes them.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Option<ObjectOptions>>,
    /// `null` goes back to the template's default transport.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Option<String>>,
}

pub const MAX_CONTACTS_LIMIT: u32 = 100;

/// The columns of an extension CSV (export and import), in order. `codecs` is
/// comma-separated inside its field, `options` is JSON, `password` is only ever
/// read (an export never has one).
pub const CSV_COLUMNS: &[&str] = &[
    "extension",
    "name",
    "template",
    "context",
    "codecs",
    "max_contacts",
    "caller_id",
    "enabled",
    "options",
    "transport",
    "password",
];

/// The fields a new extension, a patch and a stored extension share, borrowed
/// for validation.
struct CommonFields<'a> {
    name: Option<&'a str>,
    template: Option<&'a str>,
    context: Option<&'a str>,
    codecs: Option<&'a [String]>,
    max_contacts: Option<u32>,
    caller_id: Option<&'a str>,
    transport: Option<&'a str>,
}

fn check_common(errors: &mut FieldErrors, f: CommonFields<'_>) {
    let CommonFields {
        name,
        template,
        context,
        codecs,
        max_contacts,
        caller_id,
        transport,
    } = f;
    if let Some(transport) = transport {
        errors.identifier("transport", transport, super::transport::MAX_TRANSPORT_NAME);
    }
    if let Some(name) = name {
        check_display_name(errors, "name", name);
    }
    if let Some(template) = template {
        errors.identifier("template", template, 40);
    }
    if let Some(context) = context {
        errors.identifier("context", context, 79);
    }
    if let Some(codecs) = codecs {
        check_codecs(errors, "codecs", codecs);
    }
    if let Some(n) = max_contacts {
        if n == 0 || n > MAX_CONTACTS_LIMIT {
            errors.push("max_contacts", format!("must be 1 to {MAX_CONTACTS_LIMIT}"));
        }
    }
    if let Some(caller_id) = caller_id {
        errors.text("caller_id", caller_id, MAX_CALLER_ID_LEN);
    }
}

pub const MAX_NAME_LEN: usize = 80;
pub const MAX_CALLER_ID_LEN: usize = 120;

/// A name becomes the caller ID `"name" <number>`: besides the config-value rule it
/// must not carry the quote and angle brackets that delimit it.
pub fn check_display_name(errors: &mut FieldErrors, field: &str, name: &str) {
    let before = errors.0.len();
    errors.text(field, name, MAX_NAME_LEN);
    if errors.0.len() == before && name.contains(['"', '<', '>']) {
        errors.push(
            field,
            "must not contain '\"', '<' or '>' (they delimit the caller ID)",
        );
    }
}

impl Extension {
    /// The same field rules the API applies, for a stored extension (which may have
    /// been written by an older version or by hand): the renderer refuses exactly what
    /// the API would have refused. The number is checked as digits only, since the
    /// number policy may have changed since it was created.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if self.number.is_empty()
            || self.number.len() > 20
            || !self.number.bytes().all(|b| b.is_ascii_digit())
        {
            errors.push("extension", "must be 1 to 20 digits");
        }
        check_common(
            &mut errors,
            CommonFields {
                name: self.name.as_deref(),
                template: Some(&self.template),
                context: Some(&self.context),
                codecs: self.codecs.as_deref(),
                max_contacts: self.max_contacts,
                caller_id: self.caller_id.as_deref(),
                transport: self.transport.as_deref(),
            },
        );
        self.options
            .check(&mut errors, "options", EXTENSION_SECTIONS);
        errors.text("realm", &self.auth.realm, 80);
        let md5 = &self.auth.md5_cred;
        if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            errors.push("md5_cred", "must be 32 hexadecimal digits");
        }
        errors.finish()
    }
}

impl NewExtension {
    pub fn validate(&self, policy: &NumberPolicy) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        policy.check(&mut errors, "extension", &self.extension);
        if let Some(password) = &self.password {
            check_password(&mut errors, "password", password, &self.extension);
        }
        check_common(
            &mut errors,
            CommonFields {
                name: self.name.as_deref(),
                template: self.template.as_deref(),
                context: self.context.as_deref(),
                codecs: self.codecs.as_deref(),
                max_contacts: self.max_contacts,
                caller_id: self.caller_id.as_deref(),
                transport: self.transport.as_deref(),
            },
        );
        if let Some(options) = &self.options {
            options.check(&mut errors, "options", EXTENSION_SECTIONS);
        }
        errors.finish()
    }
}

impl ExtensionPatch {
    pub fn validate(&self, number: &str) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        if let Some(password) = &self.password {
            check_password(&mut errors, "password", password, number);
        }
        check_common(
            &mut errors,
            CommonFields {
                name: self.name.as_ref().and_then(|n| n.as_deref()),
                template: self.template.as_deref(),
                context: self.context.as_deref(),
                codecs: self.codecs.as_ref().and_then(|c| c.as_deref()),
                max_contacts: self.max_contacts.flatten(),
                caller_id: self.caller_id.as_ref().and_then(|c| c.as_deref()),
                transport: self.transport.as_ref().and_then(|t| t.as_deref()),
            },
        );
        if let Some(Some(options)) = &self.options {
            options.check(&mut errors, "options", EXTENSION_SECTIONS);
        }
        errors.finish()
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.password.is_none()
            && self.template.is_none()
            && self.context.is_none()
            && self.codecs.is_none()
            && self.max_contacts.is_none()
            && self.caller_id.is_none()
            && self.enabled.is_none()
            && self.options.is_none()
            && self.transport.is_none()
    }
}

pub const MIN_PASSWORD_LEN: usize = 8;

/// A SIP password must resist online guessing: at least 8 characters from at least
/// three of lower case, upper case, digits and symbols, and not containing the
/// extension number. It is printable ASCII so that every phone can type it.
pub fn check_password(errors: &mut FieldErrors, field: &str, password: &str, number: &str) {
    if password.len() < MIN_PASSWORD_LEN || password.len() > 128 {
        errors.push(
            field,
            format!("must be {MIN_PASSWORD_LEN} to 128 characters"),
        );
        return;
    }
    if !password.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        errors.push(field, "must be printable ASCII without spaces");
        return;
    }
    let classes = [
        password.bytes().any(|b| b.is_ascii_lowercase()),
        password.bytes().any(|b| b.is_ascii_uppercase()),
        password.bytes().any(|b| b.is_ascii_digit()),
        password.bytes().any(|b| b.is_ascii_punctuation()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        errors.push(
            field,
            "is too weak: use at least three of lower case, upper case, digits and symbols",
        );
    } else if !number.is_empty() && password.contains(number) {
        errors.push(field, "must not contain the extension number");
    }
}

/// A strong random SIP password: 24 letters and digits (about 140 bits), always
/// with every class present, easy to type into a phone.
pub fn generate_password() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    let mut rng = rand::rng();
    loop {
        let all: Vec<u8> = [LOWER, UPPER, DIGIT].concat();
        let pw: String = (0..24)
            .map(|_| all[rng.random_range(0..all.len())] as char)
            .collect();
        let has = |set: &[u8]| pw.bytes().any(|b| set.contains(&b));
        if has(LOWER) && has(UPPER) && has(DIGIT) {
            return pw;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn md5_cred_matches_asterisk_formula() {
        // md5("1002:asterisk:pass1002"), as Asterisk computes it for auth_type=md5.
        let auth = ExtensionAuth::from_password("1002", "asterisk", "pass1002");
        let expect = hex::encode(Md5::digest(b"1002:asterisk:pass1002"));
        assert_eq!(auth.md5_cred, expect);
        assert_eq!(auth.md5_cred.len(), 32);
    }

    #[test]
    fn generated_passwords_pass_the_strength_rule() {
        for _ in 0..200 {
            let pw = generate_password();
            let mut errors = FieldErrors::new();
            check_password(&mut errors, "password", &pw, "1001");
            assert!(errors.is_empty(), "{pw}: {errors}");
        }
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in ["short1A", "alllowercase", "1001Abcdef!", "has space A1"] {
            let mut errors = FieldErrors::new();
            check_password(&mut errors, "password", weak, "1001");
            assert!(!errors.is_empty(), "{weak} was accepted");
        }
    }

    #[test]
    fn numbers_follow_the_policy() {
        let policy = NumberPolicy::default();
        for (n, ok) in [
            ("1001", true),
            ("10", true),
            ("1", false),
            ("12345678901", false),
            ("10a1", false),
            ("", false),
        ] {
            let mut errors = FieldErrors::new();
            policy.check(&mut errors, "extension", n);
            assert_eq!(errors.is_empty(), ok, "{n}");
        }
    }

    proptest! {
        /// No input accepted by the extension validator can carry anything that
        /// would break out of a `key=value` line.
        #[test]
        fn hostile_strings_never_validate_into_a_file(
            s in prop_oneof![
                "\\PC{0,30}",
                "[a-z]{0,5}[\\n\\r\\x00;\\[\\]\\\\][a-z]{0,5}",
                "\\$\\{[A-Z]{1,8}\\}",
            ]
        ) {
            let input = NewExtension {
                extension: "1001".into(),
                name: Some(s.clone()),
                caller_id: Some(s.clone()),
                context: Some(s.clone()),
                ..Default::default()
            };
            if input.validate(&NumberPolicy::default()).is_ok() {
                for c in ['\n', '\r', '\0', ';', '[', ']', '\\'] {
                    prop_assert!(!s.contains(c));
                }
                let expansion = s.contains("${");
                prop_assert!(!expansion);
            }
        }

        #[test]
        fn hostile_numbers_are_refused(s in "\\PC{0,12}") {
            let input = NewExtension { extension: s.clone(), ..Default::default() };
            if input.validate(&NumberPolicy::default()).is_ok() {
                prop_assert!(s.bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }
}
