//! Rendering: section text from templates, the managed-section file editor, atomic writes.
//!
//! The apply worker calls [`render_all`] on a database snapshot, then [`sync_files`] (or
//! [`plan_file`] for a dry run) for `pjsip.conf` with [`RenderedConfig::pjsip`] and
//! `extensions.conf` with [`RenderedConfig::extensions`], both with the `;` comment
//! leader. Kamailio's lists use the same editor with `#`.

pub mod blocklist;
pub mod dialplan;
pub mod diff;
pub mod error;
pub mod extension;
pub mod managed;
pub mod section;
pub mod settings;
pub mod snapshot;
pub mod sync;
pub mod transport;
pub mod trunk;
pub mod write;

pub use dialplan::{check_dial_pattern, check_strip_prepend};
pub use error::RenderError;
pub use extension::render_extension;
pub use managed::{Drift, DriftKind, Malformed, MalformedKind, ManagedBlock, ManagedFile};
pub use settings::RenderSettings;
pub use snapshot::{ConfigSnapshot, RenderFailure, RenderedConfig, render_all, render_isolated};
pub use sync::{
    FileSync, SyncOutcome, SyncPlan, edit_file, owns_every_block, plan_file, plan_file_keeping,
    sync_file, sync_files,
};
pub use transport::render_transport;
pub use trunk::render_trunk;
pub use write::{WriteOptions, WriteOutcome, backup_path, write_atomic};

/// The comment leader of Asterisk's config files.
pub const ASTERISK_LEADER: &str = ";";
/// The comment leader of Kamailio's `dispatcher.list` and `address.list`.
pub const KAMAILIO_LEADER: &str = "#";
