//! Route sets and their matching semantics, per tier, as the compiler
//! reasons about them.
//!
//! Owns: deriving the gateway's routes from the services' `prefix` and
//! `websocket` statements, and the two path semantics that overlap and
//! shadowing checks depend on. The edge tier is Traefik v2, whose
//! `PathPrefix` is a plain string prefix (`/v1` matches `/v1beta`); the
//! gateway tier matches prefixes on segment boundaries (`/v1/chat` matches
//! `/v1/chat` and `/v1/chat/x`, not `/v1/chatter`), and a trailing slash on
//! a prefix does not change what it matches. Does not own the checks
//! themselves ([`check`](crate::check)) nor the data plane's lookup
//! (`routetable`), which must agree with [`Tier::Gateway`] here.

use std::collections::HashMap;

use crate::ast::{Program, S};
use crate::diagnostic::Span;

/// Priority of gateway routes whose service states none.
pub const DEFAULT_GATEWAY_PRIORITY: u32 = 100;

/// Which routing tier's semantics apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Traefik v2: string prefixes, ties between overlapping routes are
    /// ambiguous whatever their kind.
    Edge,
    /// The gateway: segment prefixes, and an exact path beats a prefix at
    /// equal priority.
    Gateway,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathKind {
    Exact,
    Prefix,
}

/// One route as the checks see it: what it matches and where it was said.
#[derive(Debug, Clone)]
pub struct RouteShape {
    pub name: String,
    /// Lower-case host, `None` for any host.
    pub host: Option<String>,
    pub kind: PathKind,
    pub path: String,
    /// Upper-case methods; empty for all.
    pub methods: Vec<String>,
    pub priority: u32,
    /// Where to point a diagnostic about this route.
    pub span: Span,
}

/// A gateway route derived from a service, before resolution into the model.
#[derive(Debug, Clone)]
pub struct DerivedRoute {
    pub shape: RouteShape,
    pub service: String,
    pub chain: Option<S<String>>,
    pub websocket: bool,
}

/// The gateway's routes: one per service prefix (`SERVICE`, `SERVICE-2`, ...)
/// and one exact-path route per WebSocket path (`SERVICE-ws`, ...), in
/// declaration order.
pub fn derive_gateway_routes(program: &Program) -> Vec<DerivedRoute> {
    let default_chain = program.gateway.as_ref().and_then(|g| g.chain.clone());
    let mut routes = Vec::new();
    for service in &program.services {
        let priority = service
            .priority
            .as_ref()
            .map_or(DEFAULT_GATEWAY_PRIORITY, |p| p.value);
        let chain = service.chain.clone().or_else(|| default_chain.clone());
        let numbered = |base: String, i: usize| {
            if i == 0 {
                base
            } else {
                format!("{base}-{}", i + 1)
            }
        };
        for (i, prefix) in service.prefixes.iter().enumerate() {
            routes.push(DerivedRoute {
                shape: RouteShape {
                    name: numbered(service.name.value.clone(), i),
                    host: None,
                    kind: PathKind::Prefix,
                    path: prefix.value.clone(),
                    methods: Vec::new(),
                    priority,
                    span: prefix.span,
                },
                service: service.name.value.clone(),
                chain: chain.clone(),
                websocket: false,
            });
        }
        for (i, path) in service.websockets.iter().enumerate() {
            routes.push(DerivedRoute {
                shape: RouteShape {
                    name: numbered(format!("{}-ws", service.name.value), i),
                    host: None,
                    kind: PathKind::Exact,
                    path: path.value.clone(),
                    methods: vec!["GET".to_string()],
                    priority,
                    span: path.span,
                },
                service: service.name.value.clone(),
                chain: chain.clone(),
                websocket: true,
            });
        }
    }
    routes
}

