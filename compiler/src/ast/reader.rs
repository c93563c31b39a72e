//! The reader every block reader works through: the diagnostics it reports
//! into, and the checks that are the same in every block (a block's name,
//! unknown, repeated and missing keys, nested blocks where none belong).
//!
//! It owns the shape of a block, not the meaning of any key: what a value
//! must look like is in [`values`](super::values), which keys a block takes
//! is in that block's reader.

use std::collections::HashMap;

use super::types::S;
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::{Block, Node, Statement, Value, Word};

/// Reads declarations, reporting what each gets wrong into `diags`.
pub(super) struct Reader<'d> {
    diags: &'d mut Vec<Diagnostic>,
}

/// Tracks keys already seen in one block, for "repeated key" errors.
#[derive(Default)]
pub(super) struct Seen<'a>(HashMap<&'a str, Span>);

impl<'d> Reader<'d> {
    pub(super) fn new(diags: &'d mut Vec<Diagnostic>) -> Self {
        Self { diags }
    }
}

impl Reader<'_> {
    pub(super) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The block's name, or an error when it has none.
    pub(super) fn block_name(&mut self, block: &Block) -> S<String> {
        match &block.name {
            Some(name) => {
                self.check_name(name);
                S::new(name.text.clone(), name.span)
            }
            None => {
                self.push(
                    Diagnostic::error(
                        Code::MissingName,
                        block.kind.span,
                        format!("`{}` needs a name", block.kind.text),
                    )
                    .label("name expected after this")
                    .help(format!("write `{} NAME {{`", block.kind.text)),
                );
                S::new(String::new(), block.kind.span)
            }
        }
    }

    pub(super) fn no_name(&mut self, block: &Block) {
        if let Some(name) = &block.name {
            self.push(
                Diagnostic::error(
                    Code::UnexpectedName,
                    name.span,
                    format!("`{}` takes no name", block.kind.text),
                )
                .label("remove this")
                .help(format!("there is one `{}` block per file", block.kind.text)),
            );
        }
    }

    /// Names become container names, Traefik router names and metric labels:
    /// keep them to lower-case letters, digits and `-`.
    pub(super) fn check_name(&mut self, name: &Word) {
        let ok = name
            .text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && name
                .text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            self.push(
                Diagnostic::error(Code::InvalidName, name.span, format!("invalid name `{}`", name.text))
                    .label("not a valid name")
                    .help("names are lower-case letters, digits and `-`, starting with a letter (they become container, router and metric label names)"),
            );
        }
    }

    /// Report statements and nested blocks the caller did not handle.
    pub(super) fn unknown_key(&mut self, word: &Word, what: &str, keys: &[&str]) {
        let mut d = Diagnostic::error(
            Code::UnknownKey,
            word.span,
            format!("unknown key `{}` in {what}", word.text),
        )
        .label("unknown key");
        d = match did_you_mean(&word.text, keys.iter().copied()) {
            Some(h) => d.help(h),
            None => d.help(format!("{what} takes: {}", keys.join(", "))),
        };
        self.push(d);
    }

    /// False (and an error) when `st.key` was already given in this block.
    pub(super) fn first<'a>(&mut self, seen: &mut Seen<'a>, key: &'a Word) -> bool {
        if let Some(first) = seen.0.get(key.text.as_str()) {
            self.push(
                Diagnostic::error(
                    Code::RepeatedKey,
                    key.span,
                    format!("`{}` is given twice", key.text),
                )
                .label("repeated here")
                .with_secondary(*first, "first given here"),
            );
            return false;
        }
        seen.0.insert(&key.text, key.span);
        true
    }

    /// Hand each statement of `block` whose key is in `keys` to `f` (once
    /// per key, unless the key is `repeatable`), reporting nested blocks,
    /// unknown keys (with "did you mean") and repeated keys. The one loop
    /// every block of plain statements goes through.
    pub(super) fn statements(
        &mut self,
        block: &Block,
        keys: &[&str],
        repeatable: &[&str],
        mut f: impl FnMut(&mut Self, &Statement),
    ) {
        let what = block.kind.text.clone();
        let mut seen = Seen::default();
        for node in &block.body {
            let Some(st) = self.statement_only(node, &what, keys) else {
                continue;
            };
            let key = st.key.text.as_str();
            if !keys.contains(&key) {
                self.unknown_key(&st.key, &what, keys);
            } else if repeatable.contains(&key) || self.first(&mut seen, &st.key) {
                f(self, st);
            }
        }
    }

    /// The statement in `node`, reporting a nested block that `what` does
    /// not take. Comments and blank lines yield `None` silently.
    pub(super) fn statement_only<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        keys: &[&str],
    ) -> Option<&'n Statement> {
        match node {
            Node::Statement(st) => Some(st),
            Node::Block(b) => {
                let mut d = Diagnostic::error(
                    Code::UnexpectedBlock,
                    b.head_span(),
                    format!("{what} takes no `{}` block", b.kind.text),
                );
                if let Some(h) = did_you_mean(&b.kind.text, keys.iter().copied()) {
                    d = d.help(h);
                }
                self.push(d);
                None
            }
            Node::Comment(..) | Node::Blank => None,
        }
    }

    pub(super) fn required<T: Default>(
        &mut self,
        value: Option<S<T>>,
        block: &Block,
        key: &str,
        example: &str,
    ) -> S<T> {
        value.unwrap_or_else(|| {
            self.missing(block, key, example);
            S::new(T::default(), block.head_span())
        })
    }

    /// Report that `block` lacks `key`, unless the key is there with a bad
    /// value or misspelled (both already reported): one mistake, one error.
    pub(super) fn missing(&mut self, block: &Block, key: &str, example: &str) {
        let written = block.body.iter().any(|n| {
            let k = match n {
                Node::Statement(st) => &st.key.text,
                Node::Block(b) => &b.kind.text,
                _ => return false,
            };
            k == key || crate::diagnostic::suggest(k, [key]).is_some()
        });
        if !written {
            self.push(missing_key(block, key, example));
        }
    }
}

fn missing_key(block: &Block, key: &str, example: &str) -> Diagnostic {
    let what = match &block.name {
        Some(n) => format!("{} `{}`", block.kind.text, n.text),
        None => format!("`{}`", block.kind.text),
    };
    Diagnostic::error(
        Code::MissingKey,
        block.head_span(),
        format!("{what} has no `{key}`"),
    )
    .label(format!("`{key}` missing"))
    .help(format!("add `{example}`"))
}

pub(super) fn arity(st: &Statement, expected: &str) -> Diagnostic {
    let found = match st.values.len() {
        0 => "nothing".to_string(),
        1 => "one value".to_string(),
        n => format!("{n} values"),
    };
    Diagnostic::error(
        Code::WrongArity,
        st.values_span(),
        format!("`{}` takes {expected}, found {found}", st.key.text),
    )
    .label(if st.values.is_empty() {
        "value missing"
    } else {
        "unexpected values"
    })
}

pub(super) fn type_error(v: &Value, key: &str, expected: &str) -> Diagnostic {
    let key = if key.is_empty() {
        String::new()
    } else {
        format!("`{key}`: ")
    };
    Diagnostic::error(
        Code::WrongType,
        v.span,
        format!("{key}expected {expected}, found {}", v.kind.describe()),
    )
    .label(format!("this is {}", v.kind.describe()))
}
