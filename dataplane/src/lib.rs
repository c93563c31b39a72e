//! `dataplane`: the Dating Platform's API gateway, as a library.
//!
//! Layers, outermost first: listener -> normalization -> table lookup ->
//! middleware chain -> balancer -> upstream client. The binary in `main.rs`
//! only parses flags and starts the server.

pub mod metric_names;