/// Whether `prefix` matches `path` under `tier`'s semantics.
pub fn prefix_matches(tier: Tier, prefix: &str, path: &str) -> bool {
    match tier {
        Tier::Edge => path.starts_with(prefix),
        Tier::Gateway => {
            let base = prefix.trim_end_matches('/');
            base.is_empty()
                || path == base
                || path
                    .strip_prefix(base)
                    .is_some_and(|rest| rest.starts_with('/'))
        }
    }
}

impl RouteShape {
    /// Whether this route matches `path` (under `tier`), ignoring host and
    /// method.
    pub fn matches_path(&self, tier: Tier, path: &str) -> bool {
        match self.kind {
            PathKind::Exact => self.path == path,
            PathKind::Prefix => prefix_matches(tier, &self.path, path),
        }
    }

    /// Whether every request this route matches, `self` matches too.
    pub fn covers(&self, tier: Tier, other: &RouteShape) -> bool {
        let hosts = self.host.is_none() || self.host == other.host;
        let methods = self.methods.is_empty()
            || (!other.methods.is_empty()
                && other.methods.iter().all(|m| self.methods.contains(m)));
        let paths = match (&self.kind, &other.kind) {
            (PathKind::Exact, PathKind::Exact) => self.path == other.path,
            (PathKind::Exact, PathKind::Prefix) => false,
            (PathKind::Prefix, _) => self.matches_path(tier, &other.path),
        };
        hosts && methods && paths
    }

    /// Whether some request matches both routes.
    pub fn overlaps(&self, tier: Tier, other: &RouteShape) -> bool {
        let hosts = self.host.is_none() || other.host.is_none() || self.host == other.host;
        let methods = self.methods.is_empty()
            || other.methods.is_empty()
            || self.methods.iter().any(|m| other.methods.contains(m));
        let paths = match (&self.kind, &other.kind) {
            (PathKind::Exact, PathKind::Exact) => self.path == other.path,
            (PathKind::Exact, PathKind::Prefix) => other.matches_path(tier, &self.path),
            (PathKind::Prefix, PathKind::Exact) => self.matches_path(tier, &other.path),
            (PathKind::Prefix, PathKind::Prefix) => {
                prefix_matches(tier, &self.path, &other.path)
                    || prefix_matches(tier, &other.path, &self.path)
            }
        };
        hosts && methods && paths
    }
}

/// What one route does to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Same priority, overlapping, and the tier has no rule to pick one.
    Ambiguous,
    /// The first route (higher priority) matches everything the second does.
    Shadows,
}

/// Every (a, b, conflict) among `routes`, found without comparing every pair:
/// two routes can only overlap when one's path is a prefix of the other's
/// (string prefix at the edge, segment prefix in the gateway), so each route
/// is compared only with the routes stored under the prefixes of its own
/// path. Cost: O(n · path length) lookups plus the conflicting pairs.
pub fn conflicts(tier: Tier, routes: &[RouteShape]) -> Vec<(usize, usize, Conflict)> {
    let mut by_path: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in routes.iter().enumerate() {
        by_path.entry(index_key(tier, &r.path)).or_default().push(i);
    }
    let mut found = Vec::new();
    for (b, route) in routes.iter().enumerate() {
        for key in ancestor_keys(tier, &route.path) {
            let Some(candidates) = by_path.get(key) else {
                continue;
            };
            for &a in candidates {
                // Pairs with equal keys are seen from both sides: keep one.
                if a == b
                    || (index_key(tier, &routes[a].path) == index_key(tier, &route.path) && a > b)
                {
                    continue;
                }
                if let Some(c) = conflict(tier, &routes[a], route) {
                    found.push(c.orient(a, b));
                } else if let Some(c) = conflict(tier, route, &routes[a]) {
                    found.push(c.orient(b, a));
                }
            }
        }
    }
    found.sort_unstable_by_key(|&(a, b, c)| (b, a, c == Conflict::Shadows));
    found.dedup();
    found
}

/// A conflict between `a` and `b` in the direction "a does it to b".
struct Found(Conflict);

