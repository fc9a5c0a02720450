//! Kamailio: dispatcher and address lists, and the JSON-RPC client.
