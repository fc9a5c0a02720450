//! Shared test support. Each test binary uses a different part of it.
#![allow(dead_code, unused_imports)]

pub mod asterisk;
