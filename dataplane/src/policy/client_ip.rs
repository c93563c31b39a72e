//! Who the client is. The socket peer, unless the peer is one of the DSL's
//! trusted proxies (`trusted_proxies`, Traefik's edge subnet): then the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
//! Everything left of that entry was written by the client and proves
//! nothing, so a spoofed `X-Forwarded-For: 1.2.3.4` moves nobody's rate
//! limit. This module only reads; rewriting the forwarding headers for the
//! upstream is [`crate::forwarding`]'s job.

use crate::forwarding::X_FORWARDED_FOR;
use http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The client's address for policy (rate limits, logs).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    // Several header lines are one list, in order; walk it from the right.
    let lines: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        let Some(hop) = parse_entry(entry) else {
            // Garbage where a trusted proxy should have written an address:
            // stop at the last address we could believe.
            break;
        };
        client = hop;
        if !is_trusted(hop, trusted) {
            break;
        }
    }
    client
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// An `X-Forwarded-For` entry: an address, optionally with a port
/// (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(&X_FORWARDED_FOR, HeaderValue::from_static(v));
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let trusted = ["172.21.0.0/16".parse().unwrap()];
        let headers = xff(&["1.2.3.4"]);
        assert_eq!(resolve(ip("10.0.0.9"), &headers, &trusted), ip("10.0.0.9"));
        assert_eq!(resolve(ip("10.0.0.9"), &headers, &[]), ip("10.0.0.9"));
    }

    #[test]
    fn trusted_peers_name_the_rightmost_untrusted_hop() {
        let trusted = ["172.21.0.0/16".parse().unwrap()];
        let peer = ip("172.21.0.2");
        // The client prepended a lie; Traefik appended what it saw.
        let headers = xff(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(resolve(peer, &headers, &trusted), ip("203.0.113.7"));
        // Two trusted hops, split over two header lines.
        let headers = xff(&["6.6.6.6, 203.0.113.7", "172.21.0.9"]);
        assert_eq!(resolve(peer, &headers, &trusted), ip("203.0.113.7"));
        // Nothing forwarded: the proxy itself is the client.
        assert_eq!(resolve(peer, &HeaderMap::new(), &trusted), peer);
        // Only trusted hops: the left-most one.
        let headers = xff(&["172.21.0.5, 172.21.0.9"]);
        assert_eq!(resolve(peer, &headers, &trusted), ip("172.21.0.5"));
        // Garbage stops the walk at the last believable address.
        let headers = xff(&["203.0.113.7, bogus"]);
        assert_eq!(resolve(peer, &headers, &trusted), peer);
        let headers = xff(&["[2001:db8::1]:443"]);
        assert_eq!(resolve(peer, &headers, &trusted), ip("2001:db8::1"));
    }
}
