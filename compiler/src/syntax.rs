//! The syntax stage: source text -> a generic tree of blocks, statements,
//! comments and blank lines, with byte spans, via the pest grammar in
//! `grammar.pest`.
//!
//! This stage knows the shape of the language (blocks, statements, typed
//! literals) but not its vocabulary: which keys exist and what they mean is
//! the [`ast`](crate::ast) stage's business. Comments and blank lines are
//! kept so that `routec fmt` can reproduce them.

use pest::iterators::Pair;
use pest::Parser;

use crate::diagnostic::{Code, Diagnostic, Span};

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct DslParser;

/// A parsed file: the top-level items in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Block(Block),
    Statement(Statement),
    /// A comment on a line of its own (text includes the `#`).
    Comment(String, Span),
    /// An empty line, kept for formatting.
    Blank,
}

/// A word with its place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

/// `KIND [NAME] { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: Word,
    pub name: Option<Word>,
    pub body: Vec<Node>,
    /// A comment after the opening brace.
    pub comment: Option<String>,
    pub span: Span,
}

impl Block {
    /// The span of `KIND NAME`, the natural place to point at a block.
    pub fn head_span(&self) -> Span {
        let end = self
            .name
            .as_ref()
            .map_or(self.kind.span.end, |n| n.span.end);
        Span::new(self.kind.span.start, end)
    }

    pub fn statements(&self) -> impl Iterator<Item = &Statement> {
        self.body.iter().filter_map(|n| match n {
            Node::Statement(s) => Some(s),
            _ => None,
        })
    }

    pub fn blocks(&self) -> impl Iterator<Item = &Block> {
        self.body.iter().filter_map(|n| match n {
            Node::Block(b) => Some(b),
            _ => None,
        })
    }
}

/// `KEY VALUE...`
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub key: Word,
    pub values: Vec<Value>,
    /// A comment at the end of the line.
    pub comment: Option<String>,
    pub span: Span,
}

impl Statement {
    /// The span of the values, or of the key when there are none.
    pub fn values_span(&self) -> Span {
        match (self.values.first(), self.values.last()) {
            (Some(first), Some(last)) => Span::new(first.span.start, last.span.end),
            _ => self.key.span,
        }
    }
}

/// A literal value, with its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    /// The value exactly as written (for strings, with quotes and escapes).
    pub raw: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A quoted string, unescaped.
    Str(String),
    List(Vec<Value>),
    /// `host:port` or `:port`.
    Address,
    /// `1.2.3.4` or `1.2.3.0/24`.
    Ip,
    /// `100/s`.
    Rate,
    /// A number with an optional unit: `30`, `0.99`, `30s`, `5%`, `64KiB`.
    Quantity,
    /// A bare word: a name, a keyword, an env var.
    Ident,
}

impl ValueKind {
    /// How a value of this kind is called in messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::List(_) => "a list",
            Self::Address => "an address",
            Self::Ip => "an IP address",
            Self::Rate => "a rate",
            Self::Quantity => "a number",
            Self::Ident => "a name",
        }
    }
}

/// Parse `source` into its syntax tree, or the one syntax error that stops
/// the parser (a PEG parser cannot resynchronise reliably).
pub fn parse(source: &str) -> Result<File, Box<Diagnostic>> {
    let mut pairs = DslParser::parse(Rule::file, source).map_err(|e| Box::new(syntax_error(e)))?;
    let file = pairs.next().expect("the file rule always yields one pair");
    let body = file.into_inner().next().expect("file = SOI ~ body ~ EOI");
    Ok(File {
        items: body_nodes(body)?,
    })
}

fn body_nodes(body: Pair<'_, Rule>) -> Result<Vec<Node>, Box<Diagnostic>> {
    body.into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .map(|pair| match pair.as_rule() {
            Rule::blank => Ok(Node::Blank),
            Rule::comment_line => {
                let comment = pair
                    .into_inner()
                    .next()
                    .expect("comment_line = comment ~ ...");
                Ok(Node::Comment(
                    comment.as_str().trim_end().to_string(),
                    Span::from_pest(comment.as_span()),
                ))
            }
            Rule::block => block(pair).map(Node::Block),
            Rule::statement => statement(pair).map(Node::Statement),
            rule => unreachable!("body holds no {rule:?}"),
        })
        .collect()
}

fn word(pair: Pair<'_, Rule>) -> Word {
    Word {
        text: pair.as_str().to_string(),
        span: Span::from_pest(pair.as_span()),
    }
}

fn trailing_comment(pair: Pair<'_, Rule>) -> String {
    pair.as_str().trim_end().to_string()
}

