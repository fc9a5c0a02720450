//! Domain types and the validation rules every value must pass before it can
//! reach a config file. Nothing here touches the database, the network or a file.

pub mod address;
pub mod apply;
pub mod blocked;
pub mod call;
pub mod dial_pattern;
pub mod extension;
pub mod kamailio;
pub mod link;
pub mod object;
pub mod options;
pub mod pjsip;
pub mod role;
pub mod routes;
pub mod safe;
pub mod snapshot;
pub mod transport;
pub mod trunk;
pub mod validate;

pub use blocked::BlockedAddress;
pub use extension::{Extension, ExtensionAuth};
pub use link::LinkState;
pub use object::{ConfigFile, ObjectKind, ObjectRef};
pub use role::Role;
pub use routes::{InboundRoute, OutboundRoute};
pub use snapshot::ConfigSnapshot;
pub use transport::{Transport, TransportProtocol};
pub use trunk::Trunk;
pub use validate::{FieldError, FieldErrors};
