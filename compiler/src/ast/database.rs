//! Reads a `database` block: the env vars holding the primary's and the
//! replicas' connection strings (a literal one is refused: it may hold a
//! password), the pool bounds, the pool mode and the command timeout.
//!
//! That `pool_min` does not exceed `pool_max` is [`check`](crate::check)'s.

use super::reader::{arity, Reader};
use super::types::{DatabaseDecl, S};
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::{Block, Statement, ValueKind};

impl Reader<'_> {
    pub(super) fn database(&mut self, block: &Block) -> DatabaseDecl {
        const KEYS: &[&str] = &[
            "primary",
            "replicas",
            "pool_min",
            "pool_max",
            "command_timeout",
            "pool_mode",
        ];
        let mut decl = DatabaseDecl {
            name: self.block_name(block),
            ..Default::default()
        };
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "primary" => decl.primary_env = cx.env_ref(st, false).and_then(|mut v| v.pop()),
            "replicas" => decl.replica_envs = cx.env_ref(st, true).unwrap_or_default(),
            "pool_min" => decl.pool_min = cx.count(st),
            "pool_max" => decl.pool_max = cx.count(st),
            "command_timeout" => decl.command_timeout_ms = cx.duration(st).map(|d| d.value),
            "pool_mode" => decl.pool_mode = cx.one_of(st, &["transaction", "session", "statement"]),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.primary_env.is_none() {
            self.missing(block, "primary", "primary env DATABASE_URL");
        }
        decl
    }

    /// `env NAME` or, with `list`, `env [A, B]`. A literal DSN is an error.
    fn env_ref(&mut self, st: &Statement, list: bool) -> Option<Vec<S<String>>> {
        match st.values.as_slice() {
            [kw, v] if kw.kind == ValueKind::Ident && kw.raw == "env" => {
                if list {
                    Some(self.list_value(v, Self::env_var_value))
                } else {
                    self.env_var_value(v).map(|n| vec![n])
                }
            }
            [v] if matches!(v.kind, ValueKind::Str(_)) => {
                self.push(
                    Diagnostic::error(
                        Code::InlineSecret,
                        v.span,
                        "a connection string is written inline",
                    )
                    .label("may hold a password")
                    .help(format!(
                        "name the env var that holds it: `{} env {}`",
                        st.key.text,
                        if list {
                            "[DATABASE_READ_URL_1]"
                        } else {
                            "DATABASE_URL"
                        }
                    )),
                );
                None
            }
            _ => {
                let form = if list {
                    "`replicas env [NAME, ...]`"
                } else {
                    "`primary env NAME`"
                };
                self.push(arity(st, form));
                None
            }
        }
    }
}
