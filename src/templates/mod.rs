//! Provider and extension templates, and the table of valid PJSIP options.
//!
//! Provider templates are data (`provider_templates/*.toml`): one file per SIP provider,
//! saying which trunk fields it needs and which options its sections carry. Extension
//! templates are built in (their section text lives in askama templates under
//! `templates/`); this module holds their catalogue. Every option name a template uses is
//! checked against `model::pjsip`, the option names and value types of Asterisk 22.

pub mod extension;
pub mod provider;

use std::path::PathBuf;

use thiserror::Error;

pub use crate::model::pjsip::is_valid_option;
pub use extension::{
    ExtensionTemplate, TemplateTransport, builtin_extension_templates, extension_template,
};
pub use provider::{
    AuthType, ProviderTemplate, TrunkField, builtin_provider_templates, find_provider, load_dir,
};

/// Why a provider template could not be loaded.
#[derive(Debug, Error)]
pub enum TemplateError {
    #[error("cannot read provider templates at {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("provider template {origin} is not valid TOML: {message}")]
    Parse { origin: String, message: String },
    #[error("provider template '{id}' ({origin}) is invalid: {}", problems.join("; "))]
    Invalid {
        id: String,
        origin: String,
        problems: Vec<String>,
    },
    #[error("provider template id '{id}' is defined twice ({first} and {second})")]
    Duplicate {
        id: String,
        first: String,
        second: String,
    },
}
