//! rayan: a control plane for Asterisk and Kamailio.
//!
//! Dependencies flow one way: `api` → `service` → `apply` → `store` / `render` /
//! `ami` / `kamailio` / `events`, all of them on `model`. Nothing imports `api`
//! but the wiring. The `layering` test holds every module to its list.

pub mod ami;
pub mod api;
pub mod apply;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod events;
pub mod import;
pub mod kamailio;
pub mod lifecycle;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod network;

pub mod render;
pub mod report;
pub mod secrets;
pub mod server;
pub mod service;
pub mod store;
pub mod systemd;
pub mod templates;

#[cfg(test)]
mod layering;
