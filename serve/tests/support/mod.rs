//! Shared helpers: the server binary under test, HTTP/2 by hand, and the library's wire
//! helpers.
#![allow(dead_code)]

pub mod h2;
pub mod server;
#[path = "../../../tests/support/wire.rs"]
mod wire;

pub use wire::*;
