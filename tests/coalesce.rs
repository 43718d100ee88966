//! The unit tests of `examples/serve/coalesce.rs` (one write per turn for HTTP/2):
//! `cargo test` builds the examples but runs none of their tests, so the module is
//! compiled here as well.

#[path = "../examples/serve/coalesce.rs"]
mod coalesce;
