//! Reads the `gateway` block: the data plane's image, port and chain, its
//! connection, header and body limits, timeouts, its replica count, and its
//! nested `pool` block.
//!
//! Settings left out stay `None` here; the defaults they take are filled
//! when the model is built, not by this reader.

use super::reader::{Reader, Seen};
use super::types::GatewayDecl;
use crate::syntax::{Block, Node};

impl Reader<'_> {
    pub(super) fn gateway(&mut self, block: &Block) -> GatewayDecl {
        const KEYS: &[&str] = &[
            "image",
            "port",
            "chain",
            "max_connections",
            "max_header_size",
            "max_body_size",
            "header_timeout",
            "dns_ttl",
            "pool",
            "replicas",
        ];
        const POOL_KEYS: &[&str] = &["max_total", "max_per_host", "idle_timeout"];
        self.no_name(block);
        let mut decl = GatewayDecl {
            head: block.head_span(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        for node in &block.body {
            match node {
                Node::Block(pool) if pool.kind.text == "pool" => {
                    if !self.first(&mut seen, &pool.kind) {
                        continue;
                    }
                    self.no_name(pool);
                    let mut pool_seen = Seen::default();
                    for node in &pool.body {
                        let Some(st) = self.statement_only(node, "pool", POOL_KEYS) else {
                            continue;
                        };
                        if !self.first(&mut pool_seen, &st.key) {
                            continue;
                        }
                        match st.key.text.as_str() {
                            "max_total" => decl.pool_max_total = self.count(st).map(|c| c.value),
                            "max_per_host" => {
                                decl.pool_max_per_host = self.count(st).map(|c| c.value)
                            }
                            "idle_timeout" => {
                                decl.pool_idle_timeout_ms = self.duration(st).map(|d| d.value)
                            }
                            _ => self.unknown_key(&st.key, "pool", POOL_KEYS),
                        }
                    }
                }
                _ => {
                    let Some(st) = self.statement_only(node, "gateway", KEYS) else {
                        continue;
                    };
                    if !self.first(&mut seen, &st.key) {
                        continue;
                    }
                    match st.key.text.as_str() {
                        "image" => decl.image = self.string(st),
                        "port" => decl.port = self.port(st),
                        "chain" => decl.chain = self.ident(st),
                        "max_connections" => decl.max_connections = self.count(st).map(|c| c.value),
                        "max_header_size" => decl.max_header_bytes = self.size(st),
                        "max_body_size" => decl.max_body_bytes = self.size(st),
                        "header_timeout" => {
                            decl.header_timeout_ms = self.duration(st).map(|d| d.value)
                        }
                        "dns_ttl" => decl.dns_ttl_ms = self.duration(st).map(|d| d.value),
                        "replicas" => decl.replicas = self.count(st),
                        _ => self.unknown_key(&st.key, "gateway", KEYS),
                    }
                }
            }
        }
        decl
    }
}