fn block(pair: Pair<'_, Rule>) -> Result<Block, Box<Diagnostic>> {
    let span = Span::from_pest(pair.as_span());
    let mut kind = None;
    let mut name = None;
    let mut comment = None;
    let mut body = Vec::new();
    for inner in pair.into_inner() {
        match inner.as_rule() {
            Rule::key => kind = Some(word(inner)),
            Rule::name => name = Some(word(inner)),
            // A comment after `{` comes before the body; one after `}` is
            // kept on the block too (rare, and the formatter moves it up).
            Rule::trailing_comment => comment = Some(trailing_comment(inner)),
            Rule::body => body = body_nodes(inner)?,
            rule => unreachable!("block holds no {rule:?}"),
        }
    }
    Ok(Block {
        kind: kind.expect("block starts with a key"),
        name,
        body,
        comment,
        span,
    })
}

fn statement(pair: Pair<'_, Rule>) -> Result<Statement, Box<Diagnostic>> {
    let mut inner = pair.clone().into_inner();
    let key = word(inner.next().expect("statement starts with a key"));
    let mut values = Vec::new();
    let mut comment = None;
    for p in inner {
        if p.as_rule() == Rule::trailing_comment {
            comment = Some(trailing_comment(p));
        } else {
            values.push(value(p)?);
        }
    }
    // The statement's own span ends before its trailing comment and newline.
    let end = values.last().map_or(key.span.end, |v| v.span.end);
    Ok(Statement {
        span: Span::new(key.span.start, end),
        key,
        values,
        comment,
    })
}

fn value(pair: Pair<'_, Rule>) -> Result<Value, Box<Diagnostic>> {
    let span = Span::from_pest(pair.as_span());
    let raw = pair.as_str().to_string();
    let kind = match pair.as_rule() {
        Rule::string => {
            let inner = pair
                .into_inner()
                .next()
                .expect("string = \" ~ string_inner ~ \"");
            ValueKind::Str(unescape(inner.as_str(), span)?)
        }
        Rule::list => ValueKind::List(pair.into_inner().map(value).collect::<Result<_, _>>()?),
        Rule::address => ValueKind::Address,
        Rule::ip => ValueKind::Ip,
        Rule::rate => ValueKind::Rate,
        Rule::quantity => ValueKind::Quantity,
        Rule::ident => ValueKind::Ident,
        rule => unreachable!("not a value: {rule:?}"),
    };
    Ok(Value { kind, raw, span })
}

fn unescape(text: &str, span: Span) -> Result<String, Box<Diagnostic>> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            other => {
                // +1: the opening quote precedes `text` in the source.
                let start = span.start + 1 + i;
                let end = start + 1 + other.map_or(0, |(_, c)| c.len_utf8());
                return Err(Box::new(
                    Diagnostic::error(
                        Code::InvalidEscape,
                        Span::new(start, end),
                        "invalid escape in string",
                    )
                    .label("unknown escape")
                    .help(r#"the escapes are \" \\ \n and \t"#),
                ));
            }
        }
    }
    Ok(out)
}

/// Turn pest's furthest-failure report into a diagnostic that names what
/// was expected in words a user knows.
fn syntax_error(error: pest::error::Error<Rule>) -> Diagnostic {
    let at = match error.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let expected: Vec<&str> = match &error.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| describe_rule(*r)).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        pest::error::ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let message = if expected.is_empty() {
        "syntax error".to_string()
    } else {
        format!("syntax error: expected {}", join_or(&expected))
    };
    Diagnostic::error(Code::Syntax, Span::new(at, at), message).label("here").help(
        "a statement is `key value...` on one line; a block is `kind [name] {` on one line, its body, then `}` on a line of its own",
    )
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::key => "a key",
        Rule::name => "a name",
        Rule::string
        | Rule::list
        | Rule::address
        | Rule::ip
        | Rule::rate
        | Rule::quantity
        | Rule::ident => "a value",
        Rule::string_inner => "the end of the string",
        Rule::EOI => "the end of the file",
        Rule::blank | Rule::trailing_comment | Rule::comment_line | Rule::comment => {
            "the end of the line"
        }
        Rule::block | Rule::statement => "a statement or a block",
        _ => return None,
    })
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_dating_platform() {
        let source = include_str!("../../routes.dsl");
        let file = parse(source).unwrap_or_else(|d| panic!("{d:?}"));
        assert!(file
            .items
            .iter()
            .any(|n| matches!(n, Node::Block(b) if b.kind.text == "service")));
    }
}
