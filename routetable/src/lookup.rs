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

use crate::layout::{self, read_u32, Precedence};
use crate::normalize::normalize_path;
use crate::view::{Probe, Record, RouteView, TableView};

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
        // A byte scan: `split_once(':')` costs a searcher per request.
        let end = host.bytes().position(|b| b == b':').unwrap_or(host.len());
        host.get(..end).unwrap_or(host)
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
    /// the empty key of the root prefix) or `path` itself, probed only if
    /// some key has its depth; the cost grows with the path, not with the
    /// number of routes. Allocates only for a path with an
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
            if reading != found {
                return None;
            }
        }
        // Build the view once, at the end: it copies the whole TableView.
        found.map(|index| Match {
            index,
            route: self.route_at(index),
        })
    }

    /// The lookup proper, and whether the path has any `%` escape.
    fn lookup_path(&self, request: &Request<'_>, path: &str) -> (Option<usize>, bool) {
        let bytes = path.as_bytes();
        let depths = self.probe.depth_mask;
        let mut best = None;
        let mut depth = 0;
        let mut has_escape = false;
        for (i, &byte) in bytes.iter().enumerate() {
            if byte == b'/' {
                if depths & layout::depth_bit(depth) != 0 {
                    let lists = Lists {
                        exact: false,
                        prefix: true,
                    };
                    self.consider(&bytes[..i], lists, request, &mut best);
                }
                depth += 1;
            }
            has_escape |= byte == b'%';
        }
        if depths & layout::depth_bit(depth) != 0 {
            // A prefix key never ends in '/', so a path that does can only
            // be an exact key; its parent prefix was probed at the last '/'.
            let lists = Lists {
                exact: true,
                prefix: !path.ends_with('/'),
            };
            self.consider(bytes, lists, request, &mut best);
        }
        (best.map(|p: Precedence| p.index as usize), has_escape)
    }

    /// Updates `best` with the best route filed under `key` that accepts the
    /// request.
    fn consider(
        &self,
        key: &[u8],
        lists: Lists,
        request: &Request<'_>,
        best: &mut Option<Precedence>,
    ) {
        let Some(entry) = self.find_entry(key, layout::key_hash(key)) else {
            return;
        };
        let entry_at = self.probe.entries_at + entry * layout::index::ENTRY_SIZE;
        for (wanted, field) in [
            (lists.exact, layout::index::ENTRY_EXACT),
            (lists.prefix, layout::index::ENTRY_PREFIX),
        ] {
            if !wanted {
                continue;
            }
            let list = self.list(self.index_pair(entry_at + field));
            let is_prefix = field == layout::index::ENTRY_PREFIX;
            for k in 0..list.count {
                // Raw records, not views: a view copies the whole TableView.
                let index = self.word(list.start + k);
                let route = self.route_record(index as usize);
                // Every candidate of a list has this list's key and kind.
                let priority = route.u32(layout::route::PRIORITY);
                let precedence = Precedence::new(priority, is_prefix, key.len(), index);
                // Candidates are sorted best first: once one cannot beat
                // `best`, none after it can.
                if best.is_some_and(|b| b <= precedence) {
                    break;
                }
                if self.route_accepts(route, request) {
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

    /// The index entry whose key is `key` (`hash` is its folded hash), by
    /// linear probing from `hash`, at most `max_probe` buckets.
    pub(crate) fn find_entry(&self, key: &[u8], hash: u32) -> Option<usize> {
        let Probe {
            bucket_mask,
            max_probe,
            entries_at,
            ..
        } = self.probe;
        let mut slot = hash as usize & bucket_mask;
        for _ in 0..max_probe {
            let at = layout::index::HEADER_SIZE + slot * layout::index::BUCKET_SIZE;
            let (stored_hash, entry) = self.index_pair(at);
            let entry = entry.checked_sub(1)? as usize;
            if stored_hash == hash {
                let key_at =
                    entries_at + entry * layout::index::ENTRY_SIZE + layout::index::ENTRY_KEY;
                if self.string_bytes(self.index_pair(key_at)) == key {
                    return Some(entry);
                }
            }
            slot = (slot + 1) & bucket_mask;
        }
        None
    }
}

impl TableView<'_> {
    fn route_accepts(&self, route: Record<'_>, request: &Request<'_>) -> bool {
        let host = route.pair(layout::route::HOST);
        if host.0 != layout::NONE
            && !self
                .string_bytes(host)
                .eq_ignore_ascii_case(request.host.as_bytes())
        {
            return false;
        }
        let methods = self.list(route.pair(layout::route::METHODS));
        methods.count == 0
            || (0..methods.count).any(|k| {
                let at = methods.start + 2 * k;
                self.string_bytes((self.word(at), self.word(at + 1))) == request.method.as_bytes()
            })
    }
}
