//! The generators' outputs (Traefik, compose, Prometheus) for `routes.dsl`
//! and the fixtures in `tests/fixtures/`, checked against the authorities:
//! the published JSON Schemas (Traefik v2 static and file provider, the
//! Compose specification), promtool (config, rules, and the generated rule
//! unit tests), the data plane's list of exported metrics, and Traefik's
//! docker-label encoding read back and compared with `dynamic.yml`. Plus
//! insta snapshots of every output, so a change shows as a reviewable diff.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use integration_tests::generators::{emit, model, programs, schema_dir, yaml, Program};
use routec::model::RouterHome;
use serde_json::{Map, Value};

fn each_program(mut check: impl FnMut(&Program, &BTreeMap<String, String>)) {
    let programs = programs();
    assert!(
        programs.len() >= 4,
        "routes.dsl and at least three fixtures"
    );
    for program in &programs {
        check(program, &emit(program));
    }
}

// -------------------------------------------------------- snapshots ----

#[test]
fn every_output_matches_its_snapshot() {
    each_program(|program, outputs| {
        for (path, text) in outputs {
            let name = format!("{}__{}", program.name, path.replace('/', "__"));
            insta::assert_snapshot!(name, text);
        }
    });
}

#[test]
fn output_is_deterministic() {
    each_program(|program, outputs| {
        assert_eq!(
            &emit(program),
            outputs,
            "{}: two builds differ",
            program.name
        );
    });
}

#[test]
fn every_yaml_output_starts_with_the_do_not_edit_header() {
    each_program(|program, outputs| {
        for (path, text) in outputs.iter().filter(|(p, _)| p.ends_with(".yml")) {
            let first = text.lines().next().unwrap_or_default();
            assert!(
                first.starts_with("# generated from ") && first.ends_with("— do not edit"),
                "{}/{path}: first line is {first:?}",
                program.name
            );
        }
    });
}

// ---------------------------------------------------------- schemas ----

fn validator(file: &str, draft: jsonschema::Draft) -> jsonschema::Validator {
    let path = schema_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {} (tests/schemas/, copied from the published schemas): {e}",
            path.display()
        )
    });
    let mut schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    // compose-spec.json names draft-07 as `https://...draft-07/schema`,
    // which is no key of the library's bundled meta-schemas (and there is
    // no network to fetch it). The in-memory copy names the draft the way
    // the library knows it; the file itself stays untouched.
    let canonical = match draft {
        jsonschema::Draft::Draft4 => "http://json-schema.org/draft-04/schema#",
        _ => "http://json-schema.org/draft-07/schema#",
    };
    schema["$schema"] = Value::String(canonical.into());
    jsonschema::options()
        .with_draft(draft)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("  at {}: {e}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} violates its schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn traefik_and_compose_files_validate_against_the_published_schemas() {
    use jsonschema::Draft;
    // The Traefik schemas are draft-04; Compose declares a draft-07 URL
    // that some libraries do not recognise, so both are set explicitly.
    let traefik_static = validator("traefik-v2.json", Draft::Draft4);
    let traefik_dynamic = validator("traefik-v2-file-provider.json", Draft::Draft4);
    let compose = validator("compose-spec.json", Draft::Draft7);
    let mut v2_programs = 0;
    each_program(|program, outputs| {
        // The published Traefik schemas describe v2; Traefik 3's files are
        // checked by the real binary (tests/tests/two_tier.rs).
        let v2 = model(program).platform.traefik.version == 2;
        v2_programs += usize::from(v2);
        let traefik = [
            ("traefik/traefik.yml", &traefik_static),
            ("traefik/dynamic.yml", &traefik_dynamic),
        ];
        let files = traefik
            .into_iter()
            .filter(|_| v2)
            .chain([("docker-compose.yml", &compose)]);
        for (path, schema) in files {
            assert_valid(
                schema,
                &yaml(outputs, path),
                &format!("{}/{path}", program.name),
            );
        }
    });
    assert!(v2_programs > 0, "a fixture targets Traefik 2");
}

