//! Helpers for the generator tests: the DSL programs under test (the
//! repository's `routes.dsl` and the small fixtures in `tests/fixtures/`),
//! compiled and emitted exactly as `routec build` does, and where the JSON
//! Schemas they are validated against live (copies in `tests/schemas/`).
//!
//! It owns no assertions; the tests in `tests/tests/generators_*.rs` do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The repository root (this package lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A DSL program under test.
pub struct Program {
    /// `routes` for the repository's `routes.dsl`, else the fixture's stem.
    pub name: String,
    pub path: PathBuf,
}

/// `routes.dsl` first, then every `tests/fixtures/*.dsl` by name.
pub fn programs() -> Vec<Program> {
    let mut programs = vec![Program {
        name: "routes".into(),
        path: repo_root().join("routes.dsl"),
    }];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "dsl"))
        .collect();
    fixtures.sort();
    programs.extend(fixtures.into_iter().map(|path| Program {
        name: path.file_stem().unwrap().to_string_lossy().into_owned(),
        path,
    }));
    programs
}

/// The checked model of `program`. Panics with the rendered diagnostics if
/// the program does not compile.
pub fn model(program: &Program) -> routec::model::Model {
    let source = std::fs::read_to_string(&program.path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", program.path.display()));
    let file_name = program.path.file_name().unwrap().to_string_lossy();
    match routec::compile(&source, &file_name) {
        Ok(compiled) => compiled.model,
        Err(d) => panic!(
            "{} does not compile:\n{}",
            program.path.display(),
            d.render(false)
        ),
    }
}

/// Every text output of `program` (all but the binary `*.bin`), by path, as
/// `routec build` emits it.
pub fn emit(program: &Program) -> BTreeMap<String, String> {
    routec::emit::emit_all(&model(program))
        .unwrap_or_else(|e| panic!("{}: {e}", program.path.display()))
        .into_iter()
        .filter(|o| !o.path.ends_with(".bin"))
        .map(|o| {
            let text =
                String::from_utf8(o.contents).unwrap_or_else(|_| panic!("{} is not UTF-8", o.path));
            (o.path, text)
        })
        .collect()
}

/// One output of `program`, parsed from YAML.
pub fn yaml(outputs: &BTreeMap<String, String>, path: &str) -> serde_json::Value {
    let text = outputs
        .get(path)
        .unwrap_or_else(|| panic!("no output {path}"));
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}\n{text}"))
}

/// The public JSON Schemas, copied into `tests/schemas/` with their sources.
pub fn schema_dir() -> PathBuf {
    repo_root().join("tests/schemas")
}
