//! The fast path's request-head parser: strict RFC 9112, and only for the
//! subset of requests the fast path serves (a bodiless HTTP/1.1 request in
//! origin-form, with exactly one `Host` and none of the fields that carry a
//! body, manage the connection or ask for an upgrade). It refuses before it
//! guesses: whatever it does not positively understand, malformed or merely
//! outside the subset, is [`Parsed::Unsupported`], and the connection driver
//! hands those bytes to hyper, which answers exactly as it does without the
//! fast path. It does not cap the head's size (the driver does), read from
//! the connection, or judge what the request asks for.
//!
//! [`parse`] goes over the bytes once and never panics; the target and the
//! field values of a [`RequestHead`] are slices of the input, not copies.
//! [`Parsed::Partial`] means every byte so far can still begin a head of the
//! subset: a byte that rules that out is [`Parsed::Unsupported`] at once, so
//! no later bytes can turn an `Unsupported` into a `Complete`.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

/// The longest request-target accepted; a longer one is left to hyper.
pub const MAX_TARGET_LEN: usize = 8 * 1024;
/// The longest method accepted (the registered ones are at most 7 bytes).
pub const MAX_METHOD_LEN: usize = 32;
/// The longest field name accepted.
pub const MAX_NAME_LEN: usize = 256;

/// A request head of the subset.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestHead {
    /// The method, any token.
    pub method: http::Method,
    /// The request-target, origin-form only (a path and an optional query),
    /// sharing the input's bytes.
    pub uri: http::Uri,
    /// The fields in the order they came, names lowercased, values trimmed
    /// of surrounding whitespace and sharing the input's bytes; a repeated
    /// field is kept as repeated entries.
    pub headers: http::HeaderMap,
}

/// What [`parse`] makes of a buffer.
// The head is unboxed on purpose: it is returned once a request and moved
// on into the request, and a box would be one more allocation a request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A whole head of the subset, `len` bytes long (through the blank line's CRLF).
    Complete { head: RequestHead, len: usize },
    /// What is there so far is a valid prefix of the subset; read more.
    Partial,
    /// Outside the subset (malformed, or well-formed but something the fast path leaves to hyper).
    Unsupported,
}

/// Why parsing stopped short of a whole head.
enum Stop {
    Partial,
    Unsupported,
}

/// Byte classes, one table lookup a byte. A field name's and a method's
/// bytes: tchar (RFC 9110).
const TCHAR: u8 = 1;
/// A field value's own bytes: VCHAR, SP and HTAB.
const VALUE: u8 = 2;
/// A request-target's path bytes: those `http::Uri` takes in a path as they
/// are, VCHAR but `#`, `<`, `>`, `` ` `` and `?` (which starts the query).
const PATH: u8 = 4;
/// A request-target's query bytes: those `http::Uri` takes in a query,
/// VCHAR but `#`, `<`, `>` and `"`.
const QUERY: u8 = 8;

static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0x21;
    while b <= 0x7E {
        table[b] = VALUE | PATH | QUERY;
        b += 1;
    }
    table[b'#' as usize] = VALUE;
    table[b'<' as usize] = VALUE;
    table[b'>' as usize] = VALUE;
    table[b'`' as usize] &= !PATH;
    table[b'?' as usize] &= !PATH;
    table[b'"' as usize] &= !QUERY;
    table[b' ' as usize] = VALUE;
    table[b'\t' as usize] = VALUE;
    let tchars = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut i = 0;
    while i < tchars.len() {
        table[tchars[i] as usize] |= TCHAR;
        i += 1;
    }
    table
};

#[inline]
fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

/// The version and line end that close the request line.
const VERSION_CRLF: &[u8] = b"HTTP/1.1\r\n";

/// Parses the request head at the front of `buf` (the connection's read
/// buffer, starting at a request's first byte), accepting at most
/// `max_headers` field lines.
pub fn parse(buf: &Bytes, max_headers: usize) -> Parsed {
    match parse_head(buf, max_headers) {
        Ok((head, len)) => Parsed::Complete { head, len },
        Err(Stop::Partial) => Parsed::Partial,
        Err(Stop::Unsupported) => Parsed::Unsupported,
    }
}

