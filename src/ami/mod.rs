//! The Asterisk Manager Interface client: codec, connection, actions, events, reconnect.
