//! The one error type of the renderer.

use std::path::PathBuf;

use thiserror::Error;

use super::managed::Malformed;
use crate::model::FieldErrors;

/// Why rendering, editing or writing a config file failed. Nothing is written when any
/// of these is returned.
#[derive(Debug, Error)]
pub enum RenderError {
    /// A section name that could open something other than one section.
    #[error("{object}: section name '{}' is not a plain identifier", name.escape_debug())]
    UnsafeSectionName { object: String, name: String },
    /// A value that could open a new line, section or comment (the last line of defence).
    #[error("{object}: refusing to write {option}: value {reason}")]
    UnsafeValue {
        object: String,
        option: String,
        reason: String,
    },
    /// An option Asterisk 22 does not know for this section type (it would drop the object).
    #[error("{object}: '{option}' is not a PJSIP {section_type} option")]
    UnknownOption {
        object: String,
        section_type: String,
        option: String,
    },
    /// A field whose value is wrong for where it goes (e.g. a host with a ':' in it).
    #[error("{object}: {field} {reason}")]
    InvalidField {
        object: String,
        field: String,
        reason: String,
    },
    /// Fields the API would have refused (the object was stored by other means).
    #[error("{object}: {errors}")]
    InvalidFields { object: String, errors: FieldErrors },
    /// A field the object's template requires is empty.
    #[error("{object}: {field} is required")]
    MissingField { object: String, field: String },
    #[error("extension {extension}: unknown extension template '{template}'")]
    UnknownExtensionTemplate { extension: String, template: String },
    #[error("trunk {trunk}: unknown provider template '{provider}'")]
    UnknownProvider { trunk: String, provider: String },
    /// A route pointing at an extension or trunk that does not exist.
    #[error("{object}: {missing} does not exist")]
    MissingReference { object: String, missing: String },
    /// Two objects that would produce the same section or block.
    #[error("{what} '{name}' is defined twice")]
    Duplicate { what: &'static str, name: String },
    #[error("dial pattern '{}' is invalid: {reason}", pattern.escape_debug())]
    InvalidDialPattern { pattern: String, reason: String },
    /// A rendered block that does not have the shape the renderer promises (a bug or a
    /// value that slipped past the checks; never written).
    #[error("{object}: rendered line {line} is unexpected: {reason}")]
    UnexpectedOutput {
        object: String,
        line: usize,
        reason: String,
    },
    #[error("{object}: template failed to render: {source}")]
    Template {
        object: String,
        source: askama::Error,
    },
    /// A managed block the editor was asked to write but cannot represent.
    #[error("managed block '{}': {reason}", id.escape_debug())]
    InvalidBlock { id: String, reason: String },
    /// The file's managed markers are broken; the file is left as it is.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

impl RenderError {
    pub(crate) fn invalid_fields(object: &str, errors: FieldErrors) -> Self {
        RenderError::InvalidFields {
            object: object.to_owned(),
            errors,
        }
    }

    pub(crate) fn io(path: &std::path::Path, action: &'static str, source: std::io::Error) -> Self {
        RenderError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}
