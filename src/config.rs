//! The daemon settings.
