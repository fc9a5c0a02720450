//! What the worker remembers across restarts: the content of each file as it was
//! when Asterisk last reloaded it, and the transports it had then. A daemon killed
//! between writing a file and reloading it finds the file differs from what was
//! reloaded and reloads it at start, without a manual step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Persisted {
    /// File name → SHA-256 of its content at the last successful reload.
    pub reloaded: BTreeMap<String, String>,
    /// Hand-written transport sections at the last successful PJSIP reload.
    pub transports: Option<Vec<String>>,
    /// What waits for an Asterisk restart, by transport name (or `hand-written`).
    #[serde(default)]
    pub restart_waiting: BTreeMap<String, String>,
    /// When the Asterisk last seen started (`CoreStatus`), to tell a restart.
    #[serde(default)]
    pub asterisk_startup: Option<String>,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("apply-state.json")
}

pub fn load(state_dir: &Path) -> Persisted {
    std::fs::read(path(state_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn save(state_dir: &Path, state: &Persisted) -> std::io::Result<()> {
    let tmp = path(state_dir).with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path(state_dir))
}

pub fn digest(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}
