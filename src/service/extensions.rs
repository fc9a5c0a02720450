//! Extension use cases.

use super::write::Action;
use crate::model::ObjectRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::applies::ApplyView;
use super::inbound_layout::LayoutChange;
use super::transports::{DefaultTransports, TransportUser, check_transport_field};
use super::write::Writer;
use super::{Page, Paging, ServiceError, inbound_layout};
use crate::config::Settings;
use crate::live::Registration;
use crate::live::{HintPresence, PresenceMap, Registrations};
use crate::model::extension::NumberPolicy;
use crate::model::extension::{
    CSV_COLUMNS, DEFAULT_CONTEXT, DEFAULT_TEMPLATE, ExtensionPatch, NewExtension, generate_password,
};
use crate::model::options::ObjectOptions;
use crate::model::{Extension, ExtensionAuth, FieldErrors};
use crate::store::audit::Actor;
use crate::store::extensions::{ExtensionFilter, ExtensionRow};
use crate::store::{self};

/// An extension as the API shows it. Credentials never appear, except a password
/// rayan generated, once, in the answer to the create that generated it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExtensionView {
    #[schema(example = "1001")]
    pub extension: String,
    pub name: Option<String>,
    pub template: String,
    pub context: String,
    /// `null`: the template's default codecs.
    pub codecs: Option<Vec<String>>,
    /// `null`: the template's default.
    pub max_contacts: Option<u32>,
    pub caller_id: Option<String>,
    pub enabled: bool,
    /// PJSIP options beyond the template's, per section.
    #[serde(skip_serializing_if = "ObjectOptions::is_empty")]
    pub options: ObjectOptions,
    /// `null`: the template's default transport.
    pub transport: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Only in the answer to a create without a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Live hint state (BLF), from memory; `null` while Asterisk has no hint
    /// for the extension (it is disabled, or presence is unavailable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<HintPresence>,
    /// Live registration state, from memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// In answers to writes: what Asterisk loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
    /// When shown alone: its last outcome on each node that applied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<std::collections::BTreeMap<String, crate::apply::Outcome>>,
}

impl From<&Extension> for ExtensionView {
    fn from(e: &Extension) -> Self {
        ExtensionView {
            extension: e.number.clone(),
            name: e.name.clone(),
            template: e.template.clone(),
            context: e.context.clone(),
            codecs: e.codecs.clone(),
            max_contacts: e.max_contacts,
            caller_id: e.caller_id.clone(),
            enabled: e.enabled,
            options: e.options.clone(),
            transport: e.transport.clone(),
            created_at: e.created_at,
            updated_at: e.updated_at,
            password: None,
            registration: None,
            presence: None,
            apply: None,
            nodes: None,
        }
    }
}

/// The most extensions one bulk request may create.
pub const MAX_BULK: usize = 10_000;

/// The answer to `POST /api/v1/extensions/bulk`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkCreated {
    /// In number order; a generated password appears here, once.
    pub created: Vec<ExtensionView>,
    /// With `skip_invalid`: the rows left out and why.
    pub skipped: Vec<SkippedRow>,
    /// The one apply of the whole batch; absent when nothing was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
}

/// A row of a bulk request that was not created.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedRow {
    /// Its position in the request, from 0.
    pub index: usize,
    pub extension: String,
    pub errors: Vec<crate::model::validate::FieldError>,
}

/// `GET /api/v1/extensions` filters (beside `limit` and `offset`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExtensionQuery {
    pub context: Option<String>,
    pub template: Option<String>,
    pub enabled: Option<bool>,
    /// Number prefix or part of the name.
    pub q: Option<String>,
}

/// What the audit log keeps of an extension: the view, with a marker when the
/// credentials changed but never the credentials themselves.
fn audit_image(e: &Extension, password_changed: bool) -> serde_json::Value {
    let mut value = serde_json::to_value(ExtensionView::from(e)).unwrap_or_default();
    if password_changed {
        value["password"] = serde_json::Value::String("***".into());
    }
    value
}

/// Extensions: the phones, with their live registration state.
#[derive(Clone)]
pub struct ExtensionService {
    writer: Writer,
    registrations: Registrations,
    presence: PresenceMap,
    number_policy: NumberPolicy,
    /// The digest realm new passwords are hashed with.
    realm: String,
    transports: DefaultTransports,
}

impl ExtensionService {
    pub(super) fn new(
        writer: Writer,
        registrations: Registrations,
        presence: PresenceMap,
        settings: &Settings,
    ) -> Self {
        ExtensionService {
            writer,
            registrations,
            presence,
            number_policy: settings.number_policy(),
            realm: settings.extensions.realm.clone(),
            transports: DefaultTransports::from(&crate::render::RenderSettings::from(settings)),
        }
    }
}