#[test]
fn the_schemas_catch_a_broken_file() {
    // Guards the test above against a validator that accepts anything.
    let traefik_dynamic = validator("traefik-v2-file-provider.json", jsonschema::Draft::Draft4);
    let broken =
        serde_json::json!({"http": {"routers": {"r": {"rule": "Host(`a`)", "priority": "high"}}}});
    assert!(!traefik_dynamic.is_valid(&broken));
    let compose = validator("compose-spec.json", jsonschema::Draft::Draft7);
    let broken =
        serde_json::json!({"services": {"a": {"image": "x", "networks": {"n": {"nope": 1}}}}});
    assert!(!compose.is_valid(&broken));
}

// --------------------------------------------------------- promtool ----

/// promtool, from Debian's `prometheus` package.
fn promtool() -> std::path::PathBuf {
    integration_tests::tools::require("promtool", "apt-get install prometheus")
}

#[test]
#[cfg_attr(without_real_tools, ignore = "needs promtool")]
fn promtool_accepts_the_config_and_rules_and_the_rule_tests_pass() {
    let promtool = promtool();
    each_program(|program, outputs| {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, text) in outputs.iter().filter(|(p, _)| p.starts_with("prometheus/")) {
            let name = path.strip_prefix("prometheus/").unwrap();
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        for args in [
            &["check", "config", "prometheus.yml"][..],
            &["check", "rules", "rules.yml"],
            &["test", "rules", "rules.test.yml"],
        ] {
            let out = Command::new(&promtool)
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("run promtool");
            assert!(
                out.status.success(),
                "{}: promtool {} failed:\n{}{}",
                program.name,
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
}

/// Every alerting rule has a unit test that expects it to fire and one that
/// expects silence, so `promtool test rules` proves both directions.
#[test]
fn every_alert_has_a_firing_and_a_quiet_test() {
    each_program(|program, outputs| {
        let rules = yaml(outputs, "prometheus/rules.yml");
        let tests = yaml(outputs, "prometheus/rules.test.yml");
        let mut firing = BTreeSet::new();
        let mut quiet = BTreeSet::new();
        for test in tests["tests"].as_array().into_iter().flatten() {
            for case in test["alert_rule_test"].as_array().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let expected = case["exp_alerts"].as_array().map_or(0, Vec::len);
                if expected == 0 {
                    quiet.insert(name)
                } else {
                    firing.insert(name)
                };
            }
        }
        for alert in alert_rules(&rules) {
            let name = alert["alert"].as_str().unwrap();
            assert!(
                firing.contains(name),
                "{}: no test fires {name}",
                program.name
            );
            assert!(
                quiet.contains(name),
                "{}: no test keeps {name} quiet",
                program.name
            );
        }
    });
}

fn all_rules(rules: &Value) -> impl Iterator<Item = &Value> {
    rules["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
}

fn alert_rules(rules: &Value) -> impl Iterator<Item = &Value> {
    all_rules(rules).filter(|r| r.get("alert").is_some())
}

// ---------------------------------------------------------- metrics ----

/// Metric names a PromQL expression selects.
fn selected_metrics(expr: &str) -> BTreeSet<String> {
    use promql_parser::parser::Expr;
    use promql_parser::util::{walk_expr, ExprVisitor};

    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
            let selector = match expr {
                Expr::VectorSelector(vs) => Some(vs),
                Expr::MatrixSelector(ms) => Some(&ms.vs),
                _ => None,
            };
            if let Some(name) = selector.and_then(|s| s.name.clone()) {
                self.0.insert(name);
            }
            Ok(true)
        }
    }
    let parsed =
        promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("not PromQL: {expr}: {e}"));
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &parsed).unwrap();
    names.0
}

