//! Trunk use cases. A trunk is checked against its provider template's rules and then
//! rendered once, so a trunk that would not load into Asterisk is refused at the API.

use super::write::Action;
use crate::model::ObjectRef;
use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::applies::ApplyView;
use super::inbound_layout::LayoutChange;
use super::transports::{DefaultTransports, TransportUser, check_transport_field};
use super::write::Writer;
use super::{Page, Paging, ServiceError, inbound_layout};
use crate::ami::AmiClient;
use crate::live::{Contact, Registrations, TrunkRegistration, TrunkRegistrations};
use crate::model::address::{is_did, is_host, is_match_address, is_sip_user};
use crate::model::options::ObjectOptions;
use crate::model::trunk::{DEFAULT_TRUNK_CONTEXT, NewTrunk, TrunkPatch};
use crate::model::{FieldErrors, Trunk};
use crate::render::{RenderError, RenderSettings, render_trunk};
use crate::secrets::Secrets;
use crate::store::audit::Actor;
use crate::store::trunks::{StoredTrunk, TrunkFilter, TrunkRow};
use crate::store::{self};
use crate::templates::{ProviderTemplate, TrunkField};

/// A trunk as the API shows it. The password never appears: only whether one is set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrunkView {
    #[schema(example = "telnyx_main")]
    pub name: String,
    #[schema(example = "telnyx")]
    pub provider: String,
    pub username: Option<String>,
    /// Whether a password is stored (it is kept encrypted and never returned).
    pub has_password: bool,
    pub server: Option<String>,
    pub port: Option<u16>,
    pub did: Option<String>,
    pub context: String,
    /// `null`: the provider template's default codecs.
    pub codecs: Option<Vec<String>>,
    pub match_addresses: Vec<String>,
    pub enabled: bool,
    /// PJSIP options beyond the provider template's, per section.
    #[serde(skip_serializing_if = "ObjectOptions::is_empty")]
    pub options: ObjectOptions,
    /// `null`: the UDP default transport.
    pub transport: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In answers to writes: what Asterisk loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
    /// When shown alone: its last outcome on each node that applied it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<std::collections::BTreeMap<String, crate::apply::Outcome>>,
    /// Its outbound registration, live from Asterisk (`state: none` without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<TrunkRegistration>,
    /// The provider's contacts as Asterisk's qualify sees them (reachable and
    /// round trip); only for trunks that qualify.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
}

impl From<&StoredTrunk> for TrunkView {
    fn from(t: &StoredTrunk) -> Self {
        let r = &t.row;
        TrunkView {
            name: r.name.clone(),
            provider: r.provider.clone(),
            username: r.username.clone(),
            has_password: r.secret_enc.is_some(),
            server: r.server.clone(),
            port: r.port,
            did: r.did.clone(),
            context: r.context.clone(),
            codecs: r.codecs.clone(),
            match_addresses: r.match_addresses.clone(),
            enabled: r.enabled,
            options: r.options.clone(),
            transport: r.transport.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            apply: None,
            nodes: None,
            registration: None,
            contacts: Vec::new(),
        }
    }
}

/// `GET /api/v1/trunks` filters (beside `limit` and `offset`).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrunkQuery {
    /// Provider template id.
    pub provider: Option<String>,
    pub enabled: Option<bool>,
}

/// What the audit log keeps of a trunk: the view, with `"password": "***"` when the
/// password was set or changed, never the password or its ciphertext.
fn audit_image(t: &StoredTrunk, password_changed: bool) -> serde_json::Value {
    let mut value = serde_json::to_value(TrunkView::from(t)).unwrap_or_default();
    if password_changed {
        value["password"] = serde_json::Value::String("***".into());
    }
    value
}

/// Stands in for a stored password in checks that only need to know one is set.
const STORED_PASSWORD: &str = "stored-password";

fn has_error(errors: &FieldErrors, field: &str) -> bool {
    errors
        .0
        .iter()
        .any(|e| e.field == field || e.field.starts_with(&format!("{field}[")))
}

