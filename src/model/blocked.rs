//! A source address blocked from reaching Asterisk's SIP service.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedAddress {
    pub address: IpAddr,
    pub reason: String,
    /// Failed attempts counted when it was blocked (0 for an admin's block).
    pub failures: u32,
    /// `security` for an automatic block, else who blocked it.
    pub blocked_by: String,
    pub created_at: DateTime<Utc>,
    /// `None`: until an admin lifts it.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who makes automatic blocks, in the audit log and `blocked_by`.
pub const AUTOMATIC: &str = "security";