/// The index of the first byte at or after `from` not of `class`, if the
/// run of `class` bytes before it is at most `limit` long;
/// [`Stop::Unsupported`] as soon as the run is longer, [`Stop::Partial`] if
/// the input ends first.
#[inline]
fn scan(b: &[u8], from: usize, class: u8, limit: usize) -> Result<usize, Stop> {
    let end = b.len().min(from.saturating_add(limit).saturating_add(1));
    let mut i = from;
    while i < end {
        if !is(b[i], class) {
            return Ok(i);
        }
        i += 1;
    }
    if i - from > limit {
        Err(Stop::Unsupported)
    } else {
        Err(Stop::Partial)
    }
}

/// The index of the first byte at or after `from` that is not of
/// [`VALUE`] (a field value's bytes and whitespace); [`Stop::Partial`] if
/// the input ends first. Eight bytes at a time while they are all SP to
/// `~`, the run a value is nearly always made of (a token in
/// `Authorization` is hundreds of them), then a byte at a time.
#[inline]
fn value_run(b: &[u8], mut i: usize) -> Result<usize, Stop> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    while let Some(word) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        // A byte below SP (a CTL, HTAB, CR) sets its high bit in `below`,
        // one from DEL up in `above`; a borrow or carry can only follow a
        // byte that already set one, so "any" is exact.
        let below = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let above = (w.wrapping_add(ONES) | w) & HIGH;
        if below | above != 0 {
            break;
        }
        i += 8;
    }
    loop {
        match b.get(i) {
            None => return Err(Stop::Partial),
            Some(&c) if is(c, VALUE) => i += 1,
            Some(_) => return Ok(i),
        }
    }
}

/// `CRLF` at `at`: the index after it.
#[inline]
fn crlf(b: &[u8], at: usize) -> Result<usize, Stop> {
    match b.get(at) {
        None => Err(Stop::Partial),
        Some(b'\r') => match b.get(at + 1) {
            None => Err(Stop::Partial),
            Some(b'\n') => Ok(at + 2),
            Some(_) => Err(Stop::Unsupported),
        },
        Some(_) => Err(Stop::Unsupported),
    }
}

