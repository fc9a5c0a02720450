//! Whether rayan can talk to Asterisk: the one summary of the AMI link that
//! readiness, the status line and the `asterisk` event all report.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// The first connection or login is under way.
    Connecting,
    Connected,
    /// Unreachable, refused, or shut down.
    Disconnected,
}
