//! Reads a `resolver` block (an ACME certificate resolver): the account
//! email, the storage file, the challenge and its DNS provider, and the
//! domains with their alternative names.
//!
//! Whether a wildcard domain can be issued with the chosen challenge is
//! [`check`](crate::check)'s question, not this reader's.

use super::reader::{arity, Reader, Seen};
use super::types::{ResolverDecl, S};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::{Block, Statement, ValueKind};

impl Reader<'_> {
    pub(super) fn resolver(&mut self, block: &Block) -> ResolverDecl {
        const KEYS: &[&str] = &["email", "storage", "challenge", "domain"];
        let name = self.block_name(block);
        let mut seen = Seen::default();
        let (mut email, mut storage, mut challenge, mut dns_provider) = (None, None, None, None);
        let mut domains = Vec::new();
        for node in &block.body {
            let Some(st) = self.statement_only(node, "resolver", KEYS) else {
                continue;
            };
            if st.key.text != "domain" && !self.first(&mut seen, &st.key) {
                continue;
            }
            match st.key.text.as_str() {
                "email" => email = self.string(st),
                "storage" => storage = self.string(st),
                "challenge" => match st.values.as_slice() {
                    [kind]
                        if kind.kind == ValueKind::Ident
                            && matches!(kind.raw.as_str(), "tls" | "http") =>
                    {
                        challenge = Some(S::new(kind.raw.clone(), kind.span));
                    }
                    [kind, provider] if kind.kind == ValueKind::Ident && kind.raw == "dns" => {
                        challenge = Some(S::new(kind.raw.clone(), kind.span));
                        dns_provider = self.ident_value(provider);
                    }
                    _ => self.push(arity(
                        st,
                        "`tls`, `http` or `dns PROVIDER` (e.g. `challenge dns cloudflare`)",
                    )),
                },
                "domain" => {
                    if let Some(d) = self.domain_with_sans(st) {
                        domains.push(d);
                    }
                }
                _ => self.unknown_key(&st.key, "resolver", KEYS),
            }
        }
        if let Some(e) = &email {
            if !e.value.contains('@') {
                self.push(
                    Diagnostic::error(Code::InvalidValue, e.span, "an ACME email needs an `@`")
                        .label("not an email address"),
                );
            }
        }
        ResolverDecl {
            name,
            email: self.required(email, block, "email", "email \"admin@example.com\""),
            storage: self.required(
                storage,
                block,
                "storage",
                "storage \"/letsencrypt/acme.json\"",
            ),
            challenge: challenge.unwrap_or_else(|| S::new("tls".into(), block.head_span())),
            dns_provider,
            domains,
        }
    }

    /// `domain "main" ["san", ...]`
    fn domain_with_sans(&mut self, st: &Statement) -> Option<(S<String>, Vec<S<String>>)> {
        let (main, sans) = match st.values.as_slice() {
            [main] => (main, None),
            [main, sans] => (main, Some(sans)),
            _ => {
                self.push(arity(st, "a domain and an optional list of alternative names: `domain \"example.com\" [\"*.example.com\"]`"));
                return None;
            }
        };
        let main = self.hostname_value(main)?;
        let sans = match sans {
            Some(v) => self.list_value(v, Self::hostname_value),
            None => Vec::new(),
        };
        Some((main, sans))
    }
}