impl Found {
    fn orient(self, a: usize, b: usize) -> (usize, usize, Conflict) {
        match self.0 {
            // Report an ambiguity once, on the later route.
            Conflict::Ambiguous => (a.min(b), a.max(b), Conflict::Ambiguous),
            Conflict::Shadows => (a, b, Conflict::Shadows),
        }
    }
}

fn conflict(tier: Tier, a: &RouteShape, b: &RouteShape) -> Option<Found> {
    if !a.overlaps(tier, b) {
        return None;
    }
    if a.priority == b.priority {
        let exact_beats_prefix = tier == Tier::Gateway && a.kind != b.kind;
        return (!exact_beats_prefix).then_some(Found(Conflict::Ambiguous));
    }
    (a.priority > b.priority && a.covers(tier, b)).then_some(Found(Conflict::Shadows))
}

/// The key a route is stored under: its path, without the trailing slash in
/// the gateway (where it does not change what a prefix matches).
fn index_key(tier: Tier, path: &str) -> &str {
    match tier {
        Tier::Edge => path,
        Tier::Gateway => match path.trim_end_matches('/') {
            "" => "/",
            p => p,
        },
    }
}

/// The keys under which a route that could overlap `path` may be stored.
fn ancestor_keys(tier: Tier, path: &str) -> Vec<&str> {
    match tier {
        Tier::Edge => path
            .char_indices()
            .map(|(i, c)| &path[..i + c.len_utf8()])
            .collect(),
        Tier::Gateway => {
            let full = index_key(tier, path);
            let mut keys = vec!["/"];
            keys.extend(full.match_indices('/').skip(1).map(|(i, _)| &full[..i]));
            if full != "/" {
                keys.push(full);
            }
            keys
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(kind: PathKind, path: &str, priority: u32) -> RouteShape {
        RouteShape {
            name: path.into(),
            host: None,
            kind,
            path: path.into(),
            methods: vec![],
            priority,
            span: Span::default(),
        }
    }

    #[test]
    fn gateway_prefixes_respect_segments() {
        assert!(prefix_matches(Tier::Gateway, "/v1/chat/", "/v1/chat"));
        assert!(prefix_matches(Tier::Gateway, "/v1/chat", "/v1/chat/x"));
        assert!(!prefix_matches(Tier::Gateway, "/v1/chat", "/v1/chatter"));
        assert!(prefix_matches(Tier::Gateway, "/", "/anything"));
        assert!(prefix_matches(Tier::Edge, "/v1", "/v1beta"));
    }

    #[test]
    fn edge_prefix_overlaps_without_a_boundary() {
        let a = route(PathKind::Prefix, "/v1", 10);
        let b = route(PathKind::Prefix, "/v1beta", 10);
        assert_eq!(
            conflicts(Tier::Edge, &[a.clone(), b.clone()]),
            vec![(0, 1, Conflict::Ambiguous)]
        );
        assert!(conflicts(Tier::Gateway, &[a, b]).is_empty());
    }

    #[test]
    fn higher_priority_prefix_shadows_a_narrower_route() {
        let a = route(PathKind::Prefix, "/v1/", 200);
        let b = route(PathKind::Exact, "/v1/chat/ws", 100);
        assert_eq!(
            conflicts(Tier::Gateway, &[b, a]),
            vec![(1, 0, Conflict::Shadows)]
        );
    }

    #[test]
    fn exact_beats_prefix_at_equal_priority_in_the_gateway_only() {
        let a = route(PathKind::Prefix, "/v1/chat/", 100);
        let b = route(PathKind::Exact, "/v1/chat/ws", 100);
        assert!(conflicts(Tier::Gateway, &[a.clone(), b.clone()]).is_empty());
        assert_eq!(
            conflicts(Tier::Edge, &[a, b]),
            vec![(0, 1, Conflict::Ambiguous)]
        );
    }
}
