//! Importing a running Asterisk's hand-written phones: plan, then switch over in
//! one apply.
//!
//! The switch-over runs inside the apply worker (`Writer::apply_prepared`): the
//! adopted rows are written and the hand-written sections taken out of their
//! files in one step, then the same apply renders the managed blocks, reloads
//! PJSIP once and verifies. Nothing else reloads in between, so Asterisk never
//! sees a phone missing. Each adopted endpoint is then compared with what
//! `PJSIPShowEndpoint` said before: same context, aors, auth and transport,
//! and its registered contacts still there.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ServiceError;
use super::applies::ApplyView;
use super::write::{Action, Writer};
use crate::ami::{AmiClient, EndpointDetails};
use crate::apply::Outcome;
use crate::import::{self, DialplanUse, Left, PlanInput, PlannedExtension, PlannedTrunk, conf};
use crate::model::ObjectRef;
use crate::model::extension::NumberPolicy;
use crate::render::{ManagedFile, RenderSettings, WriteOptions, render_extension};
use crate::store;
use crate::store::audit::Actor;
use crate::store::extensions::ExtensionRow;

/// How long an import waits for its switch-over (a reload of thousands of
/// endpoints takes seconds, and each is verified).
const SWITCH_OVER_WAIT: Duration = Duration::from_secs(300);
/// PJSIPShowEndpoint requests in flight while comparing before and after.
const COMPARE_CONCURRENCY: usize = 16;

/// `POST /api/v1/import` parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Show the plan and the diffs; change nothing.
    pub dry_run: Option<bool>,
    /// Read this pjsip.conf on rayand's host instead of the one in
    /// `asterisk.config_dir` (dry runs only: a switch-over edits the files
    /// Asterisk reads).
    pub pjsip: Option<String>,
}

/// A file the import changes, as a unified diff.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileDiff {
    pub path: String,
    pub diff: String,
}

/// How an adopted phone or trunk came through the switch-over.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SwitchedOver {
    /// `extension` or `trunk`.
    pub kind: String,
    pub name: String,
    pub status: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The answer to an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportView {
    pub dry_run: bool,
    /// The phones adopted (or, in a dry run, that would be).
    pub extensions: Vec<PlannedExtension>,
    /// The trunks adopted (or that would be).
    pub trunks: Vec<PlannedTrunk>,
    /// What stays as written, and why.
    pub left: Vec<Left>,
    /// Hand-written dialplan contexts that dial adopted phones (dialplan is not imported).
    pub dialplan: Vec<DialplanUse>,
    pub warnings: Vec<String>,
    /// Dry run: the unified diff of every file the import would change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDiff>,
    /// The import record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_id: Option<i64>,
    /// The switch-over's apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyView>,
    /// Each adopted endpoint compared with what Asterisk had before.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub switched_over: Vec<SwitchedOver>,
}

/// Imports hand-written PJSIP config.
#[derive(Clone)]
pub struct ImportService {
    writer: Writer,
    ami: AmiClient,
    config_dir: PathBuf,
    policy: NumberPolicy,
    render: RenderSettings,
    keep_backups: usize,
    /// Adopted trunks' passwords are encrypted at rest, as every trunk's.
    secrets: crate::secrets::Secrets,
}

/// What an endpoint looked like to Asterisk, for the before/after comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Loaded {
    context: String,
    aors: String,
    auth: String,
    transport: String,
    contacts: Vec<String>,
}

