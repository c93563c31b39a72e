//! `routec fmt`: the canonical layout of a routes file.
//!
//! Owns the layout rules, applied to the syntax tree (so comments and
//! intended blank lines survive): two-space indentation, one space between
//! a key and its values, lists as `[a, b]` or one item per line when the
//! line would pass [`MAX_WIDTH`], at most one blank line in a row and none
//! at the start or end of a block, a trailing comment two spaces after its
//! statement, and exactly one newline at the end of the file. Values keep
//! their written form (strings their escapes). Formatting never changes the
//! meaning: the tests re-parse the output and compare models.

use crate::syntax::{self, Block, Node, Statement, Value, ValueKind};

/// Lines longer than this break their lists one item per line.
pub const MAX_WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Format `source`, or return the syntax error that prevents it.
pub fn format(source: &str) -> Result<String, Box<crate::diagnostic::Diagnostic>> {
    let file = syntax::parse(source)?;
    let mut out = String::with_capacity(source.len());
    body(&mut out, &file.items, 0);
    // Exactly one newline at the end; none for an empty file.
    let trimmed_len = out.trim_end_matches('\n').len();
    out.truncate(trimmed_len);
    if !out.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

fn body(out: &mut String, nodes: &[Node], depth: usize) {
    let mut pending_blank = false;
    let mut wrote_any = false;
    for node in nodes {
        if let Node::Blank = node {
            pending_blank = wrote_any;
            continue;
        }
        if pending_blank {
            out.push('\n');
            pending_blank = false;
        }
        wrote_any = true;
        match node {
            Node::Comment(text, _) => {
                indent(out, depth);
                out.push_str(text);
                out.push('\n');
            }
            Node::Statement(st) => statement(out, st, depth),
            Node::Block(b) => block(out, b, depth),
            Node::Blank => unreachable!("handled above"),
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str(INDENT);
    }
}

fn block(out: &mut String, b: &Block, depth: usize) {
    indent(out, depth);
    out.push_str(&b.kind.text);
    if let Some(name) = &b.name {
        out.push(' ');
        out.push_str(&name.text);
    }
    out.push_str(" {");
    if let Some(c) = &b.comment {
        out.push_str("  ");
        out.push_str(c);
    }
    out.push('\n');
    body(out, &b.body, depth + 1);
    indent(out, depth);
    out.push_str("}\n");
}

fn statement(out: &mut String, st: &Statement, depth: usize) {
    let start = out.len();
    indent(out, depth);
    out.push_str(&st.key.text);
    for v in &st.values {
        out.push(' ');
        out.push_str(&inline(v));
    }
    let too_wide = out.len() - start > MAX_WIDTH;
    if too_wide
        && st
            .values
            .iter()
            .any(|v| matches!(v.kind, ValueKind::List(_)))
    {
        // Redo the line with lists broken one item per line.
        out.truncate(start);
        indent(out, depth);
        out.push_str(&st.key.text);
        for v in &st.values {
            out.push(' ');
            match &v.kind {
                ValueKind::List(items) if !items.is_empty() => {
                    out.push_str("[\n");
                    for item in items {
                        indent(out, depth + 1);
                        out.push_str(&inline(item));
                        out.push_str(",\n");
                    }
                    indent(out, depth);
                    out.push(']');
                }
                _ => out.push_str(&inline(v)),
            }
        }
    }
    if let Some(c) = &st.comment {
        out.push_str("  ");
        out.push_str(c);
    }
    out.push('\n');
}

/// A value on one line.
fn inline(v: &Value) -> String {
    match &v.kind {
        ValueKind::List(items) => {
            let inner: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", inner.join(", "))
        }
        _ => v.raw.clone(),
    }
}