fn parse_head(buf: &Bytes, max_headers: usize) -> Result<(RequestHead, usize), Stop> {
    let b: &[u8] = buf;

    // method SP: a leading empty line (CR or LF first) is no token either.
    let method_end = scan(b, 0, TCHAR, MAX_METHOD_LEN)?;
    if method_end == 0 || b[method_end] != b' ' {
        return Err(Stop::Unsupported);
    }
    let method = Method::from_bytes(&b[..method_end]).map_err(|_| Stop::Unsupported)?;

    // request-target SP, origin-form.
    let target_start = method_end + 1;
    match b.get(target_start) {
        None => return Err(Stop::Partial),
        Some(b'/') => {}
        Some(_) => return Err(Stop::Unsupported),
    }
    let mut target_end = scan(b, target_start, PATH, MAX_TARGET_LEN)?;
    if b[target_end] == b'?' {
        // The `?` counts towards the cap too.
        let used = target_end + 1 - target_start;
        let left = MAX_TARGET_LEN.checked_sub(used).ok_or(Stop::Unsupported)?;
        target_end = scan(b, target_end + 1, QUERY, left)?;
    }
    if b[target_end] != b' ' {
        return Err(Stop::Unsupported);
    }
    let uri = Uri::from_maybe_shared(buf.slice(target_start..target_end))
        .map_err(|_| Stop::Unsupported)?;
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(Stop::Unsupported);
    }

    // HTTP/1.1 CRLF, or as much of it as there is.
    let version_start = target_end + 1;
    let seen = &b[version_start..b.len().min(version_start + VERSION_CRLF.len())];
    if !VERSION_CRLF.starts_with(seen) {
        return Err(Stop::Unsupported);
    }
    if seen.len() < VERSION_CRLF.len() {
        return Err(Stop::Partial);
    }
    let mut at = version_start + VERSION_CRLF.len();

    let mut headers = HeaderMap::with_capacity(max_headers.min(16));
    let mut lines = 0usize;
    let mut host = false;
    loop {
        // The blank line, or a field line's name; a line starting with
        // whitespace (obs-fold) or any other byte is neither.
        match b.get(at) {
            None => return Err(Stop::Partial),
            Some(b'\r') => {
                // Without a Host no head can end here: refused at the CR.
                if !host {
                    return Err(Stop::Unsupported);
                }
                let len = crlf(b, at)?;
                let head = RequestHead {
                    method,
                    uri,
                    headers,
                };
                return Ok((head, len));
            }
            Some(&c) if is(c, TCHAR) => {}
            Some(_) => return Err(Stop::Unsupported),
        }
        lines += 1;
        if lines > max_headers {
            return Err(Stop::Unsupported);
        }

        // field-name ":", nothing between them.
        let name_end = scan(b, at, TCHAR, MAX_NAME_LEN)?;
        if b[name_end] != b':' {
            return Err(Stop::Unsupported);
        }
        let name = HeaderName::from_bytes(&b[at..name_end]).map_err(|_| Stop::Unsupported)?;
        let is_host = name == header::HOST;
        if is_host {
            if host {
                return Err(Stop::Unsupported);
            }
            host = true;
        } else if outside_subset(&name) {
            return Err(Stop::Unsupported);
        }

        // OWS field-value OWS CRLF: the value is what lies between the
        // first and the last byte that is not whitespace.
        let mut value_start = name_end + 1;
        while let Some(b' ' | b'\t') = b.get(value_start) {
            value_start += 1;
        }
        let i = value_run(b, value_start)?;
        let mut value_end = i;
        while value_end > value_start && matches!(b[value_end - 1], b' ' | b'\t') {
            value_end -= 1;
        }
        // An empty Host is refused at the byte that ends it.
        if is_host && value_end == value_start {
            return Err(Stop::Unsupported);
        }
        at = crlf(b, i)?;
        let value = HeaderValue::from_maybe_shared(buf.slice(value_start..value_end))
            .map_err(|_| Stop::Unsupported)?;
        headers.append(name, value);
    }
}

