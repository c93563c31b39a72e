//! The middleware body decoder: a middleware record's body (a list of
//! words in the words section) -> its [`MiddlewareConfig`], field by field
//! in the order `encode` writes them.
//!
//! Decoding never fails: a read past the body or a reference that does not
//! resolve records the first problem and yields a default. The validator
//! decodes every body once and rejects the table on that problem; the
//! views decode bodies already known to be sound. It owns the body's
//! encoding only, not the middleware record around it.

use super::table::{list_fits, List, TableView};
use crate::layout::NONE;
use crate::spec::*;

/// The configuration of a `kind` middleware whose body is `body`, and the
/// first problem met decoding it, if any.
pub(super) fn decode_body(
    t: TableView<'_>,
    body: List,
    kind: MiddlewareKind,
) -> (MiddlewareConfig, Option<String>) {
    BodyReader::new(t, body.start, body.count).decode_checked(kind)
}

/// Reads a middleware body word by word. Reads past the body's end or
/// references that do not resolve record the first problem in `error` and
/// yield defaults, so decoding itself never fails: the validator decodes
/// every body once and rejects the table if `error` was set or words were
/// left over.
struct BodyReader<'a> {
    t: TableView<'a>,
    pos: usize,
    end: usize,
    error: Option<String>,
}

