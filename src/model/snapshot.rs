//! Everything the renderer needs, read from the database in one transaction.

use super::{Extension, InboundRoute, OutboundRoute, Transport, Trunk};

/// What the apply worker reads from the database before rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSnapshot {
    pub extensions: Vec<Extension>,
    pub trunks: Vec<Trunk>,
    pub transports: Vec<Transport>,
    pub inbound_routes: Vec<InboundRoute>,
    pub outbound_routes: Vec<OutboundRoute>,
    /// Source addresses refused by Asterisk's SIP service.
    pub blocked: Vec<std::net::IpAddr>,
}
