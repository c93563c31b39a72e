//! Reads an `entrypoint` block: its listen address and the entrypoint it
//! may redirect to.
//!
//! It does not look at other entrypoints: port conflicts and redirect loops
//! are [`check`](crate::check)'s.

use super::reader::{Reader, Seen};
use super::types::{EntrypointDecl, S};
use crate::syntax::Block;

impl Reader<'_> {
    pub(super) fn entrypoint(&mut self, block: &Block) -> EntrypointDecl {
        const KEYS: &[&str] = &["address", "redirect"];
        let name = self.block_name(block);
        let mut seen = Seen::default();
        let mut address = None;
        let mut redirect = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "entrypoint", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "address" => address = self.address(st),
                "redirect" => redirect = self.ident(st),
                _ => self.unknown_key(&st.key, "entrypoint", KEYS),
            }
        }
        let (address, port) = match address {
            Some(a) => (S::new(a.value.0.clone(), a.span), a.value.1),
            None => {
                self.missing(block, "address", "address :443");
                (S::default(), 0)
            }
        };
        EntrypointDecl {
            name,
            address,
            port,
            redirect,
        }
    }
}
