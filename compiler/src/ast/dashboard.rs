//! Reads the `dashboard` block: the Traefik dashboard's host, entrypoints,
//! resolver and middlewares.
//!
//! The names it holds are only read here; that they exist is checked in
//! [`check`](crate::check).

use super::reader::{Reader, Seen};
use super::types::DashboardDecl;
use crate::syntax::Block;

impl Reader<'_> {
    pub(super) fn dashboard(&mut self, block: &Block) -> DashboardDecl {
        const KEYS: &[&str] = &["host", "entrypoints", "tls", "middlewares"];
        self.no_name(block);
        let mut decl = DashboardDecl {
            head: block.head_span(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let mut host = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "dashboard", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "host" => host = self.hostname(st),
                "entrypoints" => decl.entrypoints = self.list(st, Self::ident_value),
                "tls" => decl.resolver = self.ident(st),
                "middlewares" => decl.middlewares = self.list(st, Self::ident_value),
                _ => self.unknown_key(&st.key, "dashboard", KEYS),
            }
        }
        decl.host = self.required(host, block, "host", "host \"traefik.example.com\"");
        decl
    }
}
