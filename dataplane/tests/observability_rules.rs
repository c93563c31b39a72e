//! The generated Prometheus rules can never reference a metric the gateway
//! does not export: every metric name (and every label a selector matches
//! or an aggregation groups by) used in the committed
//! `generated/prometheus/rules.yml` is checked against a scrape of a real
//! gateway serving the Dating Platform's table, and so is every name in
//! `dataplane::metric_names`.

mod common;
mod observability_support;

use common::*;
use observability_support::{scrape, set_jwt_secret, Scrape};
use promql_parser::label::MatchOp;
use promql_parser::parser::{Expr, LabelModifier};
use promql_parser::util::{walk_expr, ExprVisitor};
use std::collections::BTreeSet;
use std::path::Path;

/// What one rule's expression asks of the metrics.
#[derive(Debug, Default)]
struct Uses {
    /// Selected metric names.
    names: BTreeSet<String>,
    /// `(metric, label, Some(value))` for `=` matchers, `None` for others.
    matchers: Vec<(String, String, Option<String>)>,
    /// `(metrics aggregated, labels grouped by)`.
    groupings: Vec<(BTreeSet<String>, Vec<String>)>,
}

impl ExprVisitor for Uses {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        let selector = match expr {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            Expr::Aggregate(aggregate) => {
                if let Some(LabelModifier::Include(labels)) = &aggregate.modifier {
                    let mut inner = Uses::default();
                    walk_expr(&mut inner, &aggregate.expr)?;
                    self.groupings.push((inner.names, labels.labels.clone()));
                }
                None
            }
            _ => None,
        };
        if let Some(vs) = selector {
            let name = vs.name.clone().expect("rules select metrics by name");
            for matcher in &vs.matchers.matchers {
                let value = matches!(matcher.op, MatchOp::Equal).then(|| matcher.value.clone());
                self.matchers
                    .push((name.clone(), matcher.name.clone(), value));
            }
            self.names.insert(name);
        }
        Ok(true)
    }
}

fn rules() -> Vec<serde_yaml::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../generated/prometheus/rules.yml");
    let text = std::fs::read_to_string(&path).expect("generated/prometheus/rules.yml exists");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("rules.yml is YAML");
    doc["groups"]
        .as_sequence()
        .expect("rules.yml has groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("a group has rules").clone())
        .collect()
}

fn has_label(scrape: &Scrape, metric: &str, label: &str, value: Option<&str>) -> bool {
    scrape.series(metric).iter().any(|s| match value {
        Some(value) => s.labels.get(label).map(String::as_str) == Some(value),
        None => s.labels.contains_key(label),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_and_label_the_generated_rules_use_is_exported() {
    set_jwt_secret();
    let spec = spec_from_model(&platform_model(), 1);
    let (_dir, table) = table_dir(&spec);
    let mut config = test_config(&table);
    config.demo_backends = true;
    let gateway = start(config).await;
    let client = client();
    // One routed request, so the per-request families have series.
    let reply = get(&client, gateway.local_addr(), "/v1/auth/login")
        .await
        .unwrap();
    assert!(reply.status.as_u16() < 600);
    let scrape = scrape(&client, gateway.admin_addr()).await;

    let rules = rules();
    // Recorded series, and `up`, which Prometheus keeps for every target
    // it scrapes: neither is the gateway's to export.
    let recorded: BTreeSet<String> = rules
        .iter()
        .filter_map(|r| r["record"].as_str().map(str::to_owned))
        .chain(["up".to_owned()])
        .collect();
    let mut checked = 0;
    for rule in &rules {
        let expr = rule["expr"].as_str().expect("every rule has an expr");
        let parsed = promql_parser::parser::parse(expr)
            .unwrap_or_else(|e| panic!("rules.yml: not PromQL: {expr}: {e}"));
        let mut uses = Uses::default();
        walk_expr(&mut uses, &parsed).unwrap();
        for name in uses.names.iter().filter(|n| !recorded.contains(*n)) {
            assert!(
                scrape.has_samples(name),
                "rules.yml uses `{name}` ({expr}), which a running gateway does not export"
            );
            checked += 1;
        }
        for (metric, label, value) in &uses.matchers {
            if label == "__name__" || recorded.contains(metric) {
                continue;
            }
            assert!(
                has_label(&scrape, metric, label, value.as_deref()),
                "rules.yml matches {metric}{{{label}={value:?}}} ({expr}); no such series is exported"
            );
        }
        for (metrics, labels) in &uses.groupings {
            for metric in metrics.iter().filter(|m| !recorded.contains(*m)) {
                for label in labels {
                    assert!(
                        has_label(&scrape, metric, label, None),
                        "rules.yml groups {metric} by `{label}` ({expr}); its series have no such label"
                    );
                }
            }
        }
    }
    assert!(
        checked >= 5,
        "the rules select too few metrics to mean anything"
    );

    // The contract in both directions: every listed family is declared
    // (prometheus-client declares a counter without its `_total`).
    for name in dataplane::metric_names::ALL {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            scrape.types.contains_key(family),
            "metric_names lists `{name}` but the gateway does not declare it: {:?}",
            scrape.types.keys()
        );
    }
    assert_eq!(scrape.types.len(), dataplane::metric_names::ALL.len());
    gateway.shutdown().await;
}
