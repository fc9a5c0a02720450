//! Kamailio: dispatcher and address lists, and the JSON-RPC client.
//!
//! The flow of one apply: render the lists ([`dispatcher_blocks`],
//! [`address_blocks`], or whole files with [`render_dispatcher_list`] /
//! [`render_address_list`]), write them atomically, reload with
//! [`KamailioRpc::reload_with_retry`], then compare with what Kamailio loaded
//! ([`check_dispatcher`], [`check_addresses`]). A transport error
//! ([`KamailioError::is_transport`]) means "keep the change pending".

mod error;
mod lists;
mod live;
mod rpc;
mod verify;

#[cfg(test)]
mod parser_model;

pub use crate::model::kamailio::{
    Attributes, Destination, DispatcherState, MAX_ATTR_VALUE_LEN, MAX_ATTRS_LEN, MAX_TAG_LEN,
    TrustedAddress, canonical_sip_uri, sip_uri,
};
pub use error::KamailioError;
pub use lists::{
    ADDRESS_HEADER, DEFAULT_MAX_SUBNETS, DISPATCHER_HEADER, address_block_id, address_blocks,
    dispatcher_block_id, dispatcher_blocks, render_address_list, render_dispatcher_list,
};
pub use live::{LiveAddress, LiveDestination, LiveFlags, LiveState};
pub use rpc::{DEFAULT_RELOAD_WINDOW, KamailioRpc, ReloadKind, ReloadReport, StateTarget};
pub use verify::{
    AddressCheck, DestinationCheck, Difference, Outcome, check_addresses, check_dispatcher,
    verify_addresses, verify_destinations,
};
