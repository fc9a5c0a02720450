//! sea-orm entities, one per table (see `migrations/`).

pub mod api_token;
pub mod applies;
pub mod audit_log;
pub mod blocked_address;
pub mod call;
pub mod cluster;
pub mod extension;
pub mod extension_template;
pub mod import;
pub mod inbound_route;
pub mod kamailio_address;
pub mod kamailio_dispatcher;
pub mod node;
pub mod object_outcome;
pub mod outbound_route;
pub mod provider_template;
pub mod transport;
pub mod trunk;
