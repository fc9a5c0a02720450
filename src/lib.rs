//! rayan: a control plane for Asterisk and Kamailio.
//!
//! Dependencies flow one way: `api` → `service` → `store` / `render` / `ami` /
//! `kamailio` / `events`, all of them on `model`. Nothing imports `api`.

pub mod ami;
pub mod apply;
pub mod config;
pub mod events;
pub mod kamailio;
pub mod model;
pub mod render;
pub mod templates;
