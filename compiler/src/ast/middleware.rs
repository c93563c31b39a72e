//! Reads the middleware blocks (`strip_prefix`, `add_prefix`, `headers`,
//! `cors`, `basic_auth`, `jwt`, `rate_limit`, `cache`, `access_log`,
//! `errors`) into one [`MiddlewareDecl`] each, with the kind's own checks:
//! header names, CORS origins, JWT algorithms and key sources (never inline
//! secrets), cacheable methods.
//!
//! Which tier a middleware may run in and in which order is
//! [`check`](crate::check)'s.

use super::reader::{arity, Reader};
use super::types::{
    CacheDecl, CorsDecl, HeadersDecl, JwtDecl, KeyDecl, MiddlewareDecl, MiddlewareDeclConfig,
    RateLimitDecl, S,
};
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::syntax::{Block, Statement, Value, ValueKind};

/// An HTTP token (RFC 9110 5.6.2): a header name, a WebSocket subprotocol.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Reader<'_> {
    pub(super) fn middleware(&mut self, block: &Block) -> Option<MiddlewareDecl> {
        let name = self.block_name(block);
        let kind = block.kind.text.as_str();
        let config = match kind {
            "strip_prefix" => {
                let mut prefixes = None;
                self.statements(block, &["prefixes"], &[], |cx, st| {
                    prefixes = Some(cx.list(st, Self::path_value))
                });
                let prefixes = prefixes.unwrap_or_default();
                if prefixes.is_empty() {
                    self.missing(block, "prefixes", "prefixes [\"/api\"]");
                }
                MiddlewareDeclConfig::StripPrefix { prefixes }
            }
            "add_prefix" => {
                let mut prefix = None;
                self.statements(block, &["prefix"], &[], |cx, st| prefix = cx.path(st));
                MiddlewareDeclConfig::AddPrefix {
                    prefix: self.required(prefix, block, "prefix", "prefix \"/v2\""),
                }
            }
            "headers" => MiddlewareDeclConfig::Headers(self.headers(block)),
            "cors" => MiddlewareDeclConfig::Cors(self.cors(block)),
            "basic_auth" => {
                let mut users = Vec::new();
                self.statements(block, &["users"], &[], |cx, st| {
                    users = cx.list(st, Self::htpasswd_value)
                });
                if users.is_empty() {
                    self.missing(block, "users", "users [\"admin:$apr1$...\"]");
                }
                MiddlewareDeclConfig::BasicAuth { users }
            }
            "jwt" => MiddlewareDeclConfig::Jwt(self.jwt(block)),
            "rate_limit" => MiddlewareDeclConfig::RateLimit(self.rate_limit(block)),
            "cache" => MiddlewareDeclConfig::Cache(self.cache(block)),
            "access_log" => {
                let mut audit = false;
                self.statements(block, &["audit"], &[], |cx, st| {
                    audit = cx.bool(st).is_some_and(|b| b.value)
                });
                MiddlewareDeclConfig::AccessLog { audit }
            }
            "errors" => {
                let mut format = None;
                self.statements(block, &["format"], &[], |cx, st| {
                    format = cx.one_of(st, &["json"]).map(|f| f.value);
                });
                MiddlewareDeclConfig::Errors { format }
            }
            _ => return None,
        };
        Some(MiddlewareDecl {
            name,
            kind_span: block.kind.span,
            config,
        })
    }

    fn headers(&mut self, block: &Block) -> HeadersDecl {
        const KEYS: &[&str] = &[
            "hsts",
            "hsts_subdomains",
            "hsts_preload",
            "nosniff",
            "frame_options",
            "referrer_policy",
            "csp",
            "set_request_header",
            "remove_request_header",
            "set_response_header",
            "remove_response_header",
        ];
        const REPEATABLE: &[&str] = &[
            "set_request_header",
            "remove_request_header",
            "set_response_header",
            "remove_response_header",
        ];
        let mut decl = HeadersDecl::default();
        self.statements(block, KEYS, REPEATABLE, |cx, st| match st.key.text.as_str() {
            "hsts" => decl.hsts_max_age_s = cx.duration(st).map(|d| d.value / 1000),
            "hsts_subdomains" => decl.hsts_subdomains = cx.bool(st).is_some_and(|b| b.value),
            "hsts_preload" => decl.hsts_preload = cx.bool(st).is_some_and(|b| b.value),
            "nosniff" => decl.nosniff = cx.bool(st).is_some_and(|b| b.value),
            "frame_options" => {
                decl.frame_options = cx.string(st).map(|s| s.value);
                if let Some(v) = &decl.frame_options {
                    if !matches!(v.as_str(), "DENY" | "SAMEORIGIN") {
                        cx.push(
                            Diagnostic::error(Code::InvalidValue, st.values_span(), format!("invalid X-Frame-Options `{v}`"))
                                .help("use \"DENY\" or \"SAMEORIGIN\" (ALLOW-FROM is obsolete; use a CSP frame-ancestors)"),
                        );
                    }
                }
            }
            "referrer_policy" => decl.referrer_policy = cx.string(st).map(|s| s.value),
            "csp" => decl.csp = cx.string(st).map(|s| s.value),
            "set_request_header" => decl.set_request_headers.extend(cx.header_pair(st)),
            "set_response_header" => decl.set_response_headers.extend(cx.header_pair(st)),
            "remove_request_header" => decl.remove_request_headers.extend(cx.header_name(st)),
            "remove_response_header" => {
                decl.remove_response_headers.extend(cx.header_name(st))
            }
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        decl
    }

    fn header_pair(&mut self, st: &Statement) -> Option<(String, String)> {
        let [name, value] = st.values.as_slice() else {
            self.push(arity(
                st,
                "a header name and value: `set_response_header \"X-Frame-Options\" \"DENY\"`",
            ));
            return None;
        };
        let name = self.header_name_value(name)?;
        let value = self.string_value(value)?;
        Some((name.value, value.value))
    }

    fn header_name(&mut self, st: &Statement) -> Option<String> {
        let [name] = st.values.as_slice() else {
            self.push(arity(st, "one header name"));
            return None;
        };
        self.header_name_value(name).map(|n| n.value)
    }

    fn header_name_value(&mut self, v: &Value) -> Option<S<String>> {
        let name = self.string_value(v)?;
        if !is_token(&name.value) {
            self.push(
                Diagnostic::error(
                    Code::InvalidHeaderName,
                    v.span,
                    format!("invalid header name {:?}", name.value),
                )
                .label("not an HTTP token"),
            );
            return None;
        }
        Some(name)
    }

    fn cors(&mut self, block: &Block) -> CorsDecl {
        const KEYS: &[&str] = &[
            "origins",
            "methods",
            "headers",
            "expose",
            "max_age",
            "credentials",
            "websocket_origins",
        ];
        let mut decl = CorsDecl::default();
        self.statements(block, KEYS, &[], |cx, st| match st.key.text.as_str() {
            "origins" => decl.origins = cx.list(st, Self::origin_value),
            "methods" => decl.methods = cx.methods(st),
            "headers" => {
                decl.headers = cx
                    .list(st, Self::header_name_value)
                    .into_iter()
                    .map(|s| s.value)
                    .collect()
            }
            "expose" => {
                decl.expose = cx
                    .list(st, Self::header_name_value)
                    .into_iter()
                    .map(|s| s.value)
                    .collect()
            }
            "max_age" => decl.max_age_s = cx.duration(st).map(|d| d.value / 1000),
            "credentials" => decl.credentials = cx.bool(st),
            "websocket_origins" => decl.websocket_origins = cx.list(st, Self::origin_value),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.origins.is_empty() {
            self.missing(block, "origins", "origins [\"https://example.com\"]");
        }
        decl
    }

    fn origin_value(&mut self, v: &Value) -> Option<S<String>> {
        let origin = self.string_value(v)?;
        let o = origin.value.as_str();
        let valid = o == "*"
            || ((o.starts_with("https://") || o.starts_with("http://"))
                && !o.ends_with('/')
                && o.split_once("://")
                    .is_some_and(|(_, host)| !host.is_empty() && !host.contains('/')));
        if !valid {
            self.push(
                Diagnostic::error(Code::InvalidOrigin, v.span, format!("invalid CORS origin {o:?}"))
                    .label("not an origin")
                    .help("an origin is `scheme://host[:port]` with no path or trailing slash, e.g. \"https://example.com\""),
            );
            return None;
        }
        Some(origin)
    }

    fn jwt(&mut self, block: &Block) -> JwtDecl {
        const KEYS: &[&str] = &[
            "algorithms",
            "key",
            "issuer",
            "audience",
            "roles_claim",
            "leeway",
            "public",
            "require_roles",
            "token_from",
        ];
        const ALGORITHMS: &[&str] = &[
            "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA",
        ];
        let mut decl = JwtDecl::default();
        self.statements(block, KEYS, &["require_roles", "token_from"], |cx, st| match st.key.text.as_str() {
            "algorithms" => {
                decl.algorithms = cx.list(st, Self::ident_value);
                for alg in &decl.algorithms {
                    if alg.value.eq_ignore_ascii_case("none") {
                        cx.push(
                            Diagnostic::error(
                                Code::InsecureAlgorithm,
                                alg.span,
                                "`none` is not a signature algorithm",
                            )
                            .label("would accept unsigned tokens"),
                        );
                    } else if !ALGORITHMS.contains(&alg.value.as_str()) {
                        let mut d = Diagnostic::error(
                            Code::UnknownAlgorithm,
                            alg.span,
                            format!("unknown JWT algorithm `{}`", alg.value),
                        );
                        d = match did_you_mean(&alg.value, ALGORITHMS.iter().copied()) {
                            Some(h) => d.help(h),
                            None => {
                                d.help(format!("the algorithms are: {}", ALGORITHMS.join(", ")))
                            }
                        };
                        cx.push(d);
                    }
                }
            }
            "key" => decl.key = cx.key_source(st),
            "issuer" => decl.issuer = cx.string(st).map(|s| s.value),
            "audience" => decl.audience = cx.string(st).map(|s| s.value),
            "roles_claim" => decl.roles_claim = cx.ident(st).map(|s| s.value),
            "leeway" => decl.leeway_s = cx.duration(st).map(|d| d.value / 1000),
            "public" => decl.public = cx.list(st, Self::path_value),
            "require_roles" => {
                if let [path, roles] = st.values.as_slice() {
                    if let Some(path) = cx.path_value(path) {
                        let roles = cx
                            .list_value(roles, Self::ident_value)
                            .into_iter()
                            .map(|r| r.value)
                            .collect();
                        decl.require_roles.push((path, roles));
                    }
                } else {
                    cx.push(arity(st, "a path prefix and a list of roles: `require_roles \"/v1/admin/\" [admin]`"));
                }
            }
            "token_from" => cx.token_from(st, &mut decl),
            // Unknown keys were reported by `statements`.
            _ => {}
        });
        if decl.algorithms.is_empty() {
            self.missing(block, "algorithms", "algorithms [HS256]");
        }
        if decl.key.is_none() {
            self.missing(block, "key", "key env JWT_SECRET");
        }
        decl
    }

    /// `token_from subprotocol "PREFIX"` | `token_from cookie NAME`: where
    /// else than `Authorization: Bearer` a WebSocket handshake may carry
    /// its token. Never a query string: URLs end up in logs.
    fn token_from(&mut self, st: &Statement, decl: &mut JwtDecl) {
        let usage = "`token_from subprotocol \"base64url.bearer.authorization.example.com.\"` or `token_from cookie session`";
        match st.values.as_slice() {
            [kw, prefix] if kw.kind == ValueKind::Ident && kw.raw == "subprotocol" => {
                let Some(prefix) = self.string_value(prefix) else {
                    return;
                };
                if !is_token(&prefix.value) {
                    self.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            prefix.span,
                            format!("invalid subprotocol prefix {:?}", prefix.value),
                        )
                        .label("a WebSocket subprotocol is an HTTP token"),
                    );
                    return;
                }
                decl.subprotocol = Some(prefix.value);
            }
            [kw, name] if kw.kind == ValueKind::Ident && kw.raw == "cookie" => {
                if let Some(name) = self.ident_value(name) {
                    decl.cookie = Some(name.value);
                }
            }
            _ => self.push(arity(st, usage)),
        }
    }

    /// `key env NAME` | `key file "PATH"`; an inline string is an error:
    /// secrets never go into generated files.
    fn key_source(&mut self, st: &Statement) -> Option<S<KeyDecl>> {
        let span = st.values_span();
        match st.values.as_slice() {
            [kw, name] if kw.kind == ValueKind::Ident && kw.raw == "env" => {
                let name = self.env_var_value(name)?;
                Some(S::new(KeyDecl::Env(name.value), span))
            }
            [kw, path] if kw.kind == ValueKind::Ident && kw.raw == "file" => {
                let path = self.string_value(path)?;
                Some(S::new(KeyDecl::File(path.value), span))
            }
            [v] if matches!(v.kind, ValueKind::Str(_)) => {
                self.push(
                    Diagnostic::error(Code::InlineSecret, v.span, "a JWT key is written inline")
                        .label("secret in the source")
                        .help("secrets never go into routes.dsl or generated files: use `key env JWT_SECRET` or `key file \"/run/secrets/jwt.pem\"`"),
                );
                None
            }
            _ => {
                self.push(arity(st, "`key env NAME` or `key file \"PATH\"`"));
                None
            }
        }
    }

    fn rate_limit(&mut self, block: &Block) -> RateLimitDecl {
        let mut decl = RateLimitDecl::default();
        self.statements(
            block,
            &["key", "average", "burst", "scope"],
            &[],
            |cx, st| match st.key.text.as_str() {
                "key" => decl.key = cx.one_of(st, &["client_ip", "user"]),
                "average" => decl.average = cx.rate(st),
                "scope" => decl.scope = cx.one_of(st, &["shared", "local"]),
                _ => decl.burst = cx.count(st).map(|c| S::new(u64::from(c.value), c.span)),
            },
        );
        if decl.key.is_none() {
            self.missing(block, "key", "key client_ip` or `key user");
        }
        if decl.average.is_none() {
            self.missing(block, "average", "average 100/s");
        }
        decl
    }

    fn cache(&mut self, block: &Block) -> CacheDecl {
        let mut decl = CacheDecl::default();
        self.statements(
            block,
            &["ttl", "methods", "max_entries", "max_size"],
            &[],
            |cx, st| match st.key.text.as_str() {
                "ttl" => decl.ttl_ms = cx.duration(st).map(|d| d.value),
                "methods" => decl.methods = cx.methods(st),
                "max_entries" => decl.max_entries = cx.count(st).map(|c| u64::from(c.value)),
                _ => decl.max_bytes = cx.size(st),
            },
        );
        for m in &decl.methods {
            if !matches!(m.value.as_str(), "GET" | "HEAD") {
                self.push(
                    Diagnostic::error(
                        Code::UncacheableMethod,
                        m.span,
                        format!("{} responses are not cached", m.value),
                    )
                    .label("not cacheable")
                    .help("the response cache serves GET and HEAD only"),
                );
            }
        }
        if decl.ttl_ms.is_none() {
            self.missing(block, "ttl", "ttl 5m");
        }
        decl
    }
}
