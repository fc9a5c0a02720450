//! The Asterisk Manager Interface client: codec, connection, actions, events, reconnect.

pub mod message;

pub use message::Message;