impl Loaded {
    /// `default_realm` stands for an auth's empty `Realm` (Asterisk uses it then).
    fn of(details: &EndpointDetails, default_realm: &str) -> Self {
        let field = |m: &crate::ami::Message, k: &str| m.get(k).unwrap_or_default().to_owned();
        let auth = details
            .auths
            .iter()
            .map(|a| {
                let realm = field(a, "Realm");
                let realm = if realm.is_empty() {
                    default_realm.to_owned()
                } else {
                    realm
                };
                format!("{}@{realm}", field(a, "Username"))
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut contacts: Vec<String> = details.contacts.iter().map(|c| field(c, "URI")).collect();
        contacts.sort();
        Loaded {
            context: field(&details.endpoint, "Context"),
            aors: field(&details.endpoint, "Aors"),
            auth,
            transport: field(&details.endpoint, "Transport"),
            contacts,
        }
    }

    /// What changed from `before` to `self`, in words. A trunk's aor and auth
    /// are renamed by design (`<name>-aor`, `<name>-auth`): only a phone's
    /// are compared.
    fn changes_from(&self, before: &Loaded, phone: bool) -> Vec<String> {
        let mut out = Vec::new();
        for (what, a, b, compared) in [
            ("context", &before.context, &self.context, true),
            ("aors", &before.aors, &self.aors, phone),
            ("auth", &before.auth, &self.auth, phone),
            ("transport", &before.transport, &self.transport, true),
        ] {
            if compared && a != b {
                out.push(format!("{what} was '{a}', now '{b}'"));
            }
        }
        let lost: Vec<&String> = before
            .contacts
            .iter()
            .filter(|c| !self.contacts.contains(c))
            .collect();
        if !lost.is_empty() {
            out.push(format!(
                "contact(s) no longer registered: {}",
                lost.iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }
}

impl ImportService {
    pub(super) fn new(
        writer: Writer,
        ami: AmiClient,
        secrets: crate::secrets::Secrets,
        settings: &crate::config::Settings,
    ) -> Self {
        ImportService {
            secrets,
            writer,
            ami,
            config_dir: settings.asterisk.config_dir.clone(),
            policy: settings.number_policy(),
            render: RenderSettings::from(settings),
            keep_backups: settings.asterisk.keep_backups,
        }
    }

    /// Names rayan already manages: a hand-written object of the same name is
    /// not adopted.
    async fn managed_names(&self) -> Result<HashSet<String>, ServiceError> {
        let db = self.writer.db();
        let mut names: HashSet<String> = store::extensions::all(db)
            .await?
            .into_iter()
            .map(|e| e.number)
            .collect();
        names.extend(
            store::trunks::all(db)
                .await?
                .into_iter()
                .map(|t| t.row.name),
        );
        names.extend(
            store::transports::all(db)
                .await?
                .into_iter()
                .map(|t| t.name),
        );
        Ok(names)
    }

    /// Reads the files and plans (CPU work: off the async threads).
    async fn plan(&self, root: PathBuf) -> Result<(import::Plan, Vec<DialplanUse>), ServiceError> {
        let managed = self.managed_names().await?;
        let providers = store::snapshot::provider_templates(self.writer.db()).await?;
        let config_dir = self.config_dir.clone();
        let policy = self.policy;
        let render = self.render.clone();
        tokio::task::spawn_blocking(move || {
            let tree = conf::read_tree(&root, &config_dir).map_err(refused)?;
            let plan = import::plan(PlanInput {
                tree: &tree,
                policy,
                render: &render,
                managed: &managed,
                providers: &providers,
            });
            let numbers: HashSet<String> = plan.adopted.iter().map(|e| e.number.clone()).collect();
            let extensions_conf = config_dir.join("extensions.conf");
            let dialplan = match conf::read_tree(&extensions_conf, &config_dir) {
                Ok(tree) => import::dialplan_uses(&tree, &numbers),
                Err(_) => Vec::new(),
            };
            Ok((plan, dialplan))
        })
        .await
        .map_err(|e| ServiceError::Unavailable(format!("the import stopped: {e}")))?
    }

    pub async fn import(
        &self,
        actor: &Actor,
        query: ImportQuery,
    ) -> Result<ImportView, ServiceError> {
        let dry_run = query.dry_run.unwrap_or(false);
        let default_root = self.config_dir.join("pjsip.conf");
        let root = match &query.pjsip {
            Some(path) if Path::new(path) != default_root && !dry_run => {
                let mut errors = crate::model::FieldErrors::new();
                errors.push(
                    "pjsip",
                    "only a dry run reads another file: a switch-over edits the files Asterisk reads",
                );
                return Err(errors.into());
            }
            Some(path) if !Path::new(path).is_absolute() => {
                let mut errors = crate::model::FieldErrors::new();
                errors.push("pjsip", "must be an absolute path on rayand's host");
                return Err(errors.into());
            }
            Some(path) => PathBuf::from(path),
            None => default_root,
        };
        let (plan, dialplan) = self.plan(root.clone()).await?;
        let mut view = ImportView {
            dry_run,
            extensions: plan.extensions.clone(),
            trunks: plan.trunks.clone(),
            left: plan.left.clone(),
            dialplan,
            warnings: plan.warnings.clone(),
            files: Vec::new(),
            import_id: None,
            apply: None,
            switched_over: Vec::new(),
        };
        if dry_run {
            let providers = store::snapshot::provider_templates(self.writer.db()).await?;
            view.files = self.diffs(&plan, &root, &providers);
            return Ok(view);
        }
        if plan.adopted.is_empty() && plan.adopted_trunks.is_empty() {
            return Ok(view);
        }
        if let Some(why) = self.ami.unavailable() {
            return Err(ServiceError::Unavailable(format!(
                "Asterisk is not reachable ({why}): an import compares every phone before and after, so it waits for Asterisk"
            )));
        }
        let phones: HashSet<String> = plan.adopted.iter().map(|e| e.number.clone()).collect();
        let numbers: Vec<String> = plan
            .adopted
            .iter()
            .map(|e| e.number.clone())
            .chain(plan.adopted_trunks.iter().map(|t| t.name.clone()))
            .collect();
        let before = self.loaded(&numbers, &plan.default_realm).await?;
        let (import_id, apply, report) = self.switch_over(actor, &plan, &view).await?;
        view.import_id = import_id;
        view.apply = Some(apply);
        if report.is_some() {
            let after = self.loaded(&numbers, &plan.default_realm).await?;
            view.switched_over = numbers
                .iter()
                .map(|n| {
                    let (status, detail) = match (before.get(n), after.get(n)) {
                        (_, None) => (
                            Outcome::Failed,
                            Some(
                                "Asterisk does not have the endpoint after the switch-over".into(),
                            ),
                        ),
                        (None, Some(_)) => (
                            Outcome::Verified,
                            Some("Asterisk had not loaded it before; it has now".into()),
                        ),
                        (Some(b), Some(a)) => {
                            let changes = a.changes_from(b, phones.contains(n));
                            if changes.is_empty() {
                                (Outcome::Verified, None)
                            } else {
                                (Outcome::Failed, Some(changes.join("; ")))
                            }
                        }
                    };
                    SwitchedOver {
                        kind: if phones.contains(n) {
                            "extension"
                        } else {
                            "trunk"
                        }
                        .into(),
                        name: n.clone(),
                        status,
                        detail,
                    }
                })
                .collect();
        }
        Ok(view)
    }

    /// What Asterisk shows for each of `numbers` now (absent: not loaded).
    async fn loaded(
        &self,
        numbers: &[String],
        default_realm: &str,
    ) -> Result<BTreeMap<String, Loaded>, ServiceError> {
        let ami = self.ami.clone();
        let results: Vec<Result<(String, Option<Loaded>), crate::ami::AmiError>> =
            stream::iter(numbers.iter().cloned())
                .map(|n| {
                    let ami = ami.clone();
                    async move {
                        let details = ami.pjsip_show_endpoint(&n).await?;
                        Ok((n, details.as_ref().map(|d| Loaded::of(d, default_realm))))
                    }
                })
                .buffer_unordered(COMPARE_CONCURRENCY)
                .collect()
                .await;
        let mut out = BTreeMap::new();
        for result in results {
            let (n, loaded) = result.map_err(|e| {
                ServiceError::Unavailable(format!("Asterisk is not reachable: {e}"))
            })?;
            if let Some(loaded) = loaded {
                out.insert(n, loaded);
            }
        }
        Ok(out)
    }

    /// Commits the adopted rows and edits the hand-written files inside the
    /// apply worker, then waits for the one apply that follows.
    async fn switch_over(
        &self,
        actor: &Actor,
        plan: &import::Plan,
        view: &ImportView,
    ) -> Result<
        (
            Option<i64>,
            ApplyView,
            Option<Arc<crate::apply::ApplyReport>>,
        ),
        ServiceError,
    > {
        let rows: Vec<ExtensionRow> = plan
            .adopted
            .iter()
            .map(|e| ExtensionRow {
                number: e.number.clone(),
                name: e.name.clone(),
                template: e.template.clone(),
                context: e.context.clone(),
                codecs: e.codecs.clone(),
                max_contacts: e.max_contacts,
                caller_id: e.caller_id.clone(),
                enabled: true,
                auth: e.auth.clone(),
                options: e.options.clone(),
                transport: e.transport.clone(),
            })
            .collect();
        let trunk_rows: Vec<store::trunks::TrunkRow> = plan
            .adopted_trunks
            .iter()
            .map(|t| store::trunks::TrunkRow {
                name: t.name.clone(),
                provider: t.provider.clone(),
                username: t.username.clone(),
                secret_enc: t.password.as_deref().map(|p| self.secrets.encrypt(p)),
                server: t.server.clone(),
                port: t.port,
                did: t.did.clone(),
                context: t.context.clone(),
                codecs: t.codecs.clone(),
                match_addresses: t.match_addresses.clone(),
                enabled: true,
                options: t.options.clone(),
                transport: t.transport.clone(),
            })
            .collect();
        let objects: Vec<ObjectRef> = rows
            .iter()
            .map(|r| ObjectRef::extension(&r.number))
            .chain(trunk_rows.iter().map(|t| ObjectRef::trunk(&t.name)))
            .collect();
        let originals: BTreeMap<String, String> = plan
            .edits
            .iter()
            .map(|e| (e.path.display().to_string(), e.before.clone()))
            .collect();
        let edits: Vec<(PathBuf, String)> = plan
            .edits
            .iter()
            .map(|e| (e.path.clone(), e.after.clone()))
            .collect();
        let plan_json = serde_json::json!({
            "extensions": view.extensions,
            "trunks": view.trunks,
            "left": view.left,
            "dialplan": view.dialplan,
        });
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let writer = self.writer.clone();
        let actor = actor.clone();
        let keep_backups = self.keep_backups;
        let audited: Vec<ObjectRef> = objects.clone();
        let prepare: crate::apply::Prepare = Box::new(move || {
            Box::pin(async move {
                let result = async {
                    let mut write = writer.write(&actor).await?;
                    store::extensions::insert_all(&*write, rows).await?;
                    for row in trunk_rows {
                        store::trunks::insert(&*write, row).await?;
                    }
                    write
                        .audit_all(
                            Action::Create,
                            audited.into_iter().map(|o| (o, None)).collect(),
                        )
                        .await?;
                    let id = store::imports::record(
                        &*write,
                        &actor.name,
                        plan_json,
                        serde_json::json!(originals),
                    )
                    .await?;
                    write_edits(&edits, &originals, keep_backups)?;
                    if let Err(e) = write.commit().await {
                        restore(&originals);
                        return Err(e);
                    }
                    Ok::<i64, ServiceError>(id)
                }
                .await;
                let _ = done_tx.send(result);
            })
        });
        let (apply, report) = self
            .writer
            .apply_prepared(
                format!("import of {} object(s)", objects.len()),
                prepare,
                &objects,
                SWITCH_OVER_WAIT,
            )
            .await;
        match done_rx.await {
            Ok(Ok(id)) => Ok((Some(id), apply, report)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ServiceError::Unavailable(
                "the apply worker stopped before the import ran".into(),
            )),
        }
    }

    /// The unified diff of each file a dry run would change: the hand-written
    /// files without the adopted sections, and pjsip.conf with the managed
    /// blocks the adopted phones render to.
    fn diffs(
        &self,
        plan: &import::Plan,
        root: &Path,
        providers: &[crate::templates::ProviderTemplate],
    ) -> Vec<FileDiff> {
        let mut texts: BTreeMap<PathBuf, (String, String)> = plan
            .edits
            .iter()
            .map(|e| (e.path.clone(), (e.before.clone(), e.after.clone())))
            .collect();
        if !plan.adopted.is_empty() || !plan.adopted_trunks.is_empty() {
            let before = std::fs::read_to_string(root).unwrap_or_default();
            let base = texts
                .get(root)
                .map(|(_, after)| after.clone())
                .unwrap_or_else(|| before.clone());
            let mut after = base.clone();
            if let Ok(mut file) = ManagedFile::parse(&base, crate::render::ASTERISK_LEADER) {
                for ext in &plan.adopted {
                    if let Ok(Some(block)) = render_extension(ext, &self.render) {
                        let _ = file.upsert(&block);
                    }
                }
                for trunk in &plan.adopted_trunks {
                    let provider = crate::templates::find_provider(providers, &trunk.provider);
                    if let Some(Ok(Some(block))) =
                        provider.map(|p| crate::render::render_trunk(trunk, p, &self.render))
                    {
                        let _ = file.upsert(&block);
                    }
                }
                after = file.render();
            }
            texts.insert(root.to_owned(), (before, after));
        }
        texts
            .into_iter()
            .map(|(path, (before, after))| {
                let label = import::shown(&path, &self.config_dir);
                FileDiff {
                    diff: crate::render::diff::unified_diff(&label, &before, &after),
                    path: path.display().to_string(),
                }
            })
            .collect()
    }
}

/// A file that cannot be read as config is refused with its name and line.
fn refused(e: conf::ConfError) -> ServiceError {
    let mut errors = crate::model::FieldErrors::new();
    errors.push("pjsip", e.to_string());
    errors.into()
}

/// Writes each edited file (keeping a backup); undoes them all on a failure.
fn write_edits(
    edits: &[(PathBuf, String)],
    originals: &BTreeMap<String, String>,
    keep_backups: usize,
) -> Result<(), ServiceError> {
    let options = WriteOptions {
        keep_backups,
        new_file_mode: 0o640,
        with_diff: false,
    };
    for (path, text) in edits {
        if let Err(e) = crate::render::write_atomic(path, text.as_bytes(), &options) {
            restore(originals);
            return Err(ServiceError::Unavailable(format!(
                "cannot write {}: {e}; the files are as they were",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Puts every edited file back as it was.
fn restore(originals: &BTreeMap<String, String>) {
    let options = WriteOptions {
        keep_backups: 0,
        new_file_mode: 0o640,
        with_diff: false,
    };
    for (path, text) in originals {
        if let Err(e) = crate::render::write_atomic(Path::new(path), text.as_bytes(), &options) {
            tracing::error!(path, error = %e, "cannot restore a file the import edited");
        }
    }
}
