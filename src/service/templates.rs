//! Reading extension and provider templates; administrators' own provider templates.

use super::write::Action;
use crate::model::{ObjectKind, ObjectRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

use super::ServiceError;
use super::write::Writer;
use crate::model::FieldErrors;
use crate::store::audit::Actor;
use crate::store::entities::{extension_template, provider_template};
use crate::store::{self, StoreError};
pub use crate::templates::ProviderTemplate;

/// A provider template: the template itself plus where it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderTemplateView {
    #[serde(flatten)]
    pub template: ProviderTemplate,
    /// Shipped with rayan (or loaded from `provider_templates_dir`): updated at start,
    /// cannot be deleted.
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One object with the template's fields and the three of the view. A derived
/// schema would be `allOf` the template's, which refuses any field it does not
/// list (a template in a request may carry no other), so no view could match it.
impl utoipa::PartialSchema for ProviderTemplateView {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut object)) = ProviderTemplate::schema() else {
            return ProviderTemplate::schema();
        };
        object.description =
            Some("A provider template: the template itself plus where it comes from.".into());
        let builtin = ObjectBuilder::new().schema_type(Type::Boolean).description(Some(
            "Shipped with rayan (or loaded from `provider_templates_dir`): updated at start, cannot be deleted.",
        ));
        let date_time = Some(SchemaFormat::KnownFormat(KnownFormat::DateTime));
        let time = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(date_time.clone())
        };
        object.properties.insert("builtin".into(), builtin.into());
        object.properties.insert("created_at".into(), time().into());
        object.properties.insert("updated_at".into(), time().into());
        object
            .required
            .extend(["builtin".into(), "created_at".into(), "updated_at".into()]);
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for ProviderTemplateView {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ProviderTemplate as ToSchema>::schemas(schemas);
    }
}

/// An extension template: what it is for and the defaults an extension gets from it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExtensionTemplateView {
    #[schema(example = "basic")]
    pub id: String,
    pub name: String,
    pub description: String,
    #[schema(example = json!(["ulaw", "alaw"]))]
    pub default_codecs: Vec<String>,
    pub default_max_contacts: u32,
    /// `udp` or `wss`.
    #[schema(example = "udp")]
    pub transport: String,
    pub features: Vec<String>,
    #[serde(default)]
    pub builtin: bool,
}

