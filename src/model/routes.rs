//! Inbound and outbound call routes.

/// Calls arriving for `did` (optionally only from `trunk`) ring `extension`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRoute {
    pub id: i64,
    pub did: String,
    /// Trunk name; `None`: any trunk.
    pub trunk: Option<String>,
    /// Destination extension number.
    pub extension: String,
}

/// Numbers dialled internally that match `pattern` go out through `trunk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRoute {
    pub id: i64,
    pub name: String,
    /// Asterisk pattern, e.g. `_1NXXNXXXXXX`.
    pub pattern: String,
    /// Trunk name.
    pub trunk: String,
    /// Digits removed from the front before dialling.
    pub strip: u32,
    /// Digits added to the front after stripping.
    pub prepend: String,
    /// Lower runs first.
    pub priority: i32,
    /// Context the route is reachable from (the callers' context).
    pub context: String,
}
