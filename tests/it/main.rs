//! The integration tests, as one binary so that the support code compiles and links
//! once. Each module was a test file of its own; they share `support` (real
//! databases, a running daemon, the Asterisk double), `render_support`,
//! `events_support` and `kamailio_support`.
//!
//! Two tests stay binaries of their own because they observe process-wide state
//! that other tests would disturb: `tests/ami_logging.rs` (tracing's per-call-site
//! interest cache) and `tests/health_metrics.rs` (the metrics recorder).

#[macro_use]
mod support;
mod events_support;
mod kamailio_support;
mod render_support;

mod ami_client_actions;
mod ami_client_events;
mod ami_client_login;
mod ami_client_resilience;
mod ami_codec;
mod ami_double;
mod ami_double_fidelity;
mod ami_double_live;
mod api_calls;
mod api_events;
mod api_extensions;
mod api_failures;
mod api_routes;
mod api_templates;
mod api_transports;
mod api_trunks;
mod apply;
mod apply_crash;
mod cli;
mod cli_config;
mod cli_events;
mod cluster;
mod events_hub;
mod events_props;
mod events_transcripts;
mod import;
mod kamailio_api;
mod kamailio_dispatcher;
mod kamailio_hostile;
mod kamailio_permissions;
mod kamailio_rate_limit;
mod kamailio_unreachable;
mod live_status;
mod packaging;

mod render_dialplan;
mod render_extensions;
mod render_injection;
mod render_managed;
mod render_sync;
mod render_trunks;
mod render_write;
mod security_blocking;
mod service_process;
mod shutdown_during_apply;
mod systemd_unit;
