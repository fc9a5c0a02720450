//! What rayan keeps for Kamailio: dispatcher destinations and trusted addresses,
//! with the syntax rules their list lines must follow.

pub mod address;
pub mod dispatcher;
pub mod token;

pub use address::{MAX_TAG_LEN, TrustedAddress};
pub use dispatcher::{
    Attributes, Destination, DispatcherState, MAX_ATTR_VALUE_LEN, MAX_ATTRS_LEN, canonical_sip_uri,
    sip_uri,
};