impl ExtensionService {
    async fn check_template(
        &self,
        template: &str,
        errors: &mut FieldErrors,
    ) -> Result<(), ServiceError> {
        if !store::templates::extension_template_exists(self.writer.db(), template).await? {
            errors.push(
                "template",
                format!("unknown extension template '{template}'"),
            );
        }
        Ok(())
    }

    /// The row to store for a checked `input`, its password hashed for `realm`.
    fn row_of(&self, input: NewExtension, template: String, password: &str) -> ExtensionRow {
        ExtensionRow {
            auth: ExtensionAuth::from_password(&input.extension, &self.realm, password),
            number: input.extension,
            name: input.name,
            template,
            context: input.context.unwrap_or_else(|| DEFAULT_CONTEXT.into()),
            codecs: input.codecs,
            max_contacts: input.max_contacts,
            caller_id: input.caller_id,
            enabled: input.enabled.unwrap_or(true),
            options: input.options.unwrap_or_default(),
            transport: input.transport,
        }
    }

    /// Checks the transport an extension names against its template.
    async fn check_transport(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        template: &str,
        transport: Option<&str>,
        errors: &mut FieldErrors,
    ) -> Result<(), ServiceError> {
        let Some(name) = transport else {
            return Ok(());
        };
        if errors.0.iter().any(|e| e.field == "transport") {
            return Ok(());
        }
        let user = if template == "webrtc" {
            TransportUser::WebrtcExtension
        } else {
            TransportUser::Extension
        };
        check_transport_field(db, &self.transports, user, name, errors).await
    }

    pub async fn create(
        &self,
        actor: &Actor,
        input: NewExtension,
    ) -> Result<ExtensionView, ServiceError> {
        let mut errors = match input.validate(&self.number_policy) {
            Ok(()) => FieldErrors::new(),
            Err(errors) => errors,
        };
        let template = input
            .template
            .clone()
            .unwrap_or_else(|| DEFAULT_TEMPLATE.into());
        if errors.0.iter().all(|e| e.field != "template") {
            self.check_template(&template, &mut errors).await?;
        }
        self.check_transport(
            self.writer.db(),
            &template,
            input.transport.as_deref(),
            &mut errors,
        )
        .await?;
        errors.finish()?;

        let (password, generated) = match input.password.clone() {
            Some(p) => (p, false),
            None => (generate_password(), true),
        };
        let row = self.row_of(input, template, &password);
        let mut write = self.writer.write(actor).await?;
        let change = LayoutChange::Extension {
            previous: None,
            number: &row.number,
            context: &row.context,
        };
        if let Some(clash) = inbound_layout::clash(&*write, change).await? {
            let mut errors = FieldErrors::new();
            errors.push("extension", clash);
            return Err(errors.into());
        }
        let ext = store::extensions::insert(&*write, row).await?;
        let object = ObjectRef::extension(&ext.number);
        write
            .audit(Action::Create, &object, None, Some(audit_image(&ext, true)))
            .await?;
        let apply = write.commit_and_apply(&object).await?;
        let mut view = self.extension_view(&ext);
        if generated {
            view.password = Some(password);
        }
        view.apply = Some(apply);
        Ok(view)
    }