impl<'a> BodyReader<'a> {
    /// Reads the `words` words from word `start`.
    fn new(t: TableView<'a>, start: usize, words: usize) -> BodyReader<'a> {
        BodyReader {
            t,
            pos: start,
            end: start + words,
            error: None,
        }
    }
    fn fail(&mut self, problem: String) {
        self.error.get_or_insert(problem);
    }
    fn u32(&mut self) -> u32 {
        if self.pos >= self.end {
            self.fail(format!(
                "body ends at word {} before all its fields",
                self.end
            ));
            return 0;
        }
        self.pos += 1;
        self.t.word(self.pos - 1)
    }
    fn u64(&mut self) -> u64 {
        let lo = u64::from(self.u32());
        lo | u64::from(self.u32()) << 32
    }
    fn bool(&mut self) -> bool {
        match self.u32() {
            0 => false,
            1 => true,
            other => {
                self.fail(format!("word {} is {other}, not a boolean", self.pos - 1));
                false
            }
        }
    }
    fn pair(&mut self) -> (u32, u32) {
        (self.u32(), self.u32())
    }
    fn checked_str(&mut self, r: (u32, u32)) -> &'a str {
        let s = self.t.string(r);
        if s.len() != r.1 as usize {
            self.fail(format!(
                "string reference {r:?} is outside the strings section"
            ));
        }
        s
    }
    fn string(&mut self) -> String {
        let r = self.pair();
        self.checked_str(r).to_owned()
    }
    fn opt_string(&mut self) -> Option<String> {
        let r = self.pair();
        (r.0 != NONE).then(|| self.checked_str(r).to_owned())
    }
    /// A list reference to `words_per_item`-word items, checked to lie in the
    /// words section.
    fn list(&mut self, words_per_item: usize) -> List {
        let r = self.pair();
        let list = self.t.list(r);
        if !list_fits(self.t, list, words_per_item) {
            self.fail(format!(
                "list of {} items at word {} runs past the words section",
                list.count, list.start
            ));
            return List { start: 0, count: 0 };
        }
        list
    }
    /// Reads items of `words_per_item` words each with `item`.
    fn items<T>(
        &mut self,
        words_per_item: usize,
        mut item: impl FnMut(&mut BodyReader<'a>) -> T,
    ) -> Vec<T> {
        let list = self.list(words_per_item);
        let mut inner = BodyReader::new(self.t, list.start, list.count * words_per_item);
        let items = (0..list.count).map(|_| item(&mut inner)).collect();
        if let Some(e) = inner.error {
            self.fail(e);
        }
        items
    }
    /// A field added after the body's first version: a body that ends
    /// before it (a table written before the field existed) reads as the
    /// default.
    fn tail<T: Default>(&mut self, read: impl FnOnce(&mut Self) -> T) -> T {
        if self.pos >= self.end {
            T::default()
        } else {
            read(self)
        }
    }
    fn strings(&mut self) -> Vec<String> {
        self.items(2, Self::string)
    }
    fn pairs(&mut self) -> Vec<(String, String)> {
        self.items(4, |r| (r.string(), r.string()))
    }

    /// The configuration, and the first problem met decoding it, if any.
    fn decode_checked(&mut self, kind: MiddlewareKind) -> (MiddlewareConfig, Option<String>) {
        let config = match kind {
            MiddlewareKind::StripPrefix => MiddlewareConfig::StripPrefix {
                prefixes: self.strings(),
            },
            MiddlewareKind::AddPrefix => MiddlewareConfig::AddPrefix {
                prefix: self.string(),
            },
            MiddlewareKind::Headers => {
                let has_hsts = self.bool();
                let max_age = self.u64();
                let flags = self.u32();
                if flags & !0b111 != 0 {
                    self.fail(format!("unknown header flags {flags:#x}"));
                }
                MiddlewareConfig::Headers(HeadersConfig {
                    hsts_max_age_s: has_hsts.then_some(max_age),
                    hsts_include_subdomains: flags & 1 != 0,
                    hsts_preload: flags & 2 != 0,
                    content_type_nosniff: flags & 4 != 0,
                    frame_options: self.opt_string(),
                    referrer_policy: self.opt_string(),
                    content_security_policy: self.opt_string(),
                    set_request_headers: self.pairs(),
                    remove_request_headers: self.strings(),
                    set_response_headers: self.pairs(),
                    remove_response_headers: self.strings(),
                })
            }
            MiddlewareKind::Cors => MiddlewareConfig::Cors(CorsConfig {
                origins: self.strings(),
                methods: self.strings(),
                headers: self.strings(),
                expose: self.strings(),
                max_age_s: self.u64(),
                credentials: self.bool(),
                websocket_origins: self.tail(Self::strings),
            }),
            MiddlewareKind::Jwt => {
                let algorithms = self.strings();
                let key = match self.u32() {
                    0 => KeySource::Env(self.string()),
                    1 => KeySource::File(self.string()),
                    other => {
                        self.fail(format!(
                            "key source {other} is neither env (0) nor file (1)"
                        ));
                        KeySource::Env(self.string())
                    }
                };
                MiddlewareConfig::Jwt(JwtConfig {
                    algorithms,
                    key,
                    issuer: self.opt_string(),
                    audience: self.opt_string(),
                    roles_claim: self.string(),
                    leeway_s: self.u64(),
                    public: self.strings(),
                    require_roles: self.items(4, |r| RoleRule {
                        prefix: r.string(),
                        roles: r.strings(),
                    }),
                    subprotocol: self.tail(Self::opt_string),
                    cookie: self.tail(Self::opt_string),
                })
            }
            MiddlewareKind::RateLimit => {
                let key = match self.u32() {
                    0 => RateKey::ClientIp,
                    1 => RateKey::User,
                    other => {
                        self.fail(format!(
                            "rate key {other} is neither client_ip (0) nor user (1)"
                        ));
                        RateKey::ClientIp
                    }
                };
                let (average, period_ms, burst) = (self.u64(), self.u64(), self.u64());
                let shared = self.bool().then(|| SharedLimitSpec {
                    key_prefix: self.string(),
                    address_env: self.string(),
                    username_env: self.opt_string(),
                    password_env: self.opt_string(),
                    tls: self.bool(),
                    timeout_ms: self.u64(),
                    on_failure: match self.u32() {
                        0 => StoreFailure::Local,
                        1 => StoreFailure::Open,
                        2 => StoreFailure::Closed,
                        other => {
                            self.fail(format!(
                                "store failure policy {other} is none of local (0), open (1), closed (2)"
                            ));
                            StoreFailure::Local
                        }
                    },
                    replicas: self.u32(),
                });
                MiddlewareConfig::RateLimit(RateLimitConfig {
                    key,
                    average,
                    period_ms,
                    burst,
                    shared,
                })
            }
            MiddlewareKind::Cache => MiddlewareConfig::Cache(CacheConfig {
                ttl_ms: self.u64(),
                methods: self.strings(),
                max_entries: self.u64(),
                max_bytes: self.u64(),
            }),
            MiddlewareKind::AccessLog => MiddlewareConfig::AccessLog { audit: self.bool() },
            MiddlewareKind::Errors => MiddlewareConfig::Errors {
                format: self.string(),
            },
        };
        if self.error.is_none() && self.pos != self.end {
            let left = self.end - self.pos;
            self.fail(format!("{left} words left over after the last field"));
        }
        (config, self.error.take())
    }
}
