//! Route table benchmark: lookup latency over tables of 10, 1,000, 10,000 and
//! 100,000 gateway routes against `matchit` on the same route set and the same
//! request paths, and the time to validate and open each table.
//!
//! Run: `cargo bench -p routetable --bench lookup`. Figures go in
//! BENCHMARKS.md ("Route table lookup"). Each lookup sample walks the same
//! fixed list of request paths (hits at every depth plus 10% misses), so
//! per-lookup time = sample time / paths.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use routetable::*;

const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];
const REQUESTS: usize = 1_000;
const RESOURCES: [&str; 8] = [
    "users", "photos", "messages", "matches", "likes", "settings", "reports", "devices",
];

/// A small deterministic generator (SplitMix64), so every run benchmarks the
/// same tables and requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` routes shaped like a real API: `/v1/<service>/<resource>[-k]/` prefixes,
/// every fifth an exact `/v1/<service>/<resource>[-k]/<id>/<action>` path.
fn route_set(n: usize) -> TableSpec {
    let services = n.div_ceil(40).max(1);
    let routes = (0..n)
        .map(|i| {
            let service = i % services;
            let resource = RESOURCES[(i / services) % RESOURCES.len()];
            let variant = i / (services * RESOURCES.len());
            let base = if variant == 0 {
                format!("/v1/svc-{service}/{resource}")
            } else {
                format!("/v1/svc-{service}/{resource}-{variant}")
            };
            let path = if i % 5 == 4 {
                PathMatch::Exact(format!("{base}/by-id/{i}"))
            } else {
                PathMatch::Prefix(format!("{base}/"))
            };
            RouteSpec {
                name: format!("route-{i}"),
                host: None,
                path,
                methods: vec![],
                priority: 100,
                service: 0,
                chain: None,
                websocket: false,
            }
        })
        .collect();
    TableSpec {
        services: vec![ServiceSpec {
            name: "svc".into(),
            instances: vec![("svc".into(), 80)],
            balance: Balance::RoundRobin,
            health: None,
            timeouts: TimeoutsSpec::default(),
            upstream_tls: None,
        }],
        routes,
        ..TableSpec::default()
    }
}

/// Request paths: mostly hits below a random route (1-3 extra segments, or
/// the exact path itself), 10% misses that share the `/v1/` prefix.
fn requests(spec: &TableSpec, rng: &mut Rng) -> Vec<String> {
    (0..REQUESTS)
        .map(|k| {
            if k % 10 == 9 {
                return format!(
                    "/v1/svc-missing-{}/users/{}",
                    rng.below(1000),
                    rng.below(1000)
                );
            }
            match &spec.routes[rng.below(spec.routes.len())].path {
                PathMatch::Exact(p) => p.clone(),
                PathMatch::Prefix(p) => {
                    let mut path = p.trim_end_matches('/').to_owned();
                    for _ in 0..1 + rng.below(3) {
                        path.push_str(&format!("/{}", rng.below(100_000)));
                    }
                    path
                }
            }
        })
        .collect()
}

/// The same routes in matchit: a prefix `K/` becomes `K` and `K/{*rest}`.
fn matchit_router(spec: &TableSpec) -> matchit::Router<usize> {
    let mut router = matchit::Router::new();
    for (i, route) in spec.routes.iter().enumerate() {
        match &route.path {
            PathMatch::Exact(p) => router.insert(p.as_str(), i).unwrap(),
            PathMatch::Prefix(p) => {
                let key = p.trim_end_matches('/');
                router.insert(key, i).unwrap();
                router.insert(format!("{key}/{{*rest}}"), i).unwrap();
            }
        }
    }
    router
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x5eed);
    let mut lookup = c.benchmark_group("lookup");
    lookup
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    let mut open = Vec::new();
    for n in SIZES {
        let spec = route_set(n);
        let bytes = encode(&spec);
        let table = Table::from_bytes(&bytes).unwrap();
        let router = matchit_router(&spec);
        let paths = requests(&spec, &mut rng);
        // Both routers must give the same answer, or the comparison is moot.
        for path in &paths {
            let ours = table
                .lookup("api.example.com", "GET", path)
                .map(|m| m.index);
            let theirs = router.at(path).ok().map(|m| *m.value);
            assert_eq!(ours, theirs, "{path}");
        }
        lookup.throughput(Throughput::Elements(paths.len() as u64));
        lookup.bench_with_input(BenchmarkId::new("routetable", n), &paths, |b, paths| {
            b.iter(|| {
                for path in paths {
                    black_box(
                        table
                            .lookup("api.example.com", "GET", black_box(path))
                            .map(|m| m.index),
                    );
                }
            })
        });
        lookup.bench_with_input(BenchmarkId::new("matchit", n), &paths, |b, paths| {
            b.iter(|| {
                for path in paths {
                    black_box(router.at(black_box(path)).ok().map(|m| *m.value));
                }
            })
        });
        open.push((n, bytes));
    }
    lookup.finish();

    let mut group = c.benchmark_group("open");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for (n, bytes) in &open {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("validate", n), bytes, |b, bytes| {
            b.iter(|| {
                Table::from_bytes(black_box(bytes))
                    .map(|t| t.route_count())
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
