//! The Asterisk Manager Interface client: codec, connection, actions, events, reconnect.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rayan::ami::AmiError> {
//! use rayan::ami::{AmiClient, AmiSettings, ReloadOutcome};
//! let client = AmiClient::start(AmiSettings::new("127.0.0.1:5038", "rayan", "secret"));
//! let mut events = client.subscribe();
//! if client.reload_module("res_pjsip.so").await? == ReloadOutcome::Reloaded {
//!     let loaded = client.pjsip_show_endpoint("1001").await?;
//!     assert!(loaded.is_some_and(|e| e.is_complete()));
//! }
//! while let Some(Ok(event)) = events.next().await {
//!     println!("{}", event.masked());
//! }
//! # Ok(()) }
//! ```

mod backoff;
mod bus;
mod client;
pub mod codec;
mod endpoint;
mod error;
mod events;
mod helpers;
mod list;
mod login;
pub mod message;
mod originate;
mod session;
mod settings;
mod state;

pub use client::AmiClient;
pub use codec::{AmiCodec, CodecLimits, Frame};
pub use endpoint::EndpointDetails;
pub use error::AmiError;
pub use events::{EventStream, Lagged};
pub use helpers::{CoreSettings, DialplanLine, ReloadOutcome};
pub use list::{ListResponse, Response};
pub use message::{Masked, Message};
pub use originate::{OriginateRequest, OriginateTarget, Originated};
pub use settings::{AmiSettings, AuthMethod};
pub use state::ConnectionState;