#[test]
fn every_metric_the_rules_use_is_one_the_data_plane_exports() {
    each_program(|program, outputs| {
        let rules = yaml(outputs, "prometheus/rules.yml");
        let recorded: BTreeSet<&str> = all_rules(&rules)
            .filter_map(|r| r["record"].as_str())
            .collect();
        let mut used = BTreeSet::new();
        for rule in all_rules(&rules) {
            used.extend(selected_metrics(rule["expr"].as_str().expect("expr")));
        }
        assert!(!used.is_empty(), "{}: rules select no metric", program.name);
        for name in &used {
            // `up` is Prometheus's own, for every target it scrapes.
            assert!(
                dataplane::metric_names::is_exported(name)
                    || recorded.contains(name.as_str())
                    || name == "up",
                "{}: rules.yml uses `{name}`, which the data plane does not export",
                program.name
            );
        }
    });
}

#[test]
fn the_metric_check_sees_through_functions_and_ranges() {
    let names = selected_metrics(
        r#"histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="1"}[5m]))) / ignoring(y) b > 1"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_bucket".to_string(), "b".to_string()])
    );
}

// -------------------------------------------------- compose labels ----

/// Compose's interpolation of a literal value: `$$` is one `$`.
fn uncompose(text: &str) -> String {
    text.replace("$$", "$")
}

/// Traefik's docker labels of every container, read back into one tree as
/// the docker provider does: `a.b[0].c=v` sets `a -> b -> [0] -> c`. A key
/// set on two containers must have the same value on both.
fn labels_tree(compose: &Value) -> (Value, BTreeMap<String, BTreeSet<String>>) {
    let mut tree = Value::Object(Map::new());
    let mut carriers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen: BTreeMap<String, (String, String)> = BTreeMap::new();
    let services = compose["services"].as_object().expect("services");
    for (container, service) in services {
        let Some(labels) = service["labels"].as_object() else {
            continue;
        };
        for (key, value) in labels {
            let (key, value) = (
                uncompose(key),
                uncompose(value.as_str().expect("label values are strings")),
            );
            let Some(path) = key.strip_prefix("traefik.http.") else {
                continue;
            };
            let parts: Vec<&str> = path.split('.').collect();
            if parts[0] == "services" {
                carriers
                    .entry(parts[1].to_string())
                    .or_default()
                    .insert(container.clone());
            }
            if let Some((earlier, other)) = seen.get(path) {
                assert_eq!(earlier, &value, "{key} differs on {container} and {other}");
                continue;
            }
            seen.insert(path.to_string(), (value.clone(), container.clone()));
            set_path(&mut tree, &parts, Value::String(value));
        }
    }
    (tree, carriers)
}

fn set_path(tree: &mut Value, parts: &[&str], value: Value) {
    let Some((first, rest)) = parts.split_first() else {
        *tree = value;
        return;
    };
    let (key, index) = match first.split_once('[') {
        Some((key, index)) => (
            key,
            Some(index.trim_end_matches(']').parse::<usize>().unwrap()),
        ),
        None => (*first, None),
    };
    let map = tree.as_object_mut().expect("label paths do not clash");
    let slot = map.entry(key).or_insert(match index {
        Some(_) => Value::Array(vec![]),
        None => Value::Object(Map::new()),
    });
    let slot = match index {
        Some(i) => {
            let list = slot.as_array_mut().unwrap();
            while list.len() <= i {
                list.push(Value::Object(Map::new()));
            }
            &mut list[i]
        }
        None => slot,
    };
    set_path(slot, rest, value);
}

/// `dynamic.yml`'s `http` tree in the label encoding: scalars as text,
/// scalar lists comma-joined, and each service's server URLs as the one
/// port and scheme that docker labels give (its hosts are returned, to be
/// compared with the containers that carry the service's labels).
fn as_labels(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), as_labels(v))).collect())
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            Value::Array(items.iter().map(as_labels).collect())
        }
        Value::Array(items) => Value::String(
            items
                .iter()
                .map(|i| as_labels(i).as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    }
}

