//! Reads a `service` block and its nested `health`, `timeouts` and
//! `upstream_tls` blocks: image, port, replicas or instances, balancing,
//! the prefixes it serves, its chain and database.
//!
//! It reports a service that contradicts itself (`replicas` with
//! `instances`); how services relate to each other is
//! [`check`](crate::check)'s.

use super::reader::{arity, Reader, Seen};
use super::types::{HealthDecl, ServiceDecl, UpstreamTlsDecl, S};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::{Block, Node, Statement, ValueKind};

impl Reader<'_> {
    pub(super) fn service(&mut self, block: &Block) -> ServiceDecl {
        const KEYS: &[&str] = &[
            "image",
            "port",
            "hostname",
            "replicas",
            "instances",
            "balance",
            "prefix",
            "websocket",
            "priority",
            "chain",
            "database",
            "health",
            "timeouts",
            "upstream_tls",
        ];
        const REPEATABLE: &[&str] = &["prefix", "websocket"];
        let mut decl = ServiceDecl {
            name: self.block_name(block),
            ..Default::default()
        };
        let mut seen = Seen::default();
        for node in &block.body {
            match node {
                Node::Block(inner) => {
                    if !self.first(&mut seen, &inner.kind) {
                        continue;
                    }
                    self.no_name(inner);
                    match inner.kind.text.as_str() {
                        "health" => decl.health = Some(self.health(inner)),
                        "timeouts" => self.timeouts(inner, &mut decl),
                        "upstream_tls" => decl.upstream_tls = Some(self.upstream_tls(inner)),
                        _ => self.unknown_key(&inner.kind, "service", KEYS),
                    }
                }
                Node::Statement(st) => {
                    if !REPEATABLE.contains(&st.key.text.as_str())
                        && !self.first(&mut seen, &st.key)
                    {
                        continue;
                    }
                    match st.key.text.as_str() {
                        "image" => decl.image = self.string(st),
                        "port" => decl.port = self.port(st),
                        "hostname" => decl.hostname = self.ident(st),
                        "replicas" => decl.replicas = self.count(st),
                        "instances" => {
                            decl.instances = Some(self.list(st, Self::address_value_with_host))
                        }
                        "balance" => {
                            decl.balance =
                                self.one_of(st, &["round_robin", "least_requests", "random"])
                        }
                        "prefix" => decl.prefixes.extend(self.path(st)),
                        "websocket" => decl.websockets.extend(self.path(st)),
                        "priority" => decl.priority = self.count(st),
                        "chain" => decl.chain = self.ident(st),
                        "database" => decl.database = self.ident(st),
                        "health" | "timeouts" | "upstream_tls" => self.push(
                            Diagnostic::error(
                                Code::ExpectedBlock,
                                st.key.span,
                                format!("`{}` is a block", st.key.text),
                            )
                            .help(format!(
                                "write `{} {{`, its settings one per line, then `}}`",
                                st.key.text
                            )),
                        ),
                        _ => self.unknown_key(&st.key, "service", KEYS),
                    }
                }
                Node::Comment(..) | Node::Blank => {}
            }
        }
        if decl.replicas.is_some() && decl.instances.is_some() {
            let r = decl.replicas.as_ref().map(|r| r.span).unwrap_or_default();
            self.push(
                Diagnostic::error(
                    Code::ReplicasAndInstances,
                    r,
                    "a service takes `replicas` or `instances`, not both",
                )
                .label("replicas given here")
                .help(
                    "`replicas N` names the instances HOSTNAME-1..N; `instances [...]` lists them",
                ),
            );
        }
        if decl.port.is_none() && decl.instances.is_none() && decl.replicas.is_none() {
            self.missing(block, "port", "port 8080");
        }
        decl
    }

    fn health(&mut self, block: &Block) -> HealthDecl {
        const KEYS: &[&str] = &["path", "interval", "timeout", "healthy", "unhealthy"];
        let mut decl = HealthDecl {
            head: block.head_span(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let mut path = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "health", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "path" => path = self.path(st),
                "interval" => decl.interval_ms = self.duration(st),
                "timeout" => decl.timeout_ms = self.duration(st),
                "healthy" => decl.healthy = self.count(st).map(|c| c.value),
                "unhealthy" => decl.unhealthy = self.count(st).map(|c| c.value),
                _ => self.unknown_key(&st.key, "health", KEYS),
            }
        }
        decl.path = self.required(path, block, "path", "path \"/health\"");
        decl
    }

    fn timeouts(&mut self, block: &Block, decl: &mut ServiceDecl) {
        const KEYS: &[&str] = &["connect", "response", "websocket_idle"];
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "connect" => decl.connect_timeout_ms = cx.duration(st).map(|d| d.value),
            "response" => decl.response_timeout_ms = cx.duration(st).map(|d| d.value),
            "websocket_idle" => decl.websocket_idle_ms = cx.duration(st).map(|d| d.value),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
    }

    fn upstream_tls(&mut self, block: &Block) -> UpstreamTlsDecl {
        const KEYS: &[&str] = &["ca", "cert", "key", "server_name"];
        let mut decl = UpstreamTlsDecl::default();
        let mut seen = Seen::default();
        let mut ca = None;
        for node in &block.body {
            let Some(st) = self.statement_only(node, "upstream_tls", KEYS) else {
                continue;
            };
            if !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "ca" => ca = self.file_ref(st),
                "cert" => decl.cert_file = self.file_ref(st),
                "key" => decl.key_file = self.file_ref(st),
                "server_name" => decl.server_name = self.hostname(st),
                _ => self.unknown_key(&st.key, "upstream_tls", KEYS),
            }
        }
        if decl.cert_file.is_some() != decl.key_file.is_some() {
            self.push(
                Diagnostic::error(
                    Code::IncompleteClientCert,
                    block.head_span(),
                    "a client certificate needs both `cert` and `key`",
                )
                .label("in this block"),
            );
        }
        decl.ca_file = self.required(ca, block, "ca", "ca file \"/certs/ca.pem\"");
        decl
    }

    /// `file "/path"`: a file reference (never inline key material).
    fn file_ref(&mut self, st: &Statement) -> Option<S<String>> {
        match st.values.as_slice() {
            [kw, path] if kw.kind == ValueKind::Ident && kw.raw == "file" => {
                self.string_value(path)
            }
            _ => {
                self.push(arity(st, "`file \"PATH\"`"));
                None
            }
        }
    }
}
