//! Rendering everything from one database snapshot.

use std::collections::HashSet;
use std::sync::Arc;

use rayon::prelude::*;

use super::dialplan::render_dialplan;
use super::extension::render_extension;
use super::transport::render_transport;
use super::trunk::render_trunk;
use super::{ManagedBlock, RenderError, RenderSettings};
pub use crate::model::ConfigSnapshot;
use crate::model::{ConfigFile, Extension, ObjectRef, Trunk};
use crate::templates::{ProviderTemplate, find_provider};

/// An object the renderer refused. Every other object is still rendered; this one keeps
/// the block it already has in the file (or gets none, if it never had one).
#[derive(Debug, Clone)]
pub struct RenderFailure {
    pub object: ObjectRef,
    pub error: Arc<RenderError>,
}

impl RenderFailure {
    pub(crate) fn new(object: ObjectRef, error: RenderError) -> Self {
        RenderFailure {
            object,
            error: Arc::new(error),
        }
    }
}

/// The managed blocks of both Asterisk files, and the objects that could not be rendered.
#[derive(Debug, Clone, Default)]
pub struct RenderedConfig {
    /// `Transport <name>` (by name), `Extension <number>` (by number), then
    /// `Trunk <name>` (by name): a transport is defined before what names it.
    pub pjsip: Vec<ManagedBlock>,
    /// `Dialplan <context>` (by context) then `Route outbound <name>` (by name).
    pub extensions: Vec<ManagedBlock>,
    /// One entry per refused object, in the order found.
    pub failures: Vec<RenderFailure>,
}

impl RenderedConfig {
    /// The ids of the blocks of `file` that keep their text because their object failed.
    pub fn kept(&self, file: ConfigFile) -> Vec<String> {
        self.failures
            .iter()
            .filter_map(|f| f.object.block())
            .filter(|(f, _)| *f == file)
            .map(|(_, id)| id)
            .collect()
    }
}

/// Renders the snapshot. Disabled extensions and trunks produce nothing. An invalid or
/// inconsistent object is listed in [`RenderedConfig::failures`] and rendered as nothing,
/// so one bad row never stops the others from reaching Asterisk.
pub fn render_isolated(
    snapshot: &ConfigSnapshot,
    providers: &[ProviderTemplate],
    settings: &RenderSettings,
) -> RenderedConfig {
    // The two files do not depend on each other: render them side by side.
    let ((pjsip, mut failures), (extensions, dialplan_failures)) = rayon::join(
        || render_pjsip(snapshot, providers, settings),
        || render_dialplan(snapshot, settings),
    );
    for failure in dialplan_failures {
        // An object refused in both files is reported once.
        if !failures.iter().any(|f| f.object == failure.object) {
            failures.push(failure);
        }
    }
    RenderedConfig {
        pjsip,
        extensions,
        failures,
    }
}

/// [`render_isolated`], failing as a whole on the first refused object: for checking
/// that a snapshot renders completely.
pub fn render_all(
    snapshot: &ConfigSnapshot,
    providers: &[ProviderTemplate],
    settings: &RenderSettings,
) -> Result<RenderedConfig, RenderError> {
    let mut rendered = render_isolated(snapshot, providers, settings);
    if rendered.failures.is_empty() {
        return Ok(rendered);
    }
    // Nothing else holds the failures yet: the first error can be moved out.
    let first = rendered.failures.swap_remove(0).error;
    Err(
        Arc::try_unwrap(first).unwrap_or_else(|shared| RenderError::InvalidBlock {
            id: String::new(),
            reason: shared.to_string(),
        }),
    )
}

fn render_pjsip(
    snapshot: &ConfigSnapshot,
    providers: &[ProviderTemplate],
    settings: &RenderSettings,
) -> (Vec<ManagedBlock>, Vec<RenderFailure>) {
    let mut failures = Vec::new();
    let mut extensions: Vec<&Extension> = snapshot.extensions.iter().collect();
    extensions.sort_by(|a, b| (a.number.len(), &a.number).cmp(&(b.number.len(), &b.number)));
    extensions.dedup_by(|later, first| {
        let twice = later.number == first.number;
        if twice {
            failures.push(RenderFailure::new(
                ObjectRef::extension(&later.number),
                RenderError::Duplicate {
                    what: "extension",
                    name: later.number.clone(),
                },
            ));
        }
        twice
    });
    let mut trunks: Vec<&Trunk> = snapshot.trunks.iter().collect();
    trunks.sort_by(|a, b| a.name.cmp(&b.name));
    trunks.dedup_by(|later, first| {
        let twice = later.name == first.name;
        if twice {
            failures.push(RenderFailure::new(
                ObjectRef::trunk(&later.name),
                RenderError::Duplicate {
                    what: "trunk",
                    name: later.name.clone(),
                },
            ));
        }
        twice
    });
    trunks.retain(|t| t.enabled);
    // Objects are independent of each other and most of the work: render them on
    // every core.
    let extension_blocks: Vec<Result<Option<ManagedBlock>, RenderError>> = extensions
        .par_iter()
        .map(|extension| render_extension(extension, settings))
        .collect();
    let trunk_blocks: Vec<Result<Option<ManagedBlock>, RenderError>> = trunks
        .par_iter()
        .map(|trunk| {
            let provider = find_provider(providers, &trunk.provider).ok_or_else(|| {
                RenderError::UnknownProvider {
                    trunk: trunk.name.clone(),
                    provider: trunk.provider.clone(),
                }
            })?;
            render_trunk(trunk, provider, settings)
        })
        .collect();

    let mut pjsip = Vec::with_capacity(snapshot.transports.len() + extensions.len() + trunks.len());
    for transport in &snapshot.transports {
        match render_transport(transport) {
            Ok(block) => pjsip.push(block),
            Err(error) => failures.push(RenderFailure::new(
                ObjectRef::transport(&transport.name),
                error,
            )),
        }
    }
    if settings.blocklist_in_asterisk {
        pjsip.extend(super::blocklist::render_blocklist(&snapshot.blocked));
    }
    // Sections are unique per (type, name): an endpoint `1001` from an extension and one
    // from a trunk named `1001` would collide.
    let mut endpoint_names: HashSet<&str> = HashSet::with_capacity(pjsip.capacity());
    for (extension, block) in extensions.iter().zip(extension_blocks) {
        match block {
            Ok(Some(block)) => {
                endpoint_names.insert(&extension.number);
                pjsip.push(block);
            }
            Ok(None) => {}
            Err(error) => failures.push(RenderFailure::new(
                ObjectRef::extension(&extension.number),
                error,
            )),
        }
    }
    for (trunk, block) in trunks.iter().zip(trunk_blocks) {
        match block {
            Ok(Some(_)) if !endpoint_names.insert(&trunk.name) => {
                failures.push(RenderFailure::new(
                    ObjectRef::trunk(&trunk.name),
                    RenderError::Duplicate {
                        what: "pjsip endpoint",
                        name: trunk.name.clone(),
                    },
                ))
            }
            Ok(Some(block)) => pjsip.push(block),
            Ok(None) => {}
            Err(error) => failures.push(RenderFailure::new(ObjectRef::trunk(&trunk.name), error)),
        }
    }
    (pjsip, failures)
}
