//! Reads an `edge_route` block: the Traefik router's match (host, prefix or
//! path, methods), its required priority, its target and middlewares.
//!
//! Whether two routes overlap or a route bypasses the gateway is
//! [`check`](crate::check)'s.

use super::reader::{arity, Reader};
use super::types::{EdgeRouteDecl, EdgeTargetDecl, S};
use crate::diagnostic::{suggest, Code, Diagnostic};
use crate::syntax::{Block, Statement, ValueKind};

impl Reader<'_> {
    pub(super) fn edge_route(&mut self, block: &Block) -> EdgeRouteDecl {
        const KEYS: &[&str] = &[
            "host",
            "prefix",
            "path",
            "methods",
            "priority",
            "to",
            "middlewares",
            "entrypoints",
            "tls",
        ];
        let mut decl = EdgeRouteDecl {
            name: self.block_name(block),
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "host" => decl.host = cx.hostname(st),
            "prefix" => decl.prefix = cx.path(st),
            "path" => decl.path = cx.path(st),
            "methods" => decl.methods = cx.methods(st),
            "priority" => decl.priority = cx.count(st),
            "to" => decl.target = cx.edge_target(st),
            "middlewares" => decl.middlewares = cx.list(st, Self::ident_value),
            "entrypoints" => decl.entrypoints = cx.list(st, Self::ident_value),
            "tls" => decl.tls = cx.ident(st),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        match (&decl.prefix, &decl.path) {
            (Some(_), Some(path)) => self.push(
                Diagnostic::error(
                    Code::PrefixAndPath,
                    path.span,
                    "an edge route matches a `prefix` or an exact `path`, not both",
                )
                .label("second match"),
            ),
            (None, None) => self.missing(block, "prefix", "prefix \"/v1\"` or `path \"/health\""),
            _ => {}
        }
        if decl.priority.is_none()
            && !block.statements().any(|st| {
                st.key.text == "priority" || suggest(&st.key.text, ["priority"]).is_some()
            })
        {
            self.push(
                Diagnostic::error(Code::MissingPriority, decl.name.span, format!("edge route `{}` has no explicit priority", decl.name.value))
                    .label("priority missing")
                    .help("Traefik's default priority is the rule's length, which routes by accident; write `priority N` (higher wins)"),
            );
        }
        if decl.target.is_none() {
            self.missing(block, "to", "to gateway` or `to service NAME");
        }
        decl
    }

    /// `to gateway` | `to service NAME`
    fn edge_target(&mut self, st: &Statement) -> Option<S<EdgeTargetDecl>> {
        let span = st.values_span();
        match st.values.as_slice() {
            [v] if v.kind == ValueKind::Ident && v.raw == "gateway" => {
                Some(S::new(EdgeTargetDecl::Gateway, span))
            }
            [kw, name] if kw.kind == ValueKind::Ident && kw.raw == "service" => {
                let name = self.ident_value(name)?;
                Some(S::new(EdgeTargetDecl::Service(name), span))
            }
            _ => {
                self.push(arity(st, "`to gateway` or `to service NAME`"));
                None
            }
        }
    }
}
