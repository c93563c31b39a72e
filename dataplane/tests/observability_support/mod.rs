//! What the observability tests share: a parser for the OpenMetrics text a
//! gateway serves at `/metrics` (enough of the format to read families,
//! samples and labels exactly), and a scrape helper. It owns no server:
//! gateways and stubs come from `common`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Family name -> its `# TYPE`.
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
    pub ended_with_eof: bool,
}

impl Scrape {
    pub fn parse(text: &str) -> Self {
        let mut scrape = Scrape::default();
        for line in text.lines() {
            if line == "# EOF" {
                scrape.ended_with_eof = true;
                continue;
            }
            assert!(!scrape.ended_with_eof, "content after # EOF: {line}");
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                scrape.types.insert(name.into(), kind.into());
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else {
                scrape.samples.push(parse_sample(line));
            }
        }
        scrape
    }

    /// The samples named `name`.
    pub fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// The value of the sample `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Whether a series called `name` (as PromQL names it: a counter with
    /// `_total`, a histogram's `_bucket`, `_sum`, `_count`) has a sample.
    pub fn has_samples(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// The histogram `name`'s buckets for `labels`: `(le, cumulative count)`
    /// in the order served.
    pub fn buckets(&self, name: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
        let bucket = format!("{name}_bucket");
        self.samples
            .iter()
            .filter(|s| s.name == bucket)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                    && s.labels.len() == labels.len() + 1
            })
            .map(|s| {
                let le = &s.labels["le"];
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().expect("numeric le")
                };
                (le, s.value)
            })
            .collect()
    }
}

fn parse_sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("sample has a value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Sample {
            name: series.into(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let body = rest.strip_suffix('}').expect("labels end with }");
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value is quoted in {line}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("dangling escape in {line}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        if chars.peek() == Some(&',') {
            chars.next();
        }
        labels.insert(key.trim().to_owned(), value);
    }
    Sample {
        name: name.into(),
        labels,
        value,
    }
}

/// `GET http://addr/metrics`, checked for status and content type, parsed.
pub async fn scrape(client: &super::common::HttpClient, addr: SocketAddr) -> Scrape {
    let reply = super::common::get(client, addr, "/metrics")
        .await
        .expect("scrape answers");
    assert_eq!(reply.status, http::StatusCode::OK);
    assert_eq!(
        reply.headers[http::header::CONTENT_TYPE],
        dataplane::metrics::CONTENT_TYPE
    );
    let text = std::str::from_utf8(&reply.body).expect("UTF-8 scrape");
    let scrape = Scrape::parse(text);
    assert!(
        scrape.ended_with_eof,
        "an OpenMetrics scrape ends with # EOF"
    );
    scrape
}

#[test]
fn the_parser_reads_labels_with_escapes() {
    let sample = parse_sample(r#"x_total{a="1",b="q\"u\\o"} 3"#);
    assert_eq!(sample.name, "x_total");
    assert_eq!(sample.labels["a"], "1");
    assert_eq!(sample.labels["b"], "q\"u\\o");
    assert_eq!(sample.value, 3.0);
}

/// A loopback port that refuses connections (bound, then closed).
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("bound address").port()
}

/// A gateway serving `spec`, each `(service, port)` of `upstreams` routed
/// to `127.0.0.1:port`, after `adjust` had its say on the config. Returns
/// the gateway and the table's directory guard.
pub async fn gateway_routing(
    spec: &routetable::TableSpec,
    upstreams: &[(&str, Vec<u16>)],
    adjust: impl FnOnce(&mut dataplane::Config),
) -> (dataplane::ServerHandle, tempfile::TempDir) {
    let (dir, table) = super::common::table_dir(spec);
    let mut config = super::common::test_config(&table);
    for (service, ports) in upstreams {
        let instances = ports.iter().map(|p| ("127.0.0.1".to_owned(), *p)).collect();
        config.upstreams.insert((*service).to_owned(), instances);
    }
    adjust(&mut config);
    (super::common::start(config).await, dir)
}

/// routes.dsl's jwt step reads its HS256 key from `JWT_SECRET`: a gateway
/// serving the platform's table does not start without it. Every test in
/// a binary sets the same value, so the order they run in does not matter.
pub fn set_jwt_secret() {
    std::env::set_var("JWT_SECRET", JWT_SECRET);
}

/// The HS256 key [`set_jwt_secret`] sets, for tests that sign tokens.
pub const JWT_SECRET: &str = "observability-suite-secret-0123456789";
