//! `add_prefix`: puts a prefix in front of the path sent upstream.

use crate::chain::{Flow, Middleware, RequestCtx};
use http::request::Parts;

pub struct AddPrefix {
    prefix: String,
}

impl AddPrefix {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }
}

impl Middleware for AddPrefix {
    fn on_request(&self, ctx: &mut RequestCtx<'_>, _head: &mut Parts) -> Flow {
        ctx.upstream_path.insert_str(0, &self.prefix);
        Flow::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::run;

    #[test]
    fn add_prefix_prepends() {
        let add = AddPrefix {
            prefix: "/internal".into(),
        };
        assert_eq!(run(&add, "/v1/x").0, "/internal/v1/x");
    }
}
