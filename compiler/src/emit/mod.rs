//! Emitters: everything `routec build` writes, computed from the checked
//! [`Model`](crate::model::Model).
//!
//! Each output has its own module; this module only lists them. Emitters are
//! pure: they return bytes, and the caller decides whether to write them
//! (`build`) or compare them with what is on disk (`build --check`). Every
//! emitter must be deterministic byte for byte.

pub mod compose;
pub mod pgbouncer;
pub mod prometheus;
pub mod render;
pub mod rules;
pub mod table;
pub mod topology;
pub mod traefik;

use crate::model::Model;

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Path relative to the output directory, `/`-separated.
    pub path: String,
    pub contents: Vec<u8>,
}

/// Why an emitter could not produce its output. A checked model should
/// always emit; this is a bug or a broken template, and says which.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("template {template}: {message}")]
    Template { template: String, message: String },
    #[error("{output}: {message}")]
    Other { output: String, message: String },
}

/// Every output for `model`, sorted by path, as a first build would write
/// them (no previous outputs).
pub fn emit_all(model: &Model) -> Result<Vec<Output>, EmitError> {
    emit_all_with_previous(model, &|_| None)
}

/// Every output for `model`, sorted by path. `previous` returns the bytes
/// an output path currently holds, if any: `routes.bin` keeps its
/// generation number when its content is unchanged, so rebuilding an
/// unchanged file is byte-for-byte identical.
pub fn emit_all_with_previous(
    model: &Model,
    previous: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Result<Vec<Output>, EmitError> {
    let mut outputs = Vec::new();
    outputs.push(model_json(model)?);
    outputs.push(table::emit(model, previous("routes.bin").as_deref())?);
    let renderer = render::Renderer::new()?;
    outputs.extend(traefik::emit(model, &renderer)?);
    outputs.push(compose::emit(model, &renderer)?);
    outputs.extend(prometheus::emit(model, &renderer)?);
    outputs.extend(pgbouncer::emit(model, &renderer)?);
    outputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(outputs)
}

/// `model.json`: the normalized model, for review and tooling.
fn model_json(model: &Model) -> Result<Output, EmitError> {
    let mut json = serde_json::to_string_pretty(model).map_err(|e| EmitError::Other {
        output: "model.json".into(),
        message: e.to_string(),
    })?;
    json.push('\n');
    Ok(Output {
        path: "model.json".into(),
        contents: json.into_bytes(),
    })
}