/// The field a render error is about, for the 422 answer.
fn render_error_field(error: &RenderError) -> String {
    match error {
        RenderError::InvalidField { field, .. } | RenderError::MissingField { field, .. } => {
            field.clone()
        }
        RenderError::UnsafeValue { option, .. } => match option.as_str() {
            "password" | "username" | "context" => option.clone(),
            "contact_user" => "did".to_owned(),
            _ => "body".to_owned(),
        },
        RenderError::UnsafeSectionName { .. } => "name".to_owned(),
        _ => "body".to_owned(),
    }
}

/// Checks the values that go into SIP URIs and `identify`, and the provider's rules.
fn check_against_provider(errors: &mut FieldErrors, trunk: &Trunk, template: &ProviderTemplate) {
    if let Some(username) = trunk.username.as_deref() {
        if !has_error(errors, "username") && !is_sip_user(username) {
            errors.push(
                "username",
                "must be 1 to 64 letters, digits or - _ . + * ~ ! ' ( ) & =",
            );
        }
    }
    if let Some(server) = trunk.server.as_deref() {
        if !has_error(errors, "server") && !is_host(server) {
            errors.push(
                "server",
                "must be a host name or an IP address (without a port)",
            );
        }
    }
    if let Some(did) = trunk.did.as_deref() {
        if !has_error(errors, "did") && !is_did(did) {
            errors.push("did", "must be an optional '+' and 2 to 20 digits");
        }
    }
    for (i, address) in trunk.match_addresses.iter().enumerate() {
        let field = format!("match_addresses[{i}]");
        if !has_error(errors, &field) && !is_match_address(address) {
            errors.push(
                field,
                "must be an IP address, a CIDR network or a host name",
            );
        }
    }
    let provider = &template.id;
    for field in template.missing_required(trunk) {
        errors.push(
            field.as_str(),
            format!("is required by provider {provider}"),
        );
    }
    let listed = |f: TrunkField| {
        template.required_fields.contains(&f) || template.optional_fields.contains(&f)
    };
    // Context and codecs always apply; the others only where the template uses them.
    for field in [
        TrunkField::Username,
        TrunkField::Password,
        TrunkField::Server,
        TrunkField::Port,
        TrunkField::Did,
        TrunkField::MatchAddresses,
    ] {
        if field.is_set(trunk) && !listed(field) {
            errors.push(
                field.as_str(),
                format!("is not used by provider {provider}"),
            );
        }
    }
}

/// The row to store for `trunk`; `secret_enc` is what to keep for the password.
fn row_of(trunk: &Trunk, secret_enc: Option<String>) -> TrunkRow {
    TrunkRow {
        name: trunk.name.clone(),
        provider: trunk.provider.clone(),
        username: trunk.username.clone(),
        secret_enc,
        server: trunk.server.clone(),
        port: trunk.port,
        did: trunk.did.clone(),
        context: trunk.context.clone(),
        codecs: trunk.codecs.clone(),
        match_addresses: trunk.match_addresses.clone(),
        enabled: trunk.enabled,
        options: trunk.options.clone(),
        transport: trunk.transport.clone(),
    }
}

/// Trunks: connections to providers, their secrets encrypted at rest.
#[derive(Clone)]
pub struct TrunkService {
    writer: Writer,
    secrets: Secrets,
    registrations: TrunkRegistrations,
    contacts: Registrations,
    /// For re-registering a trunk on request.
    ami: AmiClient,
    transports: DefaultTransports,
}

/// The answer to `POST /api/v1/trunks/{name}/check`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrunkCheck {
    pub trunk: String,
    pub registration: TrunkRegistration,
    /// The provider's contacts after the qualify this check asked for.
    pub contacts: Vec<Contact>,
    /// What happened, in words.
    pub detail: String,
}

