//! The AST stage's entry point: a whole syntax tree -> a [`Program`],
//! handing each top-level block to its reader and keeping the blocks that
//! may appear once to one.
//!
//! It owns the list of top-level kinds and the errors about the top level
//! itself (unknown blocks and statements, a repeated singleton block); what
//! is inside a block is that block's reader's business.

use super::reader::Reader;
use super::types::{Program, MIDDLEWARE_KINDS};
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::{Block, File, Node};

/// The kinds of top-level block that are not middlewares; with
/// [`MIDDLEWARE_KINDS`] they are every kind the top level takes.
const DECLARATION_KINDS: &[&str] = &[
    "platform",
    "entrypoint",
    "resolver",
    "dashboard",
    "gateway",
    "chain",
    "service",
    "edge_route",
    "database",
    "alert",
    "rate_limit_store",
];

/// Every kind of top-level block, for "did you mean" and the list of kinds.
fn top_level_kinds() -> impl Iterator<Item = &'static str> {
    DECLARATION_KINDS.iter().chain(MIDDLEWARE_KINDS).copied()
}

/// Read a syntax tree into declarations, reporting what each one gets
/// wrong on its own into `diags`.
pub fn read(file: &File, diags: &mut Vec<Diagnostic>) -> Program {
    let mut cx = Reader::new(diags);
    let mut program = Program::default();
    for node in &file.items {
        match node {
            Node::Block(block) => cx.top_block(block, &mut program),
            Node::Statement(st) if st.key.text == "chain" => {
                if let Some(chain) = cx.chain(st) {
                    program.chains.push(chain);
                }
            }
            Node::Statement(st) => {
                let mut d = Diagnostic::error(
                    Code::UnknownStatement,
                    st.key.span,
                    format!("unknown statement `{}`", st.key.text),
                )
                .label("not a top-level statement");
                d = match did_you_mean(&st.key.text, top_level_kinds()) {
                    Some(h) => d.help(h),
                    None => d.help("at the top level only `chain NAME [...]` statements and blocks are allowed"),
                };
                cx.push(d);
            }
            Node::Comment(..) | Node::Blank => {}
        }
    }
    program
}

impl Reader<'_> {
    fn top_block(&mut self, block: &Block, program: &mut Program) {
        match block.kind.text.as_str() {
            "platform" => {
                let decl = self.platform(block);
                if let Some(first) = &program.platform {
                    self.push(repeated_block("platform", block.head_span(), first.head));
                } else {
                    program.platform = Some(decl);
                }
            }
            "entrypoint" => program.entrypoints.push(self.entrypoint(block)),
            "resolver" => program.resolvers.push(self.resolver(block)),
            "dashboard" => {
                let decl = self.dashboard(block);
                if let Some(first) = &program.dashboard {
                    self.push(repeated_block("dashboard", block.head_span(), first.head));
                } else {
                    program.dashboard = Some(decl);
                }
            }
            "gateway" => {
                let decl = self.gateway(block);
                if let Some(first) = &program.gateway {
                    self.push(repeated_block("gateway", block.head_span(), first.head));
                } else {
                    program.gateway = Some(decl);
                }
            }
            "service" => program.services.push(self.service(block)),
            "edge_route" => program.edge_routes.push(self.edge_route(block)),
            "database" => program.databases.push(self.database(block)),
            "rate_limit_store" => {
                let decl = self.rate_limit_store(block);
                if let Some(first) = &program.rate_limit_store {
                    self.push(repeated_block(
                        "rate_limit_store",
                        block.head_span(),
                        first.head,
                    ));
                } else {
                    program.rate_limit_store = Some(decl);
                }
            }
            "alert" => program.alerts.push(self.alert(block)),
            "chain" => self.push(
                Diagnostic::error(
                    Code::ChainSyntax,
                    block.head_span(),
                    "a chain is a statement, not a block",
                )
                .help("write `chain NAME [first, second, ...]` on one line"),
            ),
            kind if MIDDLEWARE_KINDS.contains(&kind) => {
                if let Some(m) = self.middleware(block) {
                    program.middlewares.push(m);
                }
            }
            other => {
                let mut d = Diagnostic::error(
                    Code::UnknownBlock,
                    block.kind.span,
                    format!("unknown block kind `{other}`"),
                );
                d = match did_you_mean(other, top_level_kinds()) {
                    Some(h) => d.label("not a kind of block").help(h),
                    None => d.label("not a kind of block").help(format!(
                        "the kinds are: {}",
                        top_level_kinds().collect::<Vec<_>>().join(", ")
                    )),
                };
                self.push(d);
            }
        }
    }
}

fn repeated_block(kind: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        Code::RepeatedBlock,
        span,
        format!("a second `{kind}` block"),
    )
    .label("repeated here")
    .with_secondary(first, "first given here")
    .help(format!("a file has at most one `{kind}` block"))
}
