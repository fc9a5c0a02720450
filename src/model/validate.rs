//! Field-level validation results, shared by every input type.

use serde::Serialize;
use utoipa::ToSchema;

use super::safe::check_config_value;

/// One invalid field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The JSON field, e.g. `name` or `codecs[1]`.
    pub field: String,
    pub message: String,
}

/// Every invalid field of one input, collected so the caller sees them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One error on one field.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.push(field, message);
        errors
    }

    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was pushed.
    pub fn finish(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Checks a free-text value that will be written into a config file.
    pub fn text(&mut self, field: &str, value: &str, max_len: usize) {
        if value.chars().count() > max_len {
            self.push(field, format!("must be at most {max_len} characters"));
        } else if let Err(e) = check_config_value(value) {
            self.push(field, e.to_string());
        }
    }

    /// Checks an identifier (context, trunk name, template id).
    pub fn identifier(&mut self, field: &str, value: &str, max_len: usize) {
        if !super::safe::is_plain_identifier(value, max_len) {
            self.push(
                field,
                format!(
                    "must be 1 to {max_len} characters of letters, digits, '_', '-', '.' or '+'"
                ),
            );
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// Codec names Asterisk 22 knows (`core show codecs`), as accepted in `allow=`.
pub const KNOWN_CODECS: &[&str] = &[
    "ulaw", "alaw", "gsm", "g722", "g723", "g726", "g726aal2", "g729", "ilbc", "speex", "speex16",
    "speex32", "opus", "silk8", "silk12", "silk16", "silk24", "slin", "slin12", "slin16", "slin24",
    "slin32", "slin44", "slin48", "slin96", "slin192", "lpc10", "adpcm", "siren7", "siren14",
    "codec2", "testlaw", "h261", "h263", "h263p", "h264", "h265", "vp8", "vp9", "mpeg4", "t140",
    "t140red", "jpeg", "png",
];

/// Checks a codec list: non-empty, known names, no duplicates.
pub fn check_codecs(errors: &mut FieldErrors, field: &str, codecs: &[String]) {
    if codecs.is_empty() {
        errors.push(field, "must name at least one codec");
    }
    for (i, codec) in codecs.iter().enumerate() {
        if !KNOWN_CODECS.contains(&codec.as_str()) {
            errors.push(
                format!("{field}[{i}]"),
                format!("unknown codec '{}'", codec.escape_debug()),
            );
        } else if codecs[..i].contains(codec) {
            errors.push(
                format!("{field}[{i}]"),
                format!("codec '{codec}' is listed twice"),
            );
        }
    }
}

/// Deserialises a PATCH field so that "absent" (`None`) and `null` (`Some(None)`) differ.
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}
