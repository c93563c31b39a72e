//! Shared helpers for the workspace-level tests.

pub mod echo;
pub mod generators;
#[path = "support/tools.rs"]
pub mod tools;
