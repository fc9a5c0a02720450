//! An extension's endpoint, auth and aor sections, from its askama template.
//!
//! Disabled extensions are not rendered at all: without the sections Asterisk refuses the
//! phone's registration and has no endpoint to call, and the dialplan leaves the number
//! out too.

use askama::Template;

use super::section::{Checked, apply_overrides, check_name, check_value, verify_pjsip};
use super::{ManagedBlock, RenderError, RenderSettings};
use crate::model::FieldErrors;
use crate::model::validate::check_codecs;
use crate::model::{Extension, ObjectRef};
use crate::templates::{TemplateTransport, extension_template};

/// Everything a template prints, each value already checked.
struct ExtensionFields<'a> {
    number: Checked<'a>,
    context: Checked<'a>,
    codecs: Checked<'a>,
    transport: Option<Checked<'a>>,
    callerid: Option<Checked<'a>>,
    realm: Checked<'a>,
    md5_cred: Checked<'a>,
    max_contacts: u32,
}

#[derive(Template)]
#[template(path = "pjsip_extension_basic.conf", escape = "none")]
struct Basic<'a> {
    x: ExtensionFields<'a>,
}

#[derive(Template)]
#[template(path = "pjsip_extension_advanced.conf", escape = "none")]
struct Advanced<'a> {
    x: ExtensionFields<'a>,
}

#[derive(Template)]
#[template(path = "pjsip_extension_mobile.conf", escape = "none")]
struct Mobile<'a> {
    x: ExtensionFields<'a>,
}

#[derive(Template)]
#[template(path = "pjsip_extension_webrtc.conf", escape = "none")]
struct Webrtc<'a> {
    x: ExtensionFields<'a>,
}

/// Extension numbers as sections and dialplan entries: ASCII digits.
pub(crate) fn check_number(number: &str) -> Result<(), RenderError> {
    if number.is_empty() || number.len() > 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RenderError::InvalidField {
            object: format!("extension {number}"),
            field: "number".to_owned(),
            reason: "must be 1 to 20 digits".to_owned(),
        });
    }
    Ok(())
}

fn invalid(object: &str, field: &str, reason: impl Into<String>) -> RenderError {
    RenderError::InvalidField {
        object: object.to_owned(),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// `allow=` from a codec list, refusing unknown or repeated codecs.
pub(crate) fn codec_list(object: &str, codecs: &[String]) -> Result<String, RenderError> {
    let mut errors = FieldErrors::new();
    check_codecs(&mut errors, "codecs", codecs);
    if !errors.is_empty() {
        return Err(invalid(object, "codecs", errors.to_string()));
    }
    Ok(codecs.join(","))
}

fn callerid<'a>(
    object: &str,
    extension: &'a Extension,
) -> Result<Option<Checked<'a>>, RenderError> {
    if let Some(caller_id) = &extension.caller_id {
        return check_value(object, "callerid", caller_id.as_str()).map(Some);
    }
    let Some(name) = &extension.name else {
        return Ok(None);
    };
    check_value(
        object,
        "callerid",
        format!("\"{name}\" <{}>", extension.number),
    )
    .map(Some)
}

/// Renders the sections of one enabled extension; `Ok(None)` for a disabled one.
pub fn render_extension(
    extension: &Extension,
    settings: &RenderSettings,
) -> Result<Option<ManagedBlock>, RenderError> {
    if !extension.enabled {
        return Ok(None);
    }
    let object = format!("extension {}", extension.number);
    let object = object.as_str();
    extension
        .check()
        .map_err(|errors| RenderError::invalid_fields(object, errors))?;
    let template = extension_template(&extension.template).ok_or_else(|| {
        RenderError::UnknownExtensionTemplate {
            extension: extension.number.clone(),
            template: extension.template.clone(),
        }
    })?;
    // The number, codecs, max_contacts and md5_cred passed `Extension::check`; the
    // built-in templates' defaults are checked by their own tests.
    let codecs = extension
        .codecs
        .as_deref()
        .unwrap_or(&template.default_codecs)
        .join(",");
    let max_contacts = extension
        .max_contacts
        .unwrap_or(template.default_max_contacts);
    let md5_cred = &extension.auth.md5_cred;
    let transport = extension.transport.as_deref().or(match template.transport {
        TemplateTransport::Udp => settings.udp_transport.as_deref(),
        TemplateTransport::Wss => settings.wss_transport.as_deref(),
    });
    let x = ExtensionFields {
        number: check_name(object, &extension.number)?,
        context: check_name(object, &extension.context)?,
        codecs: check_value(object, "allow", codecs)?,
        transport: transport.map(|t| check_name(object, t)).transpose()?,
        callerid: callerid(object, extension)?,
        realm: check_value(object, "realm", extension.auth.realm.as_str())?,
        md5_cred: check_value(object, "md5_cred", md5_cred.as_str())?,
        max_contacts,
    };
    let rendered = match template.id.as_str() {
        "basic" => Basic { x }.render(),
        "advanced" => Advanced { x }.render(),
        "mobile" => Mobile { x }.render(),
        "webrtc" => Webrtc { x }.render(),
        _ => {
            return Err(RenderError::UnknownExtensionTemplate {
                extension: extension.number.clone(),
                template: extension.template.clone(),
            });
        }
    };
    let mut body = rendered.map_err(|source| RenderError::Template {
        object: object.to_owned(),
        source,
    })?;
    if !body.ends_with('\n') {
        body.push('\n');
    }
    if !extension.options.is_empty() {
        body = apply_overrides(&body, &extension.options);
        verify_pjsip(object, &body)?;
    }
    // The template text is fixed and every value in it was checked above, so the shape
    // cannot change at run time; the tests read every template's output back against the
    // option table, and debug builds re-check each block.
    debug_assert!(
        verify_pjsip(object, &body).is_ok(),
        "{object}: {:?}",
        verify_pjsip(object, &body)
    );
    Ok(Some(ManagedBlock {
        id: ObjectRef::extension(&extension.number).block_id(),
        body,
    }))
}