    /// Creates many extensions in one transaction and one apply. Every row is
    /// checked first; any bad row refuses the whole batch (fields named
    /// `[index].field`) unless `skip_invalid`, which creates the good rows and
    /// lists the others. Generated passwords are in the answer, once.
    pub async fn create_all(
        &self,
        actor: &Actor,
        inputs: Vec<NewExtension>,
        skip_invalid: bool,
    ) -> Result<BulkCreated, ServiceError> {
        if inputs.is_empty() || inputs.len() > MAX_BULK {
            let mut errors = FieldErrors::new();
            errors.push("body", format!("send 1 to {MAX_BULK} extensions"));
            return Err(errors.into());
        }
        let numbers: Vec<String> = inputs.iter().map(|i| i.extension.clone()).collect();
        let taken = store::extensions::existing_numbers(self.writer.db(), &numbers).await?;
        let dids: std::collections::HashSet<String> = store::routes::all_inbound(self.writer.db())
            .await?
            .into_iter()
            .map(|r| r.did)
            .collect();
        let mut known_templates: std::collections::HashMap<String, bool> = Default::default();
        let mut seen = std::collections::HashSet::new();
        let mut good = Vec::with_capacity(inputs.len());
        let mut skipped = Vec::new();
        for (index, input) in inputs.into_iter().enumerate() {
            let mut errors = input
                .validate(&self.number_policy)
                .err()
                .unwrap_or_default();
            let template = input
                .template
                .clone()
                .unwrap_or_else(|| DEFAULT_TEMPLATE.into());
            if errors.0.iter().all(|e| e.field != "template") {
                let known = match known_templates.get(&template) {
                    Some(known) => *known,
                    None => {
                        let known = store::templates::extension_template_exists(
                            self.writer.db(),
                            &template,
                        )
                        .await?;
                        known_templates.insert(template.clone(), known);
                        known
                    }
                };
                if !known {
                    errors.push(
                        "template",
                        format!("unknown extension template '{template}'"),
                    );
                }
            }
            self.check_transport(
                self.writer.db(),
                &template,
                input.transport.as_deref(),
                &mut errors,
            )
            .await?;
            if taken.contains(&input.extension) {
                errors.push("extension", "already exists");
            } else if !seen.insert(input.extension.clone()) {
                errors.push("extension", "is in the batch twice");
            } else if dids.contains(&input.extension) {
                let context = input.context.as_deref().unwrap_or(DEFAULT_CONTEXT);
                let change = LayoutChange::Extension {
                    previous: None,
                    number: &input.extension,
                    context,
                };
                if let Some(clash) = inbound_layout::clash(self.writer.db(), change).await? {
                    errors.push("extension", clash);
                }
            }
            if errors.0.is_empty() {
                good.push((input, template));
            } else {
                skipped.push(SkippedRow {
                    index,
                    extension: input.extension,
                    errors: errors.0,
                });
            }
        }
        if !skipped.is_empty() && !skip_invalid {
            let mut errors = FieldErrors::new();
            for row in &skipped {
                for e in &row.errors {
                    errors.push(format!("[{}].{}", row.index, e.field), e.message.clone());
                }
            }
            return Err(errors.into());
        }

        let mut passwords = std::collections::HashMap::new();
        let rows: Vec<ExtensionRow> = good
            .into_iter()
            .map(|(input, template)| {
                let password = input.password.clone().unwrap_or_else(|| {
                    let generated = generate_password();
                    passwords.insert(input.extension.clone(), generated.clone());
                    generated
                });
                self.row_of(input, template, &password)
            })
            .collect();
        if rows.is_empty() {
            return Ok(BulkCreated {
                created: vec![],
                skipped,
                apply: None,
            });
        }
        let mut write = self.writer.write(actor).await?;
        let stored = store::extensions::insert_all(&*write, rows).await?;
        let objects: Vec<ObjectRef> = stored
            .iter()
            .map(|e| ObjectRef::extension(&e.number))
            .collect();
        let images = stored
            .iter()
            .zip(&objects)
            .map(|(ext, object)| {
                (
                    object.clone(),
                    Some(audit_image(ext, passwords.contains_key(&ext.number))),
                )
            })
            .collect();
        write.audit_all(Action::Create, images).await?;
        let apply = write.commit_and_apply_all(&objects).await?;
        let created = stored
            .iter()
            .map(|ext| {
                let mut view = self.extension_view(ext);
                view.password = passwords.remove(&ext.number);
                view
            })
            .collect();
        Ok(BulkCreated {
            created,
            skipped,
            apply: Some(apply),
        })
    }