/// How long a check waits for the registrar's answer.
pub const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl TrunkService {
    pub(super) fn new(
        writer: Writer,
        secrets: Secrets,
        registrations: TrunkRegistrations,
        contacts: Registrations,
        ami: AmiClient,
        transports: DefaultTransports,
    ) -> Self {
        TrunkService {
            writer,
            secrets,
            registrations,
            contacts,
            ami,
            transports,
        }
    }

    /// Registers the trunk again now and waits (at most [`CHECK_WAIT`]) for what
    /// the registrar answers.
    pub async fn check(&self, name: &str) -> Result<TrunkCheck, ServiceError> {
        store::trunks::get(self.writer.db(), name).await?;
        // Qualify answers later, as ContactStatus; its outcome is in `contacts`.
        if let Err(e) = self.ami.pjsip_qualify(name).await {
            tracing::debug!(trunk = name, error = %e, "qualify not sent");
        }
        let current = self.registrations.get(name);
        let Some(registration) = current.registration.clone() else {
            return Ok(TrunkCheck {
                trunk: name.to_owned(),
                registration: current,
                contacts: self.trunk_contacts(name),
                detail: "this trunk does not register (IP authentication), or Asterisk has not loaded its registration".into(),
            });
        };
        let asked = Utc::now();
        self.ami.pjsip_register(&registration).await.map_err(|e| {
            ServiceError::Unavailable(format!("cannot ask Asterisk to register {name}: {e}"))
        })?;
        let deadline = tokio::time::Instant::now() + CHECK_WAIT;
        loop {
            if let Some(answered) = self.registrations.heard_since(name, asked) {
                let detail = match answered.state {
                    crate::events::TrunkRegistrationState::Registered => {
                        "the registrar accepted the registration".to_owned()
                    }
                    state => format!(
                        "the registration is {}; Asterisk keeps retrying",
                        state.as_str()
                    ),
                };
                return Ok(TrunkCheck {
                    trunk: name.to_owned(),
                    registration: answered,
                    contacts: self.trunk_contacts(name),
                    detail,
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(TrunkCheck {
                    trunk: name.to_owned(),
                    registration: self.registrations.get(name),
                    contacts: self.trunk_contacts(name),
                    detail: format!(
                        "no answer from the registrar within {} s; Asterisk keeps trying",
                        CHECK_WAIT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// The view of a stored trunk, with its registration as Asterisk last said.
    fn view(&self, trunk: &StoredTrunk) -> TrunkView {
        let mut view = TrunkView::from(trunk);
        view.registration = Some(self.registrations.get(&trunk.row.name));
        view.contacts = self.trunk_contacts(&trunk.row.name);
        view
    }

    /// The contacts of the trunk's aor (`<name>-aor`), under its endpoint's
    /// name or, for a static contact, under the aor's.
    fn trunk_contacts(&self, name: &str) -> Vec<Contact> {
        let mut contacts = self.contacts.get(name).contacts;
        contacts.extend(self.contacts.aor_contacts(&format!("{name}-aor")));
        contacts
    }
}

impl TrunkService {
    async fn provider_template(
        &self,
        db: &impl ConnectionTrait,
        id: &str,
    ) -> Result<Option<ProviderTemplate>, ServiceError> {
        match store::templates::find_provider_template(db, id).await? {
            Some(row) => Ok(Some(store::templates::provider_definition(&row)?)),
            None => Ok(None),
        }
    }

    /// Every check a trunk must pass before it is stored; `errors` holds the field
    /// checks done so far.
    async fn check_trunk(
        &self,
        db: &impl ConnectionTrait,
        trunk: &Trunk,
        mut errors: FieldErrors,
    ) -> Result<(), ServiceError> {
        if !has_error(&errors, "provider") {
            match self.provider_template(db, &trunk.provider).await? {
                None => errors.push(
                    "provider",
                    format!("unknown provider template '{}'", trunk.provider),
                ),
                Some(template) => {
                    check_against_provider(&mut errors, trunk, &template);
                    // A disabled trunk is not rendered; check it as if enabled so that
                    // enabling it later cannot fail.
                    let probe = Trunk {
                        enabled: true,
                        ..trunk.clone()
                    };
                    if errors.is_empty() {
                        if let Err(e) = render_trunk(&probe, &template, &RenderSettings::default())
                        {
                            errors.push(render_error_field(&e), e.to_string());
                        }
                    }
                }
            }
        }
        if let Some(name) = trunk
            .transport
            .as_deref()
            .filter(|_| !has_error(&errors, "transport"))
        {
            check_transport_field(
                db,
                &self.transports,
                TransportUser::Trunk,
                name,
                &mut errors,
            )
            .await?;
        }
        if errors.is_empty() {
            let change = LayoutChange::Trunk {
                name: &trunk.name,
                context: &trunk.context,
            };
            if let Some(clash) = inbound_layout::clash(db, change).await? {
                errors.push("context", clash);
            }
        }
        Ok(errors.finish()?)
    }

    pub async fn create(&self, actor: &Actor, input: NewTrunk) -> Result<TrunkView, ServiceError> {
        let errors = input.validate().err().unwrap_or_default();
        let now = Utc::now();
        let trunk = Trunk {
            id: 0,
            name: input.name,
            provider: input.provider,
            username: input.username,
            password: input.password,
            server: input.server,
            port: input.port,
            did: input.did,
            context: input
                .context
                .unwrap_or_else(|| DEFAULT_TRUNK_CONTEXT.into()),
            codecs: input.codecs,
            match_addresses: input.match_addresses.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            options: input.options.unwrap_or_default(),
            transport: input.transport,
            created_at: now,
            updated_at: now,
        };
        let mut write = self.writer.write(actor).await?;
        self.check_trunk(&*write, &trunk, errors).await?;
        let secret_enc = trunk.password.as_deref().map(|p| self.secrets.encrypt(p));
        let stored = store::trunks::insert(&*write, row_of(&trunk, secret_enc)).await?;
        let object = ObjectRef::trunk(&stored.row.name);
        write
            .audit(
                Action::Create,
                &object,
                None,
                Some(audit_image(&stored, trunk.password.is_some())),
            )
            .await?;
        let mut view = self.view(&stored);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn get(&self, name: &str) -> Result<TrunkView, ServiceError> {
        let mut view = self.view(&store::trunks::get(self.writer.db(), name).await?);
        view.nodes = Some(
            super::cluster::outcomes_by_node(self.writer.db(), &ObjectRef::trunk(name)).await?,
        );
        Ok(view)
    }

    pub async fn list(
        &self,
        query: TrunkQuery,
        paging: Paging,
    ) -> Result<Page<TrunkView>, ServiceError> {
        let filter = TrunkFilter {
            provider: query.provider,
            enabled: query.enabled,
        };
        let (items, total) =
            store::trunks::list(self.writer.db(), &filter, paging.limit, paging.offset).await?;
        Ok(paging.of(items.iter().map(|t| self.view(t)).collect(), total))
    }

    pub async fn update(
        &self,
        actor: &Actor,
        name: &str,
        patch: TrunkPatch,
    ) -> Result<TrunkView, ServiceError> {
        let errors = patch.validate().err().unwrap_or_default();
        let mut write = self.writer.write(actor).await?;
        let before = store::trunks::get(&*write, name).await?;
        let stored_password = before
            .row
            .secret_enc
            .as_ref()
            .map(|_| STORED_PASSWORD.to_owned());
        let mut trunk = before.to_trunk_with(stored_password);
        patch.apply_to(&mut trunk);
        self.check_trunk(&*write, &trunk, errors).await?;
        let secret_enc = match &patch.password {
            None => before.row.secret_enc.clone(),
            Some(None) => None,
            Some(Some(password)) => Some(self.secrets.encrypt(password)),
        };
        let after = store::trunks::update(&*write, &before, row_of(&trunk, secret_enc)).await?;
        let object = ObjectRef::trunk(name);
        write
            .audit(
                Action::Update,
                &object,
                Some(audit_image(&before, false)),
                Some(audit_image(&after, patch.password.is_some())),
            )
            .await?;
        let mut view = self.view(&after);
        view.apply = Some(write.commit_and_apply(&object).await?);
        Ok(view)
    }

    pub async fn delete(&self, actor: &Actor, name: &str) -> Result<ApplyView, ServiceError> {
        let mut write = self.writer.write(actor).await?;
        let trunk = store::trunks::get(&*write, name).await?;
        let users = store::routes::using_trunk(&*write, trunk.id).await?;
        if !users.is_empty() {
            return Err(ServiceError::InUse {
                what: format!("trunk {name}"),
                by: users.join(", "),
            });
        }
        store::trunks::delete(&*write, &trunk, || "a route".into()).await?;
        let object = ObjectRef::trunk(name);
        write
            .audit(
                Action::Delete,
                &object,
                Some(audit_image(&trunk, false)),
                None,
            )
            .await?;
        write.commit_and_apply(&object).await
    }
}
