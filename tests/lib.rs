//! Shared helpers for the workspace-level tests.

pub mod generators;
#[path = "support/tools.rs"]
pub mod tools;