fn servers_as_port(http: &mut Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut hosts = BTreeMap::new();
    for (name, service) in http["services"].as_object_mut().into_iter().flatten() {
        let lb = service["loadBalancer"]
            .as_object_mut()
            .expect("loadBalancer");
        let servers = lb.remove("servers").expect("servers");
        let mut endpoints = BTreeSet::new();
        for server in servers.as_array().unwrap() {
            let url = server["url"].as_str().unwrap();
            let (scheme, rest) = url.split_once("://").unwrap();
            let (host, port) = rest.trim_end_matches('/').rsplit_once(':').unwrap();
            endpoints.insert((scheme.to_string(), port.to_string()));
            hosts
                .entry(name.clone())
                .or_insert_with(BTreeSet::new)
                .insert(host.to_string());
        }
        assert_eq!(
            endpoints.len(),
            1,
            "{name}: servers differ in scheme or port: {endpoints:?}"
        );
        let (scheme, port) = endpoints.into_iter().next().unwrap();
        lb.insert(
            "server".into(),
            serde_json::json!({"port": port, "scheme": scheme}),
        );
    }
    hosts
}

#[test]
fn compose_labels_read_back_as_dynamic_yml() {
    let mut labelled = 0;
    each_program(|program, outputs| {
        let compose = yaml(outputs, "docker-compose.yml");
        let (labels, carriers) = labels_tree(&compose);
        // One home per router: with the file provider's, compose carries
        // no routing labels at all (and Traefik no docker provider).
        if model(program).platform.traefik.routers == RouterHome::File {
            assert_eq!(
                labels,
                Value::Object(Map::new()),
                "{}: labels beside dynamic.yml",
                program.name
            );
            let providers = &yaml(outputs, "traefik/traefik.yml")["providers"];
            assert!(
                providers.get("docker").is_none(),
                "{}: docker provider",
                program.name
            );
            return;
        }
        labelled += 1;
        let providers = &yaml(outputs, "traefik/traefik.yml")["providers"];
        assert!(
            providers.get("file").is_none(),
            "{}: file provider beside labels",
            program.name
        );
        let mut http = yaml(outputs, "traefik/dynamic.yml")["http"].clone();
        let hosts = servers_as_port(&mut http);
        assert_eq!(
            labels,
            as_labels(&http),
            "{}: labels and dynamic.yml differ",
            program.name
        );
        // The containers carrying a service's labels are its servers.
        assert_eq!(
            carriers, hosts,
            "{}: label carriers differ from server hosts",
            program.name
        );
    });
    assert!(labelled > 0, "a fixture puts its routers in labels");
}

