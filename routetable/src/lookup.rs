//! Request matching: [`TableView::lookup`] picks the route a request reaches,
//! reading the table's index in place.
//!
//! The rules (FORMAT.md, "Matching") in short: a route matches when its host
//! (if any) equals the request's host ignoring ASCII case and port, its
//! methods (if any) include the request's method, and its path matches: an
//! exact path byte for byte, a prefix on a segment boundary. Of the matching
//! routes the one with the best [`Precedence`] wins. This module expects a
//! path already normalized by [`crate::normalize_path`]; it owns neither
//! normalization nor validation (the index was checked at open).

use crate::layout::{self, fnv_step, fold_hash, read_u32, Precedence, FNV_OFFSET};
use crate::normalize::normalize_path;
use crate::view::{RouteView, TableView};

/// The route a request reaches.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// Index of the route in the table (and in [`crate::TableSpec::routes`]).
    pub index: usize,
    pub route: RouteView<'a>,
}

/// The request's host as routes compare it: without port or trailing dot.
/// `[v6]:port` keeps its brackets.
pub fn host_without_port(host: &str) -> &str {
    let host = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.split_once(':').map_or(host, |(name, _port)| name)
    };
    host.strip_suffix('.').unwrap_or(host)
}

/// Which of an index entry's two candidate lists to consider.
#[derive(Clone, Copy)]
struct Lists {
    exact: bool,
    prefix: bool,
}

struct Request<'r> {
    host: &'r str,
    method: &'r str,
}

impl<'a> TableView<'a> {
    /// The route that `host`, `method` and the normalized `path` reach, if
    /// any.
    ///
    /// Each candidate key is a segment-boundary prefix of `path` (including
    /// the empty key of the root prefix) or `path` itself; one pass over the
    /// path computes all their hashes, so the cost grows with the number of
    /// segments, not the number of routes. Allocates only for a path with an
    /// encoded slash, which must reach the same route as its decoded reading
    /// (FORMAT.md, "Encoded slashes") or reaches none.
    pub fn lookup(&self, host: &str, method: &str, path: &str) -> Option<Match<'a>> {
        let request = Request {
            host: host_without_port(host),
            method,
        };
        let (found, has_escape) = self.lookup_path(&request, path);
        if has_escape && path.contains("%2F") {
            let decoded = path.replace("%2F", "/");
            let decoded = normalize_path(&decoded).ok()?;
            let (reading, _) = self.lookup_path(&request, &decoded);
            if reading.map(|m| m.index) != found.map(|m| m.index) {
                return None;
            }
        }
        found
    }

    /// The lookup proper, and whether the path has any `%` escape.
    fn lookup_path(&self, request: &Request<'_>, path: &str) -> (Option<Match<'a>>, bool) {
        let bytes = path.as_bytes();
        let mut best = None;
        let mut hash = FNV_OFFSET;
        let mut has_escape = false;
        for (i, &byte) in bytes.iter().enumerate() {
            if byte == b'/' {
                let lists = Lists {
                    exact: false,
                    prefix: true,
                };
                self.consider(&bytes[..i], fold_hash(hash), lists, request, &mut best);
            }
            has_escape |= byte == b'%';
            hash = fnv_step(hash, byte);
        }
        // A prefix key never ends in '/', so a path that does can only be
        // an exact key; its parent prefix was probed at the last '/'.
        let lists = Lists {
            exact: true,
            prefix: !path.ends_with('/'),
        };
        self.consider(bytes, fold_hash(hash), lists, request, &mut best);
        let found = best.map(|p: Precedence| {
            let index = p.index as usize;
            Match {
                index,
                route: self.route_at(index),
            }
        });
        (found, has_escape)
    }

    /// Updates `best` with the best route filed under `key` that accepts the
    /// request.
    fn consider(
        &self,
        key: &[u8],
        hash: u32,
        lists: Lists,
        request: &Request<'_>,
        best: &mut Option<Precedence>,
    ) {
        let Some(entry) = self.find_entry(key, hash) else {
            return;
        };
        let entry_at = self.entries_start() + entry * layout::index::ENTRY_SIZE;
        for (wanted, field) in [
            (lists.exact, layout::index::ENTRY_EXACT),
            (lists.prefix, layout::index::ENTRY_PREFIX),
        ] {
            if !wanted {
                continue;
            }
            let list = self.list(self.index_pair(entry_at + field));
            for k in 0..list.count {
                let route = self.route_at(self.word(list.start + k) as usize);
                let precedence = route.precedence();
                // Candidates are sorted best first: once one cannot beat
                // `best`, none after it can.
                if best.is_some_and(|b| b <= precedence) {
                    break;
                }
                if route_accepts(&route, request) {
                    *best = Some(precedence);
                    break;
                }
            }
        }
    }

    fn index_pair(&self, at: usize) -> (u32, u32) {
        (
            read_u32(self.index, at).unwrap_or(0),
            read_u32(self.index, at + 4).unwrap_or(0),
        )
    }

    fn entries_start(&self) -> usize {
        let bucket_count = read_u32(self.index, layout::index::BUCKET_COUNT).unwrap_or(0) as usize;
        layout::index::HEADER_SIZE + bucket_count * layout::index::BUCKET_SIZE
    }

    /// The index entry whose key is `key` (`hash` is its folded hash), by
    /// linear probing from `hash`, at most `max_probe` buckets.
    pub(crate) fn find_entry(&self, key: &[u8], hash: u32) -> Option<usize> {
        let bucket_count = read_u32(self.index, layout::index::BUCKET_COUNT)? as usize;
        let max_probe = read_u32(self.index, layout::index::MAX_PROBE)? as usize;
        let mask = bucket_count.checked_sub(1)?;
        let entries = self.entries_start();
        let mut slot = hash as usize & mask;
        for _ in 0..max_probe {
            let at = layout::index::HEADER_SIZE + slot * layout::index::BUCKET_SIZE;
            let (stored_hash, entry) = self.index_pair(at);
            let entry = entry.checked_sub(1)? as usize;
            if stored_hash == hash {
                let key_at = entries + entry * layout::index::ENTRY_SIZE + layout::index::ENTRY_KEY;
                if self.string(self.index_pair(key_at)).as_bytes() == key {
                    return Some(entry);
                }
            }
            slot = (slot + 1) & mask;
        }
        None
    }
}

fn route_accepts(route: &RouteView<'_>, request: &Request<'_>) -> bool {
    if let Some(host) = route.host() {
        if !host.eq_ignore_ascii_case(request.host) {
            return false;
        }
    }
    let mut methods = route.methods();
    methods.len() == 0 || methods.any(|m| m == request.method)
}
