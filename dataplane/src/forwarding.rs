//! What a proxy owes the next hop: hop-by-hop headers removed,
//! `X-Forwarded-For/-Proto/-Host` set (believing a peer's own forwarding
//! headers only when it is a trusted proxy), an `X-Request-Id` kept when
//! well-formed or generated, an h2 client's `Cookie` fields joined into the
//! one line HTTP/1.1 allows, and header names with `_` dropped where the
//! table says so. It does not choose where the request goes.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use std::net::IpAddr;

pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers that describe one connection, never the message (RFC 9110 7.6.1).
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// An IP address as text, written where it is needed: every request
/// writes its client's address (`X-Forwarded-For`, the access line), and
/// `Ipv4Addr`'s `Display` pads each octet through `core::fmt`.
pub struct IpText {
    /// The longest RFC 5952 text, an IPv4-mapped address, is 45 bytes.
    buf: [u8; 45],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        Self {
            buf: [0; 45],
            len: 0,
        }
    }
}

impl IpText {
    /// `ip` as `a.b.c.d` or RFC 5952 text, borrowed from `self`.
    pub fn format(&mut self, ip: IpAddr) -> &str {
        use std::io::Write as _;
        self.len = match ip {
            IpAddr::V4(v4) => {
                let mut digits = itoa::Buffer::new();
                let mut len = 0;
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        self.buf[len] = b'.';
                        len += 1;
                    }
                    let octet = digits.format(octet).as_bytes();
                    self.buf[len..len + octet.len()].copy_from_slice(octet);
                    len += octet.len();
                }
                len
            }
            IpAddr::V6(v6) => {
                let mut cursor = std::io::Cursor::new(&mut self.buf[..]);
                let _ = write!(cursor, "{v6}");
                cursor.position() as usize
            }
        };
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Removes hop-by-hop headers, including those the `Connection` header
/// names. `Upgrade` is removed too unless `keep_upgrade` (a WebSocket
/// handshake, where `Connection: upgrade` and `Upgrade` must reach the
/// upstream).
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names says which hop-by-hop ones are present, and
    // only those are removed: every `remove` hashes, and most messages
    // carry one of them at most (`Connection: keep-alive`).
    let mut present = 0u16;
    let mut upgrade = false;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present |= 1 << i;
        } else if name == header::UPGRADE {
            upgrade = true;
        }
    }
    if present == 0 && !upgrade {
        if keep_upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    // The names `Connection` lists, but for the ones removed anyway.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|token| {
            !(token.eq_ignore_ascii_case("close")
                || token.eq_ignore_ascii_case("keep-alive")
                || token.eq_ignore_ascii_case("upgrade"))
        })
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// Joins several `Cookie` fields into one, with `; ` between them: an h2
/// client sends each cookie as a field of its own (RFC 9113 8.2.3), and the
/// HTTP/1.1 hop to the upstream must carry one `Cookie` line (RFC 6265
/// 5.4). Every other repeated field is left as it came: lists stay separate
/// lines, which RFC 9110 5.3 makes equivalent to one joined with commas.
pub fn join_cookies(headers: &mut HeaderMap) {
    let mut fields = headers.get_all(header::COOKIE).iter();
    if fields.next().is_none() || fields.next().is_none() {
        return;
    }
    let mut joined = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, value);
    }
}

