//! Shared helpers: the server binary under test, and the library's wire helpers.
#![allow(dead_code)]

pub mod server;
#[path = "../../../tests/support/wire.rs"]
mod wire;

pub use wire::*;
