//! Reads the `rate_limit_store` block: the Redis that `scope shared` rate
//! limits keep their buckets in. Its address and credentials are env var
//! names (`address env NAME`, `username env NAME`, `password env NAME`); a
//! literal value is refused, since it may hold a password. `tls` turns on
//! `rediss://`, `timeout` is the budget of one check and `on_failure`
//! (`local`, `open`, `closed`) what a limit does when the store misses it.
//!
//! Whether a shared limit has a store to use is [`check`](crate::check)'s.

use super::reader::{arity, Reader};
use super::types::{RateLimitStoreDecl, S};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::{Block, Statement, ValueKind};

impl Reader<'_> {
    pub(super) fn rate_limit_store(&mut self, block: &Block) -> RateLimitStoreDecl {
        const KEYS: &[&str] = &[
            "address",
            "username",
            "password",
            "tls",
            "timeout",
            "on_failure",
        ];
        self.no_name(block);
        let mut decl = RateLimitStoreDecl {
            head: block.head_span(),
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "address" => decl.address_env = cx.store_env(st),
            "username" => decl.username_env = cx.store_env(st),
            "password" => decl.password_env = cx.store_env(st),
            "tls" => decl.tls = cx.bool(st).is_some_and(|b| b.value),
            "timeout" => decl.timeout_ms = cx.duration(st),
            "on_failure" => decl.on_failure = cx.one_of(st, &["local", "open", "closed"]),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.address_env.is_none() {
            self.missing(block, "address", "address env RATE_LIMIT_REDIS_ADDR");
        }
        decl
    }

    /// `env NAME`; a literal is an inline secret.
    fn store_env(&mut self, st: &Statement) -> Option<S<String>> {
        match st.values.as_slice() {
            [kw, v] if kw.kind == ValueKind::Ident && kw.raw == "env" => self.env_var_value(v),
            [v] if matches!(v.kind, ValueKind::Str(_)) => {
                self.push(
                    Diagnostic::error(
                        Code::InlineSecret,
                        v.span,
                        format!("the store's {} is written inline", st.key.text),
                    )
                    .label("may hold a password")
                    .help(format!(
                        "name the env var that holds it: `{} env RATE_LIMIT_REDIS_{}`",
                        st.key.text,
                        st.key.text.to_ascii_uppercase()
                    )),
                );
                None
            }
            _ => {
                self.push(arity(st, "`KEY env NAME`"));
                None
            }
        }
    }
}
