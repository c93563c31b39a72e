//! Lookup equivalence: for random route sets and random requests, the
//! table's indexed lookup returns the same route as the plain linear-scan
//! reference matcher in `common::reference_lookup`.
//!
//! Segments come from a tiny alphabet and priorities from a tiny range, so
//! overlapping prefixes, exact/prefix pairs, equal priorities, shared keys
//! and `/a` vs `/a/` variants happen often.

mod common;

use proptest::prelude::*;
use routetable::*;

const SEGMENTS: [&str; 5] = ["a", "b", "ab", "v1", "x-y"];

fn path_strategy(max_depth: usize) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(&SEGMENTS[..]), 0..=max_depth),
        any::<bool>(),
    )
        .prop_map(|(segments, trailing)| {
            let mut path = String::from("/");
            path.push_str(&segments.join("/"));
            if trailing && !segments.is_empty() {
                path.push('/');
            }
            path
        })
}

fn route_strategy() -> impl Strategy<Value = RouteSpec> {
    (
        path_strategy(3),
        any::<bool>(),
        0u32..3,
        prop::sample::select(vec![None, Some("h1"), Some("H2")]),
        prop::sample::select(vec![vec![], vec!["GET"], vec!["POST", "PUT"]]),
    )
        .prop_map(|(path, prefix, priority, host, methods)| RouteSpec {
            name: format!("{}{path}", if prefix { "prefix" } else { "exact" }),
            host: host.map(str::to_owned),
            path: if prefix {
                PathMatch::Prefix(path)
            } else {
                PathMatch::Exact(path)
            },
            methods: methods.into_iter().map(str::to_owned).collect(),
            priority,
            service: 0,
            chain: None,
            websocket: false,
        })
}

fn spec_with(routes: Vec<RouteSpec>) -> TableSpec {
    let mut spec = common::dating_platform();
    spec.services.truncate(1);
    spec.routes = routes;
    spec
}

fn request_strategy() -> impl Strategy<Value = (&'static str, &'static str, String)> {
    (
        prop::sample::select(vec!["h1", "H1:8080", "h2.", "h3"]),
        prop::sample::select(vec!["GET", "POST", "DELETE"]),
        path_strategy(5),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn lookup_equals_the_reference_matcher(
        routes in prop::collection::vec(route_strategy(), 0..40),
        requests in prop::collection::vec(request_strategy(), 1..40),
    ) {
        let spec = spec_with(routes);
        let bytes = encode(&spec);
        let view = Table::from_bytes(&bytes).expect("written tables open");
        // Random paths rarely hit an exact route; add each route's own path,
        // its trailing-slash twin and a child, so exact-vs-prefix and
        // equal-priority cases are exercised in every case.
        let mut requests = requests;
        for (k, route) in spec.routes.iter().enumerate() {
            let path = route.path.path();
            let twin = match path.strip_suffix('/') {
                Some(p) if !p.is_empty() => p.to_owned(),
                _ => format!("{path}/"),
            };
            let child = format!("{}/b", path.trim_end_matches('/'));
            let (host, method, _) = requests[k % requests.len()].clone();
            for p in [path.to_owned(), twin, child] {
                requests.push((host, method, p));
            }
        }
        for (host, method, path) in &requests {
            let got = view.lookup(host, method, path).map(|m| m.index);
            let want = common::reference_lookup(&spec, host, method, path);
            prop_assert_eq!(got, want, "{} {} {}", host, method, path);
        }
    }

    /// An encoded slash never reaches a route that the path's decoded
    /// reading would not reach.
    #[test]
    fn encoded_slash_never_reaches_another_route(
        routes in prop::collection::vec(route_strategy(), 0..40),
        path in path_strategy(5),
        at in any::<prop::sample::Index>(),
    ) {
        let spec = spec_with(routes);
        let bytes = encode(&spec);
        let view = Table::from_bytes(&bytes).unwrap();
        // Replace one of the path's slashes (not the leading one) by %2F.
        let slashes: Vec<usize> = path.match_indices('/').map(|(i, _)| i).filter(|&i| i > 0).collect();
        prop_assume!(!slashes.is_empty());
        let i = slashes[at.index(slashes.len())];
        let encoded = format!("{}%2F{}", &path[..i], &path[i + 1..]);
        let encoded = normalize_path(&encoded).unwrap().into_owned();
        let decoded = normalize_path(&encoded.replace("%2F", "/")).unwrap().into_owned();
        if let Some(m) = view.lookup("h1", "GET", &encoded) {
            let reading = view.lookup("h1", "GET", &decoded).map(|m| m.index);
            prop_assert_eq!(Some(m.index), reading, "{} vs {}", encoded, decoded);
        }
    }
}
