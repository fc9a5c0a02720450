//! Rendering everything from one database snapshot.

use std::collections::HashSet;

use rayon::prelude::*;

use super::dialplan::render_dialplan;
use super::extension::render_extension;
use super::trunk::render_trunk;
use super::{ManagedBlock, RenderError, RenderSettings};
use crate::model::{Extension, InboundRoute, OutboundRoute, Trunk};
use crate::templates::{ProviderTemplate, find_provider};

/// What the apply worker reads from the database before rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSnapshot {
    pub extensions: Vec<Extension>,
    pub trunks: Vec<Trunk>,
    pub inbound_routes: Vec<InboundRoute>,
    pub outbound_routes: Vec<OutboundRoute>,
}

/// The managed blocks of both Asterisk files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedConfig {
    /// `Extension <number>` (by number) then `Trunk <name>` (by name).
    pub pjsip: Vec<ManagedBlock>,
    /// `Dialplan <context>` (by context) then `Route outbound <name>` (by name).
    pub extensions: Vec<ManagedBlock>,
}

/// Renders the snapshot. Disabled extensions and trunks produce nothing; any invalid or
/// inconsistent object fails the whole render, so a half-rendered config is never
/// written.
pub fn render_all(
    snapshot: &ConfigSnapshot,
    providers: &[ProviderTemplate],
    settings: &RenderSettings,
) -> Result<RenderedConfig, RenderError> {
    // The two files do not depend on each other: render them side by side.
    let (pjsip, extensions) = rayon::join(
        || render_pjsip(snapshot, providers, settings),
        || render_dialplan(snapshot, settings),
    );
    Ok(RenderedConfig {
        pjsip: pjsip?,
        extensions: extensions?,
    })
}

fn render_pjsip(
    snapshot: &ConfigSnapshot,
    providers: &[ProviderTemplate],
    settings: &RenderSettings,
) -> Result<Vec<ManagedBlock>, RenderError> {
    let mut extensions: Vec<&Extension> = snapshot.extensions.iter().collect();
    extensions.sort_by(|a, b| (a.number.len(), &a.number).cmp(&(b.number.len(), &b.number)));
    let mut trunks: Vec<&Trunk> = snapshot.trunks.iter().filter(|t| t.enabled).collect();
    trunks.sort_by(|a, b| a.name.cmp(&b.name));
    for pair in extensions.windows(2) {
        if pair[0].number == pair[1].number {
            return Err(RenderError::Duplicate {
                what: "extension",
                name: pair[0].number.clone(),
            });
        }
    }
    for pair in snapshot_trunk_names(snapshot).windows(2) {
        if pair[0] == pair[1] {
            return Err(RenderError::Duplicate {
                what: "trunk",
                name: pair[0].to_owned(),
            });
        }
    }
    // Objects are independent of each other and most of the work: render them on
    // every core.
    let extension_blocks: Vec<Option<ManagedBlock>> = extensions
        .par_iter()
        .map(|extension| render_extension(extension, settings))
        .collect::<Result<_, _>>()?;
    let trunk_blocks: Vec<Option<ManagedBlock>> = trunks
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
        .collect::<Result<_, _>>()?;

    let mut pjsip = Vec::with_capacity(extensions.len() + trunks.len());
    // Sections are unique per (type, name): an endpoint `1001` from an extension and one
    // from a trunk named `1001` would collide.
    let mut endpoint_names: HashSet<&str> = HashSet::with_capacity(pjsip.capacity());
    for (extension, block) in extensions.iter().zip(extension_blocks) {
        if let Some(block) = block {
            endpoint_names.insert(&extension.number);
            pjsip.push(block);
        }
    }
    for (trunk, block) in trunks.iter().zip(trunk_blocks) {
        if let Some(block) = block {
            if !endpoint_names.insert(&trunk.name) {
                return Err(RenderError::Duplicate {
                    what: "pjsip endpoint",
                    name: trunk.name.clone(),
                });
            }
            pjsip.push(block);
        }
    }
    Ok(pjsip)
}

/// Every trunk's name (enabled or not), sorted.
fn snapshot_trunk_names(snapshot: &ConfigSnapshot) -> Vec<&str> {
    let mut names: Vec<&str> = snapshot.trunks.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    names
}
