//! Reads a `chain NAME [a, b, ...]` statement: a named list of middlewares.
//!
//! The one top-level statement of the language. That the middlewares exist
//! and may run in that order is [`check`](crate::check)'s.

use super::reader::{arity, Reader};
use super::types::ChainDecl;
use crate::diagnostic::{Code, Diagnostic};
use crate::syntax::{Statement, Word};

impl Reader<'_> {
    /// `chain NAME [a, b, c]`
    pub(super) fn chain(&mut self, st: &Statement) -> Option<ChainDecl> {
        let [name, list] = st.values.as_slice() else {
            self.push(arity(
                st,
                "a name and a list of middlewares: `chain api [cors, auth]`",
            ));
            return None;
        };
        let name = self.ident_value(name)?;
        self.check_name(&Word {
            text: name.value.clone(),
            span: name.span,
        });
        let middlewares = self.list_value(list, Self::ident_value);
        if middlewares.is_empty() {
            self.push(
                Diagnostic::error(
                    Code::EmptyChain,
                    list.span,
                    format!("chain `{}` is empty", name.value),
                )
                .label("no middlewares"),
            );
        }
        Some(ChainDecl { name, middlewares })
    }
}
