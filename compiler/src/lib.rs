//! `routec`: the routes language's compiler, as a library.
//!
//! The pipeline reads in one direction, one module per stage:
//! source -> [`syntax`] (pest parse tree, comments kept) -> [`ast`] (typed,
//! every value with its span) -> [`check`] (semantic analysis, diagnostics)
//! -> [`model`] (the checked meaning) -> [`emit`] (one module per output).
//! Diagnostics ([`diagnostic`]) carry byte spans from the first stage to the
//! last. The command-line front end lives in `main.rs`; this crate owns no
//! I/O except [`output`], which writes files atomically.

pub mod model;
pub mod emit;
