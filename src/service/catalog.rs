//! Keeps the template tables in step with the templates shipped with rayan.
//!
//! The provider templates in `provider_templates/` are compiled into the binary, so an
//! installed `rayand` needs no data directory to find them; `provider_templates_dir`
//! (optional) adds a site's own files, which may also replace a shipped one by using its
//! id. Both kinds are "built in": inserted or updated at every start, never deletable
//! through the API. Templates administrators made through the API are left alone.

use std::collections::HashSet;

use super::ServiceError;
use super::templates::TemplateService;
use crate::store;
use crate::templates::{
    ProviderTemplate, TemplateError, builtin_extension_templates, builtin_provider_templates,
    load_dir,
};

impl TemplateService {
    /// The built-in provider templates: the shipped ones, then the configured
    /// directory's, a directory file replacing a shipped template of the same id.
    pub fn builtin_provider_templates(&self) -> Result<Vec<ProviderTemplate>, TemplateError> {
        let mut templates = builtin_provider_templates()?;
        if let Some(dir) = &self.provider_templates_dir {
            for template in load_dir(dir)? {
                templates.retain(|t| t.id != template.id);
                templates.push(template);
            }
        }
        Ok(templates)
    }

    /// Inserts or updates the built-in templates, and drops built-in provider templates
    /// that are no longer shipped unless a trunk still uses them. Runs at every start.
    pub async fn sync_builtin_templates(&self) -> Result<(), ServiceError> {
        for template in builtin_extension_templates() {
            let definition = serde_json::to_value(&template).map_err(|e| {
                ServiceError::Unavailable(format!("extension template {}: {e}", template.id))
            })?;
            store::templates::upsert_builtin_extension_template(
                self.writer.db(),
                &template.id,
                &template.name,
                &template.description,
                definition,
            )
            .await?;
        }

        let providers = self
            .builtin_provider_templates()
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        for template in &providers {
            let definition = serde_json::to_value(template).map_err(|e| {
                ServiceError::Unavailable(format!("provider template {}: {e}", template.id))
            })?;
            store::templates::upsert_builtin_provider_template(
                self.writer.db(),
                &template.id,
                &template.display_name,
                store::templates::auth_type_name(template),
                definition,
            )
            .await?;
        }
        let shipped: HashSet<&str> = providers.iter().map(|t| t.id.as_str()).collect();
        for id in store::templates::builtin_provider_ids(self.writer.db()).await? {
            if shipped.contains(id.as_str()) {
                continue;
            }
            let users = store::trunks::names_using_provider(self.writer.db(), &id).await?;
            if users.is_empty() {
                if let Some(row) =
                    store::templates::find_provider_template(self.writer.db(), &id).await?
                {
                    store::templates::delete_provider_template(self.writer.db(), row, || {
                        "a trunk".into()
                    })
                    .await?;
                    tracing::info!(template = %id, "removed a provider template that is no longer shipped");
                }
            } else {
                tracing::warn!(template = %id, trunks = %users.join(", "),
                    "provider template is no longer shipped but trunks still use it; keeping it");
            }
        }
        Ok(())
    }
}