#[test]
fn labelled_containers_share_the_network_their_labels_name() {
    each_program(|program, outputs| {
        let compose = yaml(outputs, "docker-compose.yml");
        let networks = compose["networks"].as_object().expect("networks");
        for (container, service) in compose["services"].as_object().unwrap() {
            let Some(network) = service["labels"]["traefik.docker.network"].as_str() else {
                continue;
            };
            let joined: Vec<&str> = service["networks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| networks[key.as_str().unwrap()]["name"].as_str().unwrap())
                .collect();
            assert!(
                joined.contains(&network),
                "{}: {container} is not on {network}",
                program.name
            );
        }
    });
}

// ------------------------------------------------- compose topology ----

#[test]
fn services_behind_the_gateway_join_only_the_internal_network() {
    each_program(|program, outputs| {
        let model = model(program);
        let compose = yaml(outputs, "docker-compose.yml");
        let internal = compose["networks"]["internal"].clone();
        assert_eq!(internal["internal"], Value::Bool(true), "{}", program.name);
        assert_eq!(
            internal["ipam"]["config"][0]["subnet"].as_str(),
            Some(model.platform.subnet.as_str())
        );
        for service in model.services.iter().filter(|s| s.behind_gateway()) {
            for instance in &service.instances {
                let container = &compose["services"][&instance.host];
                assert_eq!(
                    container["networks"],
                    serde_json::json!(["internal"]),
                    "{}: {} must be reachable only through the gateway",
                    program.name,
                    instance.host
                );
                assert!(
                    container.get("ports").is_none(),
                    "{} publishes a port",
                    instance.host
                );
            }
        }
    });
}

#[test]
fn secrets_are_passed_by_name_and_every_dollar_is_doubled() {
    // A `$` that compose may interpolate must start a `${NAME}` reference to
    // a host variable; every other `$` (htpasswd hashes) is doubled.
    let reference = |rest: &str| {
        rest.strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
    };
    each_program(|program, outputs| {
        let text = outputs["docker-compose.yml"].replace("$$", "");
        for (i, _) in text.match_indices('$') {
            assert!(
                reference(&text[i + 1..]),
                "{}: a bare $ in compose at {:?}",
                program.name,
                &text[i..(i + 20).min(text.len())]
            );
        }
        let compose = yaml(outputs, "docker-compose.yml");
        for (name, service) in compose["services"].as_object().unwrap() {
            for variable in service["environment"].as_array().into_iter().flatten() {
                let variable = variable.as_str().unwrap();
                // Names only, or values whose credentials are references:
                // compose fills them in from the host, never the file.
                if let Some((_, value)) = variable.split_once('=') {
                    // The address of a container of this compose file (the
                    // shared rate limits' `redis`) holds no credential.
                    if value.split_once(':').is_some_and(|(host, port)| {
                        compose["services"].get(host).is_some() && port.parse::<u16>().is_ok()
                    }) {
                        continue;
                    }
                    let url = value.strip_prefix("postgres://").unwrap_or_else(|| {
                        panic!("{}: {name} gets a literal value: {variable}", program.name)
                    });
                    let (login, _) = url.split_once('@').expect("a URL with a login");
                    let (user, password) = login.split_once(':').expect("user:password");
                    assert!(
                        user.starts_with("${") && password.starts_with("${"),
                        "{}: {name} gets a literal login: {variable}",
                        program.name
                    );
                }
            }
        }
    });
}

#[test]
fn the_gateway_mounts_the_generated_directory_read_only() {
    each_program(|program, outputs| {
        let compose = yaml(outputs, "docker-compose.yml");
        // `gateway`, or `gateway-1..N` with the gateway's `replicas N`.
        let gateways: Vec<_> = compose["services"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| *name == "gateway" || name.starts_with("gateway-"))
            .collect();
        assert!(!gateways.is_empty(), "{}: no gateway", program.name);
        for (name, gateway) in gateways {
            let volumes = gateway["volumes"].as_array().unwrap();
            assert!(
                volumes.iter().any(|v| v
                    .as_str()
                    .is_some_and(|v| v.starts_with(".:") && v.ends_with(":ro"))),
                "{}: {name} volumes {volumes:?}",
                program.name
            );
        }
    });
}

// --------------------------------------------------------- priorities ----

#[test]
fn dynamic_yml_shows_every_edge_route_with_its_priority_in_dsl_order() {
    each_program(|program, outputs| {
        let model = model(program);
        let text = &outputs["traefik/dynamic.yml"];
        let routers = yaml(outputs, "traefik/dynamic.yml")["http"]["routers"].clone();
        for router in routers.as_object().unwrap().values() {
            assert!(
                router["priority"].as_u64().is_some_and(|p| p > 0),
                "{}: {router}",
                program.name
            );
        }
        // Reading order: the routers appear as the DSL lists its edge routes.
        let mut last = 0;
        for route in &model.edge_routes {
            let at = text
                .find(&format!("\n    {}:\n", route.name))
                .expect("router present");
            assert!(at > last, "{}: {} out of order", program.name, route.name);
            last = at;
            assert_eq!(
                routers[&route.name]["priority"].as_u64(),
                Some(u64::from(route.priority))
            );
        }
    });
}