    /// Every extension as CSV (`CSV_COLUMNS`, a header row first); no secret.
    pub async fn export_csv(&self) -> Result<String, ServiceError> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let write_error =
            |e: csv::Error| ServiceError::Unavailable(format!("cannot write CSV: {e}"));
        out.write_record(CSV_COLUMNS).map_err(write_error)?;
        let mut offset = 0;
        loop {
            let (page, _) = store::extensions::list(
                self.writer.db(),
                &ExtensionFilter::default(),
                Paging::MAX_LIMIT,
                offset,
            )
            .await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u64;
            for ext in &page {
                let options = if ext.options.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&ext.options).unwrap_or_default()
                };
                out.write_record([
                    ext.number.as_str(),
                    ext.name.as_deref().unwrap_or(""),
                    ext.template.as_str(),
                    ext.context.as_str(),
                    &ext.codecs.as_ref().map(|c| c.join(",")).unwrap_or_default(),
                    &ext.max_contacts.map(|n| n.to_string()).unwrap_or_default(),
                    ext.caller_id.as_deref().unwrap_or(""),
                    if ext.enabled { "true" } else { "false" },
                    &options,
                    ext.transport.as_deref().unwrap_or(""),
                    "",
                ])
                .map_err(write_error)?;
            }
        }
        let bytes = out
            .into_inner()
            .map_err(|e| ServiceError::Unavailable(format!("cannot write CSV: {e}")))?;
        String::from_utf8(bytes)
            .map_err(|e| ServiceError::Unavailable(format!("cannot write CSV: {e}")))
    }

    pub async fn get(&self, number: &str) -> Result<ExtensionView, ServiceError> {
        let mut view =
            self.extension_view(&store::extensions::get(self.writer.db(), number).await?);
        view.nodes = Some(
            super::cluster::outcomes_by_node(self.writer.db(), &ObjectRef::extension(number))
                .await?,
        );
        Ok(view)
    }

    pub async fn list(
        &self,
        query: ExtensionQuery,
        paging: Paging,
    ) -> Result<Page<ExtensionView>, ServiceError> {
        let filter = ExtensionFilter {
            context: query.context,
            template: query.template,
            enabled: query.enabled,
            search: query.q.filter(|q| !q.is_empty()),
        };
        let (items, total) =
            store::extensions::list(self.writer.db(), &filter, paging.limit, paging.offset).await?;
        Ok(paging.of(
            items.iter().map(|e| self.extension_view(e)).collect(),
            total,
        ))
    }

    pub async fn update(
        &self,
        actor: &Actor,
        number: &str,
        patch: ExtensionPatch,
    ) -> Result<ExtensionView, ServiceError> {
        let mut errors = match patch.validate(number) {
            Ok(()) => FieldErrors::new(),
            Err(errors) => errors,
        };
        if let Some(template) = &patch.template {
            if errors.0.iter().all(|e| e.field != "template") {
                self.check_template(template, &mut errors).await?;
            }
        }
        errors.finish()?;

        let mut write = self.writer.write(actor).await?;
        let before = store::extensions::get(&*write, number).await?;
        let mut ext = before.clone();
        if let Some(name) = patch.name {
            ext.name = name;
        }
        if let Some(template) = patch.template {
            ext.template = template;
        }
        if let Some(context) = patch.context {
            ext.context = context;
        }
        if let Some(codecs) = patch.codecs {
            ext.codecs = codecs;
        }
        if let Some(max_contacts) = patch.max_contacts {
            ext.max_contacts = max_contacts;
        }
        if let Some(caller_id) = patch.caller_id {
            ext.caller_id = caller_id;
        }
        if let Some(enabled) = patch.enabled {
            ext.enabled = enabled;
        }
        if let Some(options) = patch.options {
            ext.options = options.unwrap_or_default();
        }
        if let Some(transport) = patch.transport {
            ext.transport = transport;
        }
        if ext.transport != before.transport || ext.template != before.template {
            let mut errors = FieldErrors::new();
            self.check_transport(
                &*write,
                &ext.template,
                ext.transport.as_deref(),
                &mut errors,
            )
            .await?;
            errors.finish()?;
        }
        let password_changed = patch.password.is_some();
        if let Some(password) = patch.password {
            ext.auth = ExtensionAuth::from_password(number, &self.realm, &password);
        }
        if ext.context != before.context {
            let change = LayoutChange::Extension {
                previous: Some(number),
                number,
                context: &ext.context,
            };
            if let Some(clash) = inbound_layout::clash(&*write, change).await? {
                let mut errors = FieldErrors::new();
                errors.push("context", clash);
                return Err(errors.into());
            }
        }
        let after = store::extensions::update(&*write, &ext).await?;
        let object = ObjectRef::extension(number);
        let images = (
            Some(audit_image(&before, false)),
            Some(audit_image(&after, password_changed)),
        );
        write
            .audit(Action::Update, &object, images.0, images.1)
            .await?;
        let mut view = self.extension_view(&after);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn delete(&self, actor: &Actor, number: &str) -> Result<ApplyView, ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let ext = store::extensions::get(&*write, number).await?;
        let users = store::routes::using_extension(&*write, ext.id).await?;
        if !users.is_empty() {
            return Err(ServiceError::InUse {
                what: format!("extension {number}"),
                by: users.join(", "),
            });
        }
        store::extensions::delete(&*write, &ext, || "an inbound route".into()).await?;
        let object = ObjectRef::extension(number);
        write
            .audit(
                Action::Delete,
                &object,
                Some(audit_image(&ext, false)),
                None,
            )
            .await?;
        write.commit_and_apply(&object).await
    }

    fn extension_view(&self, ext: &Extension) -> ExtensionView {
        let mut view = ExtensionView::from(ext);
        view.registration = Some(self.registrations.get(&ext.number));
        view.presence = self.presence.get(&ext.context, &ext.number);
        view
    }
}
