//! `routec`: the routes language's compiler, as a library.
//!
//! The pipeline reads in one direction, one module per stage:
//! source -> [`syntax::parse`] (pest parse tree, comments kept) ->
//! [`ast::read`] (typed declarations, every value with its span) ->
//! [`check`] (semantic analysis) -> [`modeling::build_model`] (defaults
//! applied, references resolved) -> [`model`] (the checked meaning) ->
//! [`emit`] (one module per output).
//! Diagnostics ([`diagnostic`]) carry byte spans from the first stage to the
//! last. [`fmt`] and [`explain`] are the other two consumers of the tree and
//! the model. The command-line front end lives in `main.rs`; this crate does
//! no I/O except in [`output`], which writes files atomically.

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod emit;
pub mod explain;
pub mod fmt;
pub mod inspect;
pub mod model;
pub mod modeling;
pub mod output;
pub mod routes;
pub mod syntax;

use sha2::{Digest, Sha256};

use diagnostic::Diagnostics;
use model::Model;

/// A program that compiled: its model, and the warnings and notes found on
/// the way (rendered like errors).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub model: Model,
    pub diagnostics: Diagnostics,
}

/// Compile `source` (read from `file_name`, which diagnostics and the model
/// name) into its checked model. Errors come back as [`Diagnostics`] holding
/// every error found, not just the first.
pub fn compile(source: &str, file_name: &str) -> Result<Compiled, Diagnostics> {
    let mut diagnostics = Diagnostics::new(file_name, source);
    let program = match syntax::parse(source) {
        Ok(file) => ast::read(&file, &mut diagnostics.items),
        Err(error) => {
            diagnostics.items.push(*error);
            return Err(diagnostics);
        }
    };
    check::check(&program, &mut diagnostics.items);
    diagnostics.sort();
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
    let model = modeling::build_model(&program, file_name, &sha256);
    Ok(Compiled { model, diagnostics })
}

/// Parse and check only, returning every finding (for `routec check`).
pub fn diagnose(source: &str, file_name: &str) -> Diagnostics {
    match compile(source, file_name) {
        Ok(compiled) => compiled.diagnostics,
        Err(diagnostics) => diagnostics,
    }
}

/// Re-exported for callers that build their own diagnostics.
pub use diagnostic::Severity;