/// Header names with an underscore: CGI-style servers read `X_Real_Ip`
/// and `X-Real-Ip` as one variable, so a name with `_` can stand in for
/// one the gateway sets or removes. Removed unless the table allows them
/// (nginx's `underscores_in_headers off` is the same default).
pub fn drop_underscored_names(headers: &mut HeaderMap) {
    let underscored = |name: &HeaderName| name.as_str().contains('_');
    if !headers.keys().any(underscored) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| underscored(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// The client-facing facts of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub ip: IpAddr,
    /// Whether the client reached the gateway over TLS.
    pub tls: bool,
}

/// Sets the `X-Forwarded-*` headers. A trusted peer's own values are kept
/// (XFF gets the peer appended); anyone else's are replaced, so a client
/// cannot forge its address.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer: Peer,
    host: Option<&HeaderValue>,
    trusted: &[IpNet],
) {
    let believed = trusted.iter().any(|net| net.contains(&peer.ip));
    let mut text = IpText::default();
    let peer_ip = text.format(peer.ip);
    let xff = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) if believed && !prior.trim().is_empty() => {
            HeaderValue::try_from(format!("{prior}, {peer_ip}"))
        }
        _ => HeaderValue::from_str(peer_ip),
    };
    if let Ok(value) = xff {
        headers.insert(&X_FORWARDED_FOR, value);
    }
    if !(believed && headers.contains_key(&X_FORWARDED_PROTO)) {
        let proto = if peer.tls { "https" } else { "http" };
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    }
    if !(believed && headers.contains_key(&X_FORWARDED_HOST)) {
        match host {
            Some(value) => headers.insert(&X_FORWARDED_HOST, value.clone()),
            None => headers.remove(&X_FORWARDED_HOST),
        };
    }
}

/// The request's id: the client's `X-Request-Id` when it is 1..=128
/// characters of `[A-Za-z0-9._:-]`, otherwise a fresh random one. The header
/// is (re)written so the upstream sees the same id the client gets back.
pub fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(value) = headers.get(&X_REQUEST_ID) {
        if well_formed_request_id(value.as_bytes()) {
            return value.clone();
        }
    }
    let fresh = new_request_id();
    headers.insert(&X_REQUEST_ID, fresh.clone());
    fresh
}

fn well_formed_request_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [0u8; 32];
    let mut bits = fastrand::u128(..);
    for digit in id.iter_mut().rev() {
        *digit = HEX[(bits & 0xf) as usize];
        bits >>= 4;
    }
    HeaderValue::from_bytes(&id).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Peer {
        Peer {
            ip: ip.parse().unwrap(),
            tls: false,
        }
    }

    #[test]
    fn untrusted_peer_cannot_forge_forwarded_for() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_FORWARDED_FOR, HeaderValue::from_static("1.2.3.4"));
        let trusted = ["172.20.0.0/16".parse().unwrap()];
        set_forwarded(
            &mut headers,
            peer("10.0.0.9"),
            Some(&HeaderValue::from_static("example.com")),
            &trusted,
        );
        assert_eq!(headers[&X_FORWARDED_FOR], "10.0.0.9");
        set_forwarded(
            &mut headers,
            peer("172.20.0.5"),
            Some(&HeaderValue::from_static("example.com")),
            &trusted,
        );
        assert_eq!(headers[&X_FORWARDED_FOR], "10.0.0.9, 172.20.0.5");
        assert_eq!(headers[&X_FORWARDED_HOST], "example.com");
        assert_eq!(headers[&X_FORWARDED_PROTO], "http");
    }

    #[test]
    fn connection_named_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers, false);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::ACCEPT));
    }

    #[test]
    fn cookie_fields_are_joined_and_other_lists_kept() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3"));
        headers.append(header::ACCEPT, HeaderValue::from_static("text/html"));
        headers.append(header::ACCEPT, HeaderValue::from_static("*/*"));
        join_cookies(&mut headers);
        let cookies: Vec<_> = headers.get_all(header::COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1; b=2; c=3"]);
        assert_eq!(headers.get_all(header::ACCEPT).iter().count(), 2);
        let mut one = HeaderMap::new();
        one.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        join_cookies(&mut one);
        assert_eq!(one[header::COOKIE], "a=1");
    }

    #[test]
    fn underscored_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert("x_real_ip", HeaderValue::from_static("10.0.0.1"));
        headers.insert("x-real-ip", HeaderValue::from_static("10.0.0.2"));
        drop_underscored_names(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["x-real-ip"], "10.0.0.2");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.20.3.199",
            "::1",
            "2001:db8::8:800:200c:417a",
            "::ffff:192.0.2.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::default().format(ip), ip.to_string());
        }
    }

    #[test]
    fn malformed_request_ids_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id(&mut headers), "abc-123");
        headers.insert(&X_REQUEST_ID, HeaderValue::from_static("a b"));
        let fresh = request_id(&mut headers);
        assert_eq!(fresh.len(), 32);
        assert_eq!(headers[&X_REQUEST_ID], fresh);
    }
}