/// Whether a field puts the request outside the subset: it announces a
/// body, manages the connection, or asks for something other than a plain
/// request and response.
fn outside_subset(name: &HeaderName) -> bool {
    *name == header::CONTENT_LENGTH
        || *name == header::TRANSFER_ENCODING
        || *name == header::CONNECTION
        || *name == header::UPGRADE
        || *name == header::EXPECT
        || *name == header::TE
        || *name == header::TRAILER
        || matches!(
            name.as_str(),
            "http2-settings" | "keep-alive" | "proxy-connection"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(input: &[u8], max_headers: usize) -> Parsed {
        parse(&Bytes::copy_from_slice(input), max_headers)
    }

    fn parse_bytes(input: &[u8]) -> Parsed {
        parse_with(input, 64)
    }

    /// The head and its length, failing the test if it is not Complete.
    fn complete(input: &[u8]) -> (RequestHead, usize) {
        match parse_bytes(input) {
            Parsed::Complete { head, len } => (head, len),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn assert_unsupported(input: &[u8]) {
        assert_eq!(
            parse_bytes(input),
            Parsed::Unsupported,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }

    fn assert_partial(input: &[u8]) {
        assert_eq!(
            parse_bytes(input),
            Parsed::Partial,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }

    /// `head(cap)` is Complete and `head(cap + 1)` Unsupported.
    fn assert_capped(cap: usize, head: impl Fn(usize) -> String) {
        complete(head(cap).as_bytes());
        assert_unsupported(head(cap + 1).as_bytes());
    }

    /// The fields as (name, value) pairs, in order.
    fn fields(head: &RequestHead) -> Vec<(&str, &[u8])> {
        head.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect()
    }

    const WRK: &[u8] = b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\n\r\n";
    const CURL: &[u8] =
        b"GET /api/v1/users?id=7&x=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n";
    const BROWSER: &[u8] = b"GET /discover/feed?page=2 HTTP/1.1\r\n\
Host: app.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://app.example.com/\r\n\
Cookie: session=abc123; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-User: ?1\r\n\
Priority: u=0, i\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
\r\n";

    #[test]
    fn wrk_head_is_complete() {
        let (head, len) = complete(WRK);
        assert_eq!(len, WRK.len());
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.uri.path(), "/index.html");
        assert_eq!(head.uri.query(), None);
        assert_eq!(fields(&head), [("host", &b"localhost:8080"[..])]);
    }

    #[test]
    fn curl_head_is_complete() {
        let (head, len) = complete(CURL);
        assert_eq!(len, CURL.len());
        assert_eq!(head.uri.path(), "/api/v1/users");
        assert_eq!(head.uri.query(), Some("id=7&x=%20"));
        assert_eq!(
            fields(&head),
            [
                ("host", &b"example.com"[..]),
                ("user-agent", b"curl/8.5.0"),
                ("accept", b"*/*"),
            ]
        );
    }

    #[test]
    fn browser_head_is_complete() {
        let (head, len) = complete(BROWSER);
        assert_eq!(len, BROWSER.len());
        assert_eq!(head.headers.len(), 15);
        assert_eq!(head.headers["cookie"], "session=abc123; theme=dark");
        // Upgrade-Insecure-Requests is not Upgrade.
        assert_eq!(head.headers["upgrade-insecure-requests"], "1");
        let names: Vec<_> = head.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names[0], "host");
        assert_eq!(names[14], "cache-control");
    }

    #[test]
    fn other_methods_and_targets() {
        for (input, method, pq) in [
            (
                &b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
                Method::HEAD,
                "/",
            ),
            (
                b"DELETE /x/1 HTTP/1.1\r\nHost: a\r\n\r\n",
                Method::DELETE,
                "/x/1",
            ),
            (
                b"OPTIONS /? HTTP/1.1\r\nHost: a\r\n\r\n",
                Method::OPTIONS,
                "/?",
            ),
            (
                b"PURGE /a//b/../c\"{}\"?q=`x`&{y}?/ HTTP/1.1\r\nHost: a\r\n\r\n",
                Method::from_bytes(b"PURGE").unwrap(),
                "/a//b/../c\"{}\"?q=`x`&{y}?/",
            ),
            (
                b"M-SEARCH //double HTTP/1.1\r\nHost: a\r\n\r\n",
                Method::from_bytes(b"M-SEARCH").unwrap(),
                "//double",
            ),
        ] {
            let (head, _) = complete(input);
            assert_eq!(head.method, method);
            assert_eq!(head.uri.path_and_query().unwrap().as_str(), pq);
            assert!(head.uri.scheme().is_none() && head.uri.authority().is_none());
        }
    }

    #[test]
    fn every_tchar_is_a_method_and_a_name() {
        let tchars = b"!#$%&'*+-.^_`|~09AZaz";
        let mut input = tchars.to_vec();
        input.extend_from_slice(b" / HTTP/1.1\r\nHost: a\r\n");
        input.extend_from_slice(tchars);
        input.extend_from_slice(b": v\r\n\r\n");
        let (head, _) = complete(&input);
        assert_eq!(head.method.as_str().as_bytes(), tchars);
        assert_eq!(
            head.headers.keys().nth(1).unwrap().as_str(),
            "!#$%&'*+-.^_`|~09azaz"
        );
    }

    #[test]
    fn shares_the_input_bytes() {
        let buf = Bytes::copy_from_slice(CURL);
        let Parsed::Complete { head, .. } = parse(&buf, 64) else {
            panic!("not complete")
        };
        let range = buf.as_ptr_range();
        let inside = |p: *const u8| range.contains(&p);
        assert!(inside(head.uri.path().as_ptr()));
        for value in head.headers.values() {
            assert!(inside(value.as_bytes().as_ptr()));
        }
    }

    #[test]
    fn len_stops_at_the_blank_line_before_pipelined_bytes() {
        let mut input = WRK.to_vec();
        input.extend_from_slice(CURL);
        let (head, len) = complete(&input);
        assert_eq!(len, WRK.len());
        assert_eq!(head.uri.path(), "/index.html");
        let (second, len2) = complete(&input[len..]);
        assert_eq!(len2, CURL.len());
        assert_eq!(second.uri.path(), "/api/v1/users");

        // A body-looking tail or garbage after the head is not the head's.
        let mut input = WRK.to_vec();
        input.extend_from_slice(b"\x00\xff garbage");
        assert_eq!(complete(&input).1, WRK.len());
    }

    #[test]
    fn every_prefix_of_a_head_is_partial() {
        for input in [WRK, CURL, BROWSER] {
            for cut in 0..input.len() {
                assert_partial(&input[..cut]);
            }
            assert_eq!(complete(input).1, input.len());
        }
    }

    #[test]
    fn repeated_fields_are_kept_in_order() {
        let (head, _) = complete(
            b"GET / HTTP/1.1\r\nAccept: a\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\n\
accept: b\r\nx-forwarded-for: 2.2.2.2\r\nACCEPT: c\r\n\r\n",
        );
        let accept: Vec<_> = head.headers.get_all("accept").iter().collect();
        assert_eq!(accept, ["a", "b", "c"]);
        let xff: Vec<_> = head.headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, ["1.1.1.1", "2.2.2.2"]);
        assert_eq!(head.headers.len(), 6);
    }

    #[test]
    fn values_are_trimmed_of_ows() {
        let (head, _) = complete(
            b"GET / HTTP/1.1\r\nHost:h\r\nA:  \t x y \t \r\nB:\tz\r\nC: \r\nD:\r\nE: \t\r\n\r\n",
        );
        assert_eq!(
            fields(&head),
            [
                ("host", &b"h"[..]),
                ("a", b"x y"),
                ("b", b"z"),
                ("c", b""),
                ("d", b""),
                ("e", b""),
            ]
        );
    }

    #[test]
    fn names_are_lowercased() {
        let (head, _) = complete(b"GET / HTTP/1.1\r\nHOST: h\r\nX-Request-ID: 1\r\n\r\n");
        assert_eq!(fields(&head), [("host", &b"h"[..]), ("x-request-id", b"1")]);
    }

    #[test]
    fn max_headers_counts_field_lines() {
        let input = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nA: 2\r\n\r\n";
        assert!(matches!(parse_with(input, 3), Parsed::Complete { .. }));
        assert_eq!(parse_with(input, 2), Parsed::Unsupported);
        // Already one line too many, before the head is whole.
        assert_eq!(
            parse_with(&input[..input.len() - 6], 2),
            Parsed::Unsupported
        );
        assert_eq!(parse_with(WRK, 0), Parsed::Unsupported);
    }

    // The request line.

    #[test]
    fn only_http_1_1() {
        assert_unsupported(b"GET / HTTP/1.0\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET / http/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.11\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET /\r\nHost: h\r\n\r\n");
        assert_unsupported(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        // Known already from the first wrong byte.
        assert_unsupported(b"GET / HTTP/1.0");
        assert_unsupported(b"GET / HTTP/2");
    }

    #[test]
    fn exactly_one_space_between_parts() {
        assert_unsupported(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n");
        assert_unsupported(b" GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET /\tHTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn method_is_a_token() {
        assert_unsupported(b"G@T / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GE\xc3\x89T / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET(x) / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_capped(MAX_METHOD_LEN, |n| {
            format!("{} / HTTP/1.1\r\nHost: h\r\n\r\n", "X".repeat(n))
        });
    }

    #[test]
    fn leading_empty_lines_are_left_to_hyper() {
        assert_unsupported(b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"\r");
    }

    #[test]
    fn target_is_origin_form() {
        assert_unsupported(b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
        assert_unsupported(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET ?q HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET /a?q#frag HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn target_bytes_are_what_uri_takes_as_they_are() {
        // In the path: no < > ` (they want percent-encoding); in the query:
        // no < > "; refused at the byte, as http::Uri would refuse them.
        for target in [
            &b"/a<b"[..],
            b"/a>b",
            b"/a`b",
            b"/a?b<c",
            b"/a?b>c",
            b"/a?b\"c",
        ] {
            let mut input = b"GET ".to_vec();
            input.extend_from_slice(target);
            assert_unsupported(&input[..input.len() - 1]);
            input.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_unsupported(&input);
        }
    }

    #[test]
    fn target_bytes_are_visible_ascii() {
        for bad in [0u8, b'\t', 0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xff] {
            let mut input = b"GET /a".to_vec();
            input.push(bad);
            input.extend_from_slice(b"b HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_unsupported(&input);
            // And at once, before the line is whole.
            assert_unsupported(&input[..7]);
        }
        assert_unsupported(b"GET /a\r\nHost: h\r\n\r\n");
        assert_unsupported(b"GET /a\nHost: h\r\n\r\n");
    }

    #[test]
    fn target_length_is_capped() {
        let at_cap = format!(
            "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
            "a".repeat(MAX_TARGET_LEN - 1)
        );
        complete(at_cap.as_bytes());
        let over = format!(
            "GET /{} HTTP/1.1\r\nHost: h\r\n\r\n",
            "a".repeat(MAX_TARGET_LEN)
        );
        assert_unsupported(over.as_bytes());
        // Over the cap and still reading the target: no need to wait.
        assert_unsupported(&over.as_bytes()[..MAX_TARGET_LEN + 6]);
        // The same with a query, the cap counting the path, `?` and query.
        for path_len in [1, 2, MAX_TARGET_LEN - 1, MAX_TARGET_LEN] {
            let path = format!("/{}", "p".repeat(path_len - 1));
            let query = "q".repeat(MAX_TARGET_LEN.saturating_sub(path_len + 1));
            let at_cap = format!("GET {path}?{query} HTTP/1.1\r\nHost: h\r\n\r\n");
            let over = format!("GET {path}?{query}q HTTP/1.1\r\nHost: h\r\n\r\n");
            if path_len < MAX_TARGET_LEN {
                complete(at_cap.as_bytes());
            } else {
                assert_unsupported(at_cap.as_bytes());
            }
            assert_unsupported(over.as_bytes());
        }
    }

    // Line ends.

    #[test]
    fn bare_lf_is_unsupported() {
        assert_unsupported(b"GET / HTTP/1.1\nHost: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\n\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\nB: 2\r\n\r\n");
    }

    #[test]
    fn cr_without_lf_is_unsupported() {
        assert_unsupported(b"GET / HTTP/1.1\rHost: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\n\rX");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA: x\ry\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA:\r \r\n\r\n");
    }

    #[test]
    fn obs_fold_is_unsupported() {
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n 2\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\t2\r\n\r\n");
        // Whitespace before the first field line, too.
        assert_unsupported(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\n ");
    }

    // Field lines.

    #[test]
    fn no_whitespace_before_the_colon() {
        assert_unsupported(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA\t: 1\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA : 1\r\n\r\n");
    }

    #[test]
    fn field_name_is_a_token() {
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA(b): 1\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA/b: 1\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\n\xc3\xa4: 1\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nno-colon\r\n\r\n");
        assert_capped(MAX_NAME_LEN, |n| {
            format!("GET / HTTP/1.1\r\nHost: h\r\n{}: 1\r\n\r\n", "n".repeat(n))
        });
    }

    #[test]
    fn field_value_bytes_are_vchar_sp_htab() {
        complete(b"GET / HTTP/1.1\r\nHost: h\r\nA: !~ \t\"x\"\r\n\r\n");
        for bad in [0u8, 0x01, 0x0b, 0x0c, 0x1f, 0x7f, 0x80, 0xa0, 0xff] {
            let mut input = b"GET / HTTP/1.1\r\nHost: h\r\nA: x".to_vec();
            input.push(bad);
            input.extend_from_slice(b"y\r\n\r\n");
            assert_unsupported(&input);
            // Known at once, not only when the head is whole.
            assert_unsupported(&input[..input.len() - 5]);
        }
    }

    #[test]
    fn fields_outside_the_subset() {
        for field in [
            "Content-Length: 0",
            "content-length: 5",
            "Transfer-Encoding: chunked",
            "Connection: keep-alive",
            "Connection: close",
            "Upgrade: websocket",
            "Expect: 100-continue",
            "TE: trailers",
            "Trailer: X",
            "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            "Keep-Alive: timeout=5",
            "Proxy-Connection: keep-alive",
            "PROXY-CONNECTION: close",
        ] {
            let input = format!("GET / HTTP/1.1\r\nHost: h\r\n{field}\r\nAccept: */*\r\n\r\n");
            assert_unsupported(input.as_bytes());
            // Known from the name, before the head is whole.
            let name_len = field.find(':').unwrap() + 1;
            assert_unsupported(&input.as_bytes()[..25 + name_len]);
        }
        // Names that only begin like them are fine.
        complete(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nTEx: 1\r\nConnectionx: 1\r\n\r\n");
    }

    #[test]
    fn exactly_one_non_empty_host() {
        assert_unsupported(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: \t \r\n\r\n");
        // The second Host is refused as soon as its name is read, a missing
        // or empty one at the CR that would end it.
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: a\r\nHost:");
        assert_unsupported(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: \r");
        assert_partial(b"GET / HTTP/1.1\r\nHost: ");
    }

    #[test]
    fn invalid_bytes_are_unsupported_before_the_head_is_whole() {
        assert_unsupported(b"GET / HTTP/1.1\r\nHo st");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA: \x00");
        assert_unsupported(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\n");
        assert_unsupported(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
        assert_unsupported(b"G\x00");
    }

    #[test]
    fn typical_heads_are_the_same_heads_to_httparse() {
        let trimmed = b"GET /t HTTP/1.1\r\nHost:h\r\nA:  \t x y \t \r\nA:\tz\r\nC: \r\n\r\n";
        for input in [WRK, CURL, BROWSER, &trimmed[..]] {
            let (head, len) = complete(input);
            let mut slots = [httparse::EMPTY_HEADER; 32];
            let mut theirs = httparse::Request::new(&mut slots);
            assert_eq!(theirs.parse(input), Ok(httparse::Status::Complete(len)));
            assert_eq!(theirs.method, Some(head.method.as_str()));
            assert_eq!(
                theirs.path,
                Some(head.uri.path_and_query().unwrap().as_str())
            );
            assert_eq!(theirs.version, Some(1));
            let theirs: Vec<_> = theirs
                .headers
                .iter()
                .map(|f| (f.name.to_ascii_lowercase(), f.value))
                .collect();
            // Repeated names are adjacent here, so the map's order is theirs.
            let ours: Vec<_> = fields(&head)
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn empty_input_is_partial() {
        assert_partial(b"");
        assert_partial(b"G");
        assert_partial(b"GET / HTTP/1.1\r\nHost: h\r\n\r");
    }

    #[test]
    fn a_bad_byte_is_found_wherever_it_stands_in_a_long_value() {
        let value = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789-._~";
        for at in 0..value.len() {
            for bad in [0x00u8, 0x0b, 0x7f, 0x80, 0xff, b'\n', b'\r'] {
                let mut input = b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: ".to_vec();
                input.extend_from_slice(&value.as_bytes()[..at]);
                input.push(bad);
                input.extend_from_slice(&value.as_bytes()[at..]);
                input.extend_from_slice(b"\r\n\r\n");
                assert!(
                    matches!(parse_bytes(&input), Parsed::Unsupported),
                    "{bad:#04x} at {at} was taken"
                );
            }
            // HTAB is whitespace inside a value, and trimmed at its ends.
            let mut input = b"GET / HTTP/1.1\r\nHost: h\r\nA: ".to_vec();
            input.extend_from_slice(&value.as_bytes()[..at]);
            input.push(b'\t');
            input.extend_from_slice(&value.as_bytes()[at..]);
            input.extend_from_slice(b"\t \r\n\r\n");
            let (head, _) = complete(&input);
            let expected = format!("{}\t{}", &value[..at], &value[at..]);
            assert_eq!(
                head.headers["a"].as_bytes(),
                expected.trim_start_matches('\t').as_bytes()
            );
        }
    }
}