fn provider_view(row: &provider_template::Model) -> Result<ProviderTemplateView, ServiceError> {
    Ok(ProviderTemplateView {
        template: store::templates::provider_definition(row)?,
        builtin: row.builtin,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn extension_view(row: &extension_template::Model) -> Result<ExtensionTemplateView, ServiceError> {
    let mut view: ExtensionTemplateView = serde_json::from_value(row.definition.clone())
        .map_err(|e| StoreError::Corrupt(format!("extension template {}: {e}", row.id)))?;
    view.builtin = row.builtin;
    Ok(view)
}

/// The field a template problem is about: `endpoint.<option>` for a section option, the
/// top-level key otherwise.
fn problem_field(problem: &str) -> String {
    if let Some(rest) = problem.strip_prefix('[') {
        let Some((section, rest)) = rest.split_once("] ") else {
            return "body".to_owned();
        };
        if rest.starts_with("options are set") {
            return section.to_owned();
        }
        let option = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.split_once("' is not a PJSIP").map(|(o, _)| o),
            None => rest.split([' ', ':']).next(),
        };
        return match option {
            Some(option) => format!("{section}.{option}"),
            None => section.to_owned(),
        };
    }
    let first = problem.split([' ', ':']).next().unwrap_or_default();
    let top_level = [
        "id",
        "display_name",
        "default_port",
        "default_server",
        "default_match",
    ];
    if top_level.contains(&first) || first.starts_with("default_codecs") {
        first.to_owned()
    } else if problem.contains("cannot register") {
        "register".to_owned()
    } else if problem.starts_with("without default_server") {
        "default_server".to_owned()
    } else {
        "required_fields".to_owned()
    }
}

fn check_display_text(errors: &mut FieldErrors, field: &str, value: &str, max_len: usize) {
    if value.chars().count() > max_len {
        errors.push(field, format!("must be at most {max_len} characters"));
    } else if value.chars().any(char::is_control) {
        errors.push(field, "must not contain line breaks or control characters");
    }
}

/// Every problem of an administrator's template, each on its field.
fn check_provider_template(template: &ProviderTemplate) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::new();
    for problem in template.problems() {
        errors.push(problem_field(&problem), problem);
    }
    // Never written to a config file, only shown: prose may hold ';', but no line breaks
    // or control characters.
    check_display_text(&mut errors, "display_name", &template.display_name, 80);
    check_display_text(&mut errors, "description", &template.description, 500);
    for (i, source) in template.sources.iter().enumerate() {
        check_display_text(&mut errors, &format!("sources[{i}]"), source, 300);
    }
    errors.finish()
}

/// Provider and extension templates, the shipped ones kept in step at each start.
#[derive(Clone)]
pub struct TemplateService {
    pub(super) writer: Writer,
    /// Where an administrator's own provider templates are, if anywhere.
    pub(super) provider_templates_dir: Option<std::path::PathBuf>,
}

impl TemplateService {
    pub(super) fn new(writer: Writer, provider_templates_dir: Option<std::path::PathBuf>) -> Self {
        TemplateService {
            writer,
            provider_templates_dir,
        }
    }
}

impl TemplateService {
    pub async fn list_provider_templates(&self) -> Result<Vec<ProviderTemplateView>, ServiceError> {
        store::templates::list_provider_templates(self.writer.db())
            .await?
            .iter()
            .map(provider_view)
            .collect()
    }

    pub async fn get_provider_template(
        &self,
        id: &str,
    ) -> Result<ProviderTemplateView, ServiceError> {
        provider_view(&store::templates::get_provider_template(self.writer.db(), id).await?)
    }

    /// Adds an administrator's provider template. Every option must be one Asterisk
    /// documents for its section type.
    pub async fn create_provider_template(
        &self,
        actor: &Actor,
        template: ProviderTemplate,
    ) -> Result<ProviderTemplateView, ServiceError> {
        check_provider_template(&template)?;
        let mut write = self.writer.write(actor).await?;
        let row = store::templates::insert_provider_template(&*write, &template).await?;
        let view = provider_view(&row)?;
        let object = ObjectRef::new(ObjectKind::ProviderTemplate, template.id.to_string());
        write
            .audit(
                Action::Create,
                &object,
                None,
                Some(serde_json::to_value(&view).unwrap_or_default()),
            )
            .await?;
        write.commit().await?;
        Ok(view)
    }

    /// Deletes an administrator's provider template that no trunk uses.
    pub async fn delete_provider_template(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<(), ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let row = store::templates::get_provider_template(&*write, id).await?;
        if row.builtin {
            return Err(ServiceError::Refused(format!(
                "provider template {id} is built in and cannot be deleted"
            )));
        }
        let users = store::trunks::names_using_provider(&*write, id).await?;
        if !users.is_empty() {
            let by = users
                .iter()
                .map(|n| format!("trunk {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ServiceError::InUse {
                what: format!("provider template {id}"),
                by,
            });
        }
        let before = serde_json::to_value(provider_view(&row)?).unwrap_or_default();
        store::templates::delete_provider_template(&*write, row, || "a trunk".into()).await?;
        let object = ObjectRef::new(ObjectKind::ProviderTemplate, id.to_string());
        write
            .audit(Action::Delete, &object, Some(before), None)
            .await?;
        write.commit().await
    }

    pub async fn list_extension_templates(
        &self,
    ) -> Result<Vec<ExtensionTemplateView>, ServiceError> {
        store::templates::list_extension_templates(self.writer.db())
            .await?
            .iter()
            .map(extension_view)
            .collect()
    }

    pub async fn get_extension_template(
        &self,
        id: &str,
    ) -> Result<ExtensionTemplateView, ServiceError> {
        extension_view(&store::templates::get_extension_template(self.writer.db(), id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_land_on_their_fields() {
        for (problem, field) in [
            (
                "[endpoint] 'no_such_option' is not a PJSIP endpoint option",
                "endpoint.no_such_option",
            ),
            (
                "[endpoint] aors is written by rayan and cannot be set by a template",
                "endpoint.aors",
            ),
            (
                "[registration] retry_interval: value must not contain ';'",
                "registration.retry_interval",
            ),
            (
                "[auth] options are set but this template renders no auth section",
                "auth",
            ),
            (
                "id must be 1 to 40 letters, digits, '_', '-', '.' or '+'",
                "id",
            ),
            (
                "default_codecs[1]: unknown codec 'nope'",
                "default_codecs[1]",
            ),
            (
                "default_server 'a b' is not a host name or IP address",
                "default_server",
            ),
            (
                "without default_server, 'server' must be a required field",
                "default_server",
            ),
            (
                "a credential template must require 'password'",
                "required_fields",
            ),
            ("an ip template cannot register", "register"),
        ] {
            assert_eq!(problem_field(problem), field, "{problem}");
        }
    }

    #[test]
    fn real_problems_are_attributed() {
        let templates = crate::templates::builtin_provider_templates().unwrap();
        let mut t = crate::templates::find_provider(&templates, "telnyx")
            .unwrap()
            .clone();
        t.endpoint.insert("no_such_option".into(), "1".into());
        t.registration.insert("retry_interval".into(), "1;x".into());
        t.default_codecs = vec!["nope".into()];
        t.description = "line\nbreak".into();
        let errors = check_provider_template(&t).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        for field in [
            "endpoint.no_such_option",
            "registration.retry_interval",
            "default_codecs[0]",
            "description",
        ] {
            assert!(fields.contains(&field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn every_builtin_template_passes_the_api_check() {
        for template in crate::templates::builtin_provider_templates().unwrap() {
            assert!(
                check_provider_template(&template).is_ok(),
                "{}",
                template.id
            );
        }
    }
}
