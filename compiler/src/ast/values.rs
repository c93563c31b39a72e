//! The value readers: one statement's or one value's text -> a typed value
//! with its span (strings, names, counts, ports, addresses, CIDRs, host
//! names, paths, methods, env var names, htpasswd lines, lists, durations,
//! sizes, rates), reporting a value that is malformed on its own.
//!
//! Durations come back in milliseconds, sizes in bytes, rates as (count,
//! period in ms). This file knows nothing of blocks or of which key takes
//! which value: the block readers choose.

use super::reader::{arity, type_error, Reader};
use super::types::{METHODS, S};
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::{Statement, Value, ValueKind};

impl Reader<'_> {
    /// The statement's only value, or an arity error.
    pub(super) fn single<'v>(&mut self, st: &'v Statement, expected: &str) -> Option<&'v Value> {
        match st.values.as_slice() {
            [v] => Some(v),
            _ => {
                self.push(arity(st, expected));
                None
            }
        }
    }

    pub(super) fn string(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one string")?;
        self.string_value(v)
    }

    pub(super) fn string_value(&mut self, v: &Value) -> Option<S<String>> {
        match &v.kind {
            ValueKind::Str(s) => Some(S::new(s.clone(), v.span)),
            _ => {
                self.push(
                    type_error(v, "", "a string in double quotes")
                        .help(format!("write \"{}\"", v.raw)),
                );
                None
            }
        }
    }

    pub(super) fn ident(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one name")?;
        self.ident_value(v)
    }

    pub(super) fn ident_value(&mut self, v: &Value) -> Option<S<String>> {
        match &v.kind {
            ValueKind::Ident => Some(S::new(v.raw.clone(), v.span)),
            ValueKind::Str(s) => {
                self.push(type_error(v, "", "a name, without quotes").help(format!("write {s}")));
                None
            }
            _ => {
                self.push(type_error(v, "", "a name"));
                None
            }
        }
    }

    pub(super) fn one_of(&mut self, st: &Statement, choices: &[&str]) -> Option<S<String>> {
        let v = self.ident(st)?;
        if choices.contains(&v.value.as_str()) {
            return Some(v);
        }
        let mut d = Diagnostic::error(
            Code::InvalidValue,
            v.span,
            format!("`{}` is not a valid `{}`", v.value, st.key.text),
        )
        .label("unexpected value");
        d = match did_you_mean(&v.value, choices.iter().copied()) {
            Some(h) => d.help(h),
            None => d.help(format!(
                "`{}` is one of: {}",
                st.key.text,
                choices.join(", ")
            )),
        };
        self.push(d);
        None
    }

    pub(super) fn bool(&mut self, st: &Statement) -> Option<S<bool>> {
        let v = self.single(st, "`true` or `false`")?;
        match (&v.kind, v.raw.as_str()) {
            (ValueKind::Ident, "true") => Some(S::new(true, v.span)),
            (ValueKind::Ident, "false") => Some(S::new(false, v.span)),
            _ => {
                self.push(type_error(v, &st.key.text, "`true` or `false`"));
                None
            }
        }
    }

    pub(super) fn number(&mut self, st: &Statement) -> Option<S<f64>> {
        let v = self.single(st, "one number")?;
        let (n, unit) = split_quantity(&v.raw);
        if v.kind != ValueKind::Quantity || !unit.is_empty() {
            self.push(type_error(v, &st.key.text, "a plain number"));
            return None;
        }
        Some(S::new(n, v.span))
    }

    /// A whole number with no unit, at least 1.
    pub(super) fn count(&mut self, st: &Statement) -> Option<S<u32>> {
        let v = self.single(st, "one whole number")?;
        let (_, unit) = split_quantity(&v.raw);
        if v.kind != ValueKind::Quantity || !unit.is_empty() || v.raw.contains('.') {
            self.push(type_error(v, &st.key.text, "a whole number"));
            return None;
        }
        match v.raw.parse::<u32>() {
            Ok(0) if st.key.text != "priority" => {
                self.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        v.span,
                        format!("`{}` must be at least 1", st.key.text),
                    )
                    .label("zero"),
                );
                None
            }
            Ok(n) => Some(S::new(n, v.span)),
            Err(_) => {
                self.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        v.span,
                        format!("`{}` is too large", v.raw),
                    )
                    .label("at most 4294967295"),
                );
                None
            }
        }
    }

    pub(super) fn port(&mut self, st: &Statement) -> Option<S<u16>> {
        let v = self.single(st, "one port number")?;
        self.port_text(
            &v.raw,
            v.span,
            v.kind == ValueKind::Quantity && !v.raw.contains('.'),
        )
    }

    fn port_text(&mut self, text: &str, span: Span, is_integer: bool) -> Option<S<u16>> {
        match text.parse::<u32>() {
            Ok(p @ 1..=65535) if is_integer => Some(S::new(p as u16, span)),
            _ => {
                self.push(
                    Diagnostic::error(Code::InvalidPort, span, format!("invalid port `{text}`"))
                        .label("not a port")
                        .help("a port is a whole number from 1 to 65535"),
                );
                None
            }
        }
    }

    pub(super) fn address(&mut self, st: &Statement) -> Option<S<(String, u16)>> {
        let v = self.single(st, "an address such as `:443` or `0.0.0.0:8080`")?;
        self.address_value(v)
    }

    fn address_value(&mut self, v: &Value) -> Option<S<(String, u16)>> {
        if v.kind != ValueKind::Address {
            let hint = if let ValueKind::Str(s) = &v.kind {
                format!("write it without quotes: {s}")
            } else {
                "e.g. `:443`".into()
            };
            self.push(type_error(v, "", "an address `host:port` or `:port`").help(hint));
            return None;
        }
        let (host, port) = v
            .raw
            .rsplit_once(':')
            .expect("the grammar's address has a colon");
        let port_span = Span::new(v.span.end - port.len(), v.span.end);
        if host.contains('.') && host.chars().all(|c| c.is_ascii_digit() || c == '.') {
            self.ipv4(host, Span::new(v.span.start, v.span.start + host.len()))?;
        }
        let port = self.port_text(port, port_span, true)?;
        Some(S::new((v.raw.clone(), port.value), v.span))
    }

    /// An instance address: a host is required.
    pub(super) fn address_value_with_host(&mut self, v: &Value) -> Option<S<(String, u16)>> {
        let a = self.address_value(v)?;
        let (host, _) = a.value.0.rsplit_once(':').expect("checked above");
        if host.is_empty() {
            self.push(
                Diagnostic::error(Code::InvalidInstance, v.span, "an instance needs a host")
                    .label("no host")
                    .help("write `host:port`, e.g. auth-service-1:8081"),
            );
            return None;
        }
        Some(S::new((host.to_string(), a.value.1), a.span))
    }

    pub(super) fn cidr(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one CIDR such as `172.20.0.0/16`")?;
        self.cidr_value(v)
    }

    pub(super) fn cidr_value(&mut self, v: &Value) -> Option<S<String>> {
        let valid_shape = v.kind == ValueKind::Ip && v.raw.contains('/');
        let (ip, bits) = v.raw.split_once('/').unwrap_or((&v.raw, ""));
        if !valid_shape {
            self.push(type_error(v, "", "a CIDR such as `172.20.0.0/16`"));
            return None;
        }
        let addr = self.ipv4(ip, Span::new(v.span.start, v.span.start + ip.len()))?;
        let bits_span = Span::new(v.span.end - bits.len(), v.span.end);
        let Some(bits) = bits.parse::<u32>().ok().filter(|b| *b <= 32) else {
            self.push(
                Diagnostic::error(
                    Code::InvalidCidr,
                    bits_span,
                    format!("invalid prefix length `/{bits}`"),
                )
                .label("must be 0 to 32"),
            );
            return None;
        };
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        if addr & !mask != 0 {
            let network = std::net::Ipv4Addr::from(addr & mask);
            self.push(
                Diagnostic::error(
                    Code::InvalidCidr,
                    v.span,
                    format!("`{}` has host bits set", v.raw),
                )
                .label("not a network address")
                .help(format!("did you mean `{network}/{bits}`?")),
            );
            return None;
        }
        Some(S::new(v.raw.clone(), v.span))
    }

    fn ipv4(&mut self, text: &str, span: Span) -> Option<u32> {
        match text.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Some(u32::from(ip)),
            Err(_) => {
                self.push(
                    Diagnostic::error(
                        Code::InvalidIp,
                        span,
                        format!("invalid IPv4 address `{text}`"),
                    )
                    .label("not an IPv4 address")
                    .help("each of the four parts is a number from 0 to 255"),
                );
                None
            }
        }
    }

    pub(super) fn hostname(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one host name in quotes")?;
        self.hostname_value(v)
    }

    pub(super) fn hostname_value(&mut self, v: &Value) -> Option<S<String>> {
        let host = self.string_value(v)?;
        let name = host.value.strip_prefix("*.").unwrap_or(&host.value);
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid || host.value.bytes().any(|b| b.is_ascii_uppercase()) {
            self.push(
                Diagnostic::error(Code::InvalidHost, v.span, format!("invalid host name {:?}", host.value))
                    .label("not a host name")
                    .help("a host name is lower-case labels of letters, digits and `-` separated by dots (a leading `*.` for a wildcard)"),
            );
            return None;
        }
        Some(host)
    }

    pub(super) fn path(&mut self, st: &Statement) -> Option<S<String>> {
        let v = self.single(st, "one path in quotes, starting with `/`")?;
        self.path_value(v)
    }

    /// A route path: absolute, already in normal form, since that is what
    /// requests are matched against after normalization.
    pub(super) fn path_value(&mut self, v: &Value) -> Option<S<String>> {
        let path = self.string_value(v)?;
        let p = path.value.as_str();
        let problem = if !p.starts_with('/') {
            Some("a path starts with `/`")
        } else if p.contains("//") {
            Some("a path has no empty segments (`//`)")
        } else if p.split('/').any(|seg| seg == "." || seg == "..") {
            Some("a path has no `.` or `..` segments")
        } else if p.contains('%') {
            Some("write the path decoded: requests are matched after percent-decoding")
        } else if p
            .bytes()
            .any(|b| !(b.is_ascii_graphic()) || matches!(b, b'?' | b'#' | b'\\'))
        {
            Some("a path has no spaces, `?`, `#`, `\\` or non-ASCII characters")
        } else {
            None
        };
        if let Some(problem) = problem {
            self.push(
                Diagnostic::error(Code::InvalidPath, v.span, format!("invalid path {p:?}"))
                    .label("not a normalized path")
                    .help(problem),
            );
            return None;
        }
        Some(path)
    }

    pub(super) fn methods(&mut self, st: &Statement) -> Vec<S<String>> {
        let methods = self.list(st, Self::ident_value);
        methods
            .into_iter()
            .filter(|m| {
                if METHODS.contains(&m.value.as_str()) {
                    return true;
                }
                let upper = m.value.to_ascii_uppercase();
                let mut d = Diagnostic::error(
                    Code::InvalidMethod,
                    m.span,
                    format!("unknown HTTP method `{}`", m.value),
                )
                .label("not a method");
                d = if METHODS.contains(&upper.as_str()) {
                    d.help(format!("methods are upper-case: `{upper}`"))
                } else {
                    d.help(format!("the methods are: {}", METHODS.join(", ")))
                };
                self.push(d);
                false
            })
            .collect()
    }

    pub(super) fn env_var_value(&mut self, v: &Value) -> Option<S<String>> {
        let name = self.ident_value(v)?;
        let n = name.value.as_str();
        let valid = n
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            let fixed = crate::model::env_var_spelling(n);
            self.push(
                Diagnostic::error(
                    Code::InvalidEnvVar,
                    v.span,
                    format!("invalid environment variable name `{n}`"),
                )
                .label("not an env var name")
                .help(format!(
                    "env var names are upper-case letters, digits and `_`: `{fixed}`"
                )),
            );
            return None;
        }
        Some(name)
    }

    pub(super) fn htpasswd_value(&mut self, v: &Value) -> Option<S<String>> {
        let entry = self.string_value(v)?;
        let hashed = entry.value.split_once(':').is_some_and(|(user, hash)| {
            !user.is_empty()
                && (hash.starts_with("$apr1$")
                    || hash.starts_with("$2y$")
                    || hash.starts_with("$2b$")
                    || hash.starts_with("{SHA}"))
        });
        if !hashed {
            self.push(
                Diagnostic::error(Code::InlineSecret, v.span, "a basic-auth user without a password hash")
                    .label("expected `user:hash`")
                    .help("write htpasswd lines (`htpasswd -nB user`); plain passwords never go into generated files"),
            );
            return None;
        }
        Some(entry)
    }

    /// `[a, b]` with each item converted by `item`; a single value outside a
    /// list is an error with a hint.
    pub(super) fn list<T>(
        &mut self,
        st: &Statement,
        item: fn(&mut Self, &Value) -> Option<S<T>>,
    ) -> Vec<S<T>> {
        match st.values.as_slice() {
            [v] => self.list_value(v, item),
            _ => {
                self.push(arity(st, "one list in `[...]`"));
                Vec::new()
            }
        }
    }

    pub(super) fn list_value<T>(
        &mut self,
        v: &Value,
        item: fn(&mut Self, &Value) -> Option<S<T>>,
    ) -> Vec<S<T>> {
        match &v.kind {
            ValueKind::List(items) => items.iter().filter_map(|i| item(self, i)).collect(),
            _ => {
                self.push(
                    type_error(v, "", "a list in `[...]`").help(format!("write [{}]", v.raw)),
                );
                Vec::new()
            }
        }
    }

    pub(super) fn duration(&mut self, st: &Statement) -> Option<S<u64>> {
        let v = self.single(st, "one duration such as `30s`")?;
        self.duration_value(v)
    }

    /// `500ms`, `30s`, `5m`, `1h`, `7d` -> milliseconds.
    pub(super) fn duration_value(&mut self, v: &Value) -> Option<S<u64>> {
        let (n, unit) = split_quantity(&v.raw);
        let factor = match unit {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => {
                let message = if v.kind != ValueKind::Quantity {
                    format!("expected a duration, found {}", v.kind.describe())
                } else if unit.is_empty() {
                    format!("`{}` has no unit", v.raw)
                } else {
                    format!("invalid duration `{}`: unknown unit `{unit}`", v.raw)
                };
                self.push(
                    Diagnostic::error(Code::InvalidDuration, v.span, message)
                        .label("not a duration")
                        .help("a duration is a number and a unit: ms, s, m, h or d (e.g. `30s`, `5m`)"),
                );
                return None;
            }
        };
        Some(S::new((n * factor).round() as u64, v.span))
    }

    pub(super) fn size(&mut self, st: &Statement) -> Option<u64> {
        let v = self.single(st, "one size such as `64KiB`")?;
        let (n, unit) = split_quantity(&v.raw);
        let factor: u64 = match unit {
            "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => {
                self.push(
                    Diagnostic::error(Code::InvalidSize, v.span, format!("invalid size `{}`", v.raw))
                        .label("not a size")
                        .help("a size is a number and a unit: B, KB, MB, GB, KiB, MiB or GiB (e.g. `16KiB`)"),
                );
                return None;
            }
        };
        Some((n * factor as f64).round() as u64)
    }

    pub(super) fn rate(&mut self, st: &Statement) -> Option<S<(u64, u64)>> {
        let v = self.single(st, "one rate such as `100/s`")?;
        self.rate_value(v)
    }

    /// `100/s`, `20/m`, `1000/h` -> (count, period in ms).
    pub(super) fn rate_value(&mut self, v: &Value) -> Option<S<(u64, u64)>> {
        let parsed = (v.kind == ValueKind::Rate)
            .then(|| v.raw.split_once('/'))
            .flatten()
            .and_then(|(count, unit)| {
                let period = match unit {
                    "s" => 1_000,
                    "m" => 60_000,
                    "h" => 3_600_000,
                    _ => return None,
                };
                count
                    .parse::<u64>()
                    .ok()
                    .filter(|c| *c > 0)
                    .map(|c| (c, period))
            });
        if parsed.is_none() {
            self.push(
                Diagnostic::error(
                    Code::InvalidRate,
                    v.span,
                    format!("invalid rate `{}`", v.raw),
                )
                .label("not a rate")
                .help("a rate is a whole number of requests per s, m or h (e.g. `100/s`)"),
            );
        }
        parsed.map(|p| S::new(p, v.span))
    }
}

/// `30s` -> (30.0, "s"); `5%` -> (5.0, "%").
pub(super) fn split_quantity(raw: &str) -> (f64, &str) {
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    (raw[..split].parse().unwrap_or(0.0), &raw[split..])
}
