//! The gateway's modules import in one direction: no module of
//! `dataplane/src` imports another that imports it back, directly or
//! through others. This test reads the crate's own source (every `use` and
//! every `crate::`/`super::`/`self::` path outside comments), resolves each
//! to the module file that defines it, and fails naming the circle when it
//! finds one. A `mod` declaration is not an import; a re-export is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path from the crate root, e.g. `["upstream", "http1", "exchange"]`.
type ModPath = Vec<String>;

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of the crate and its file (binaries excluded).
fn modules(root: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(root).unwrap();
            let mut segments: ModPath = relative
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            match segments.last().map(String::as_str) {
                Some("main") if segments.len() == 1 => continue,
                Some("lib") if segments.len() == 1 => segments.clear(),
                Some("mod") => {
                    segments.pop();
                }
                _ => {}
            }
            found.insert(segments, path);
        }
    }
    found
}

/// The code of `text` without comments (line comments, doc comments and
/// block comments) and string literals, so that a path named in prose or a
/// message is not taken for an import.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => {
                // A char literal such as '"' or '/'.
                i += 3;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

/// `code` without its in-file test modules (`#[cfg(test)] mod … { … }`):
/// what a module's unit tests import is not what the module imports.
fn without_test_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        let trimmed = after.trim_start();
        if !trimmed.starts_with("mod ") {
            out.push_str("#[cfg(test)]");
            rest = after;
            continue;
        }
        let Some(open) = after.find('{') else {
            rest = "";
            break;
        };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Expands `a::b::{c, d::e, self}` into `a::b::c`, `a::b::d::e`, `a::b`.
fn expand_use_tree(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            let p = p.split(" as ").next().unwrap_or(p);
            if p == "self" {
                vec![prefix.to_owned()]
            } else {
                expand_use_tree(&format!("{prefix}::{p}"))
            }
        })
        .collect()
}

/// Every path a file's code names: the trees of its `use` items and the
/// `crate::`, `super::` and `self::` paths in its expressions and types.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let after = &rest[at + 4..];
        rest = after;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = after.find(';') else { break };
        let tree = &after[..end];
        if tree.contains('(') || tree.contains('=') {
            continue;
        }
        paths.extend(expand_use_tree(tree));
    }
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(anchor) {
            let start = from + found;
            from = start + anchor.len();
            let boundary = code[..start]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            if !boundary {
                continue;
            }
            let end = code[start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| start + e);
            paths.push(code[start..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The module a path names, as the longest prefix of it that is a module
/// of the crate; `None` for other crates and the standard library.
fn resolve(path: &str, from: &ModPath, known: &BTreeMap<ModPath, PathBuf>) -> Option<ModPath> {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let first = segments.next()?;
    let mut base: ModPath = match first {
        "crate" => Vec::new(),
        "self" => from.clone(),
        "super" => {
            let mut parent = from.clone();
            parent.pop();
            let mut rest: Vec<&str> = segments.collect();
            while rest.first() == Some(&"super") {
                parent.pop();
                rest.remove(0);
            }
            return longest_module(parent, rest, known);
        }
        // A path relative to this module: its own child modules.
        child => {
            let mut candidate = from.clone();
            candidate.push(child.to_owned());
            if !known.contains_key(&candidate) {
                return None;
            }
            candidate
        }
    };
    if first == "crate" || first == "self" {
        let rest: Vec<&str> = segments.collect();
        return longest_module(std::mem::take(&mut base), rest, known);
    }
    longest_module(base, segments.collect(), known)
}

fn longest_module(
    mut base: ModPath,
    rest: Vec<&str>,
    known: &BTreeMap<ModPath, PathBuf>,
) -> Option<ModPath> {
    for segment in rest {
        base.push(segment.to_owned());
        if !known.contains_key(&base) {
            base.pop();
            break;
        }
    }
    known.contains_key(&base).then_some(base)
}

fn name(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// The import graph: module -> the modules it imports (itself excluded).
fn import_graph() -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let root = source_root();
    let known = modules(&root);
    let mut graph = BTreeMap::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).expect("read module");
        let code = without_test_modules(&code_only(&text));
        let imports: BTreeSet<ModPath> = named_paths(&code)
            .iter()
            .filter_map(|p| resolve(p, module, &known))
            .filter(|target| target != module)
            .collect();
        graph.insert(module.clone(), imports);
    }
    graph
}

/// A circle of the graph, if there is one, as the modules around it.
fn find_circle(graph: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Option<Vec<ModPath>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &ModPath,
        graph: &BTreeMap<ModPath, BTreeSet<ModPath>>,
        marks: &mut BTreeMap<ModPath, Mark>,
        trail: &mut Vec<ModPath>,
    ) -> Option<Vec<ModPath>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = trail.iter().position(|n| n == node).unwrap_or(0);
                let mut circle = trail[at..].to_vec();
                circle.push(node.clone());
                return Some(circle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        trail.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, marks, trail) {
                return Some(circle);
            }
        }
        trail.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(circle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(circle);
        }
    }
    None
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = import_graph();
    // The crate root only declares and re-exports; leave it out so that a
    // module naming `crate::Config` is not read as importing every module.
    let graph: BTreeMap<ModPath, BTreeSet<ModPath>> = graph
        .into_iter()
        .filter(|(module, _)| !module.is_empty())
        .map(|(module, imports)| {
            (
                module,
                imports.into_iter().filter(|i| !i.is_empty()).collect(),
            )
        })
        .collect();
    assert!(graph.len() > 20, "found only {} modules", graph.len());
    if let Some(circle) = find_circle(&graph) {
        let names: Vec<String> = circle.iter().map(name).collect();
        panic!(
            "these modules import each other in a circle: {}",
            names.join(" -> ")
        );
    }
}

#[test]
fn the_reader_sees_the_imports_it_must() {
    let graph = import_graph();
    let imports = |from: &str| -> BTreeSet<String> {
        let module: ModPath = from.split("::").map(str::to_owned).collect();
        graph[&module].iter().map(name).collect()
    };
    // `use` items, brace trees, `super::` and inline `crate::` paths.
    assert!(imports("proxy").contains("chain"));
    assert!(imports("policy::build").contains("policy::cors"));
    assert!(imports("upstream::http1::exchange").contains("upstream::pool"));
    assert!(imports("admin::api").contains("admin::health_report"));
    // And the circle finder finds a circle when there is one.
    let a: ModPath = vec!["a".into()];
    let b: ModPath = vec!["b".into()];
    let mut cyclic = BTreeMap::new();
    cyclic.insert(a.clone(), BTreeSet::from([b.clone()]));
    cyclic.insert(b.clone(), BTreeSet::from([a.clone()]));
    assert_eq!(find_circle(&cyclic), Some(vec![a.clone(), b, a]));
}
