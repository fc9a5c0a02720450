//! Shared test support: real databases, a running daemon, and the Asterisk double.
#![allow(dead_code)]

pub mod daemon;
pub mod db;
