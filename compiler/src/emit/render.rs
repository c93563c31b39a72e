//! The template machinery shared by the YAML emitters: one minijinja
//! environment with every template of the top-level `templates/` folder
//! embedded at compile time (so `routec` works from any directory), the
//! `yaml` and `compose` filters that turn values into safely quoted YAML, the
//! "generated from ... do not edit" header, and the Go/Prometheus duration
//! format.
//!
//! It owns no output's shape: each emitter builds its own view-model and
//! names its template. Templates hold only loops and conditions; anything
//! that computes belongs in the emitter's Rust.

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use super::{EmitError, Output};
use crate::model::Model;

/// Every template, by the name the emitters use, embedded in the binary.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "traefik/traefik.yml.j2",
        include_str!("../../../templates/traefik/traefik.yml.j2"),
    ),
    (
        "traefik/dynamic.yml.j2",
        include_str!("../../../templates/traefik/dynamic.yml.j2"),
    ),
    (
        "docker-compose.yml.j2",
        include_str!("../../../templates/docker-compose.yml.j2"),
    ),
    (
        "prometheus/prometheus.yml.j2",
        include_str!("../../../templates/prometheus/prometheus.yml.j2"),
    ),
    (
        "prometheus/rules.yml.j2",
        include_str!("../../../templates/prometheus/rules.yml.j2"),
    ),
    (
        "prometheus/rules.test.yml.j2",
        include_str!("../../../templates/prometheus/rules.test.yml.j2"),
    ),
    (
        "pgbouncer/pgbouncer.ini.j2",
        include_str!("../../../templates/pgbouncer/pgbouncer.ini.j2"),
    ),
    (
        "pgbouncer/userlist.txt.j2",
        include_str!("../../../templates/pgbouncer/userlist.txt.j2"),
    ),
    (
        "pgbouncer/entrypoint.sh.j2",
        include_str!("../../../templates/pgbouncer/entrypoint.sh.j2"),
    ),
];

/// The environment the emitters render with. Built once per `emit_all`.
pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    pub fn new() -> Result<Self, EmitError> {
        let mut env = Environment::new();
        // Templates are YAML, but minijinja's default would JSON-escape
        // `.yml` output; quoting is explicit through the filters instead.
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // A misspelt field must fail the build, not render as nothing.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.add_filter("yaml", yaml_filter);
        env.add_filter("compose", compose_filter);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(Self { env })
    }

    /// Renders `template` with `view` as its context, plus `header`: the
    /// "do not edit" line for `model`'s source.
    pub fn render<V: Serialize>(
        &self,
        template: &str,
        model: &Model,
        view: &V,
    ) -> Result<String, EmitError> {
        let tmpl = self
            .env
            .get_template(template)
            .map_err(|e| template_error(template, &e))?;
        let ctx = minijinja::context! {
            header => header(model),
            view => Value::from_serialize(view),
        };
        tmpl.render(ctx).map_err(|e| template_error(template, &e))
    }

    /// Renders the output at `path` from the template `templates/PATH.j2`.
    pub fn output<V: Serialize>(
        &self,
        path: &str,
        model: &Model,
        view: &V,
    ) -> Result<Output, EmitError> {
        let text = self.render(&format!("{path}.j2"), model, view)?;
        Ok(Output {
            path: path.to_string(),
            contents: text.into_bytes(),
        })
    }
}

fn template_error(template: &str, error: &minijinja::Error) -> EmitError {
    // `{:#}` includes the template line the error points at.
    EmitError::Template {
        template: template.to_string(),
        message: format!("{error:#}"),
    }
}

/// The first-line comment of every generated file whose format has comments.
pub fn header(model: &Model) -> String {
    format!(
        "generated from {} (sha256 {}) — do not edit",
        model.source.file, model.source.sha256
    )
}

/// `value` as a YAML scalar or flow collection that YAML reads back as the
/// same value, whatever its strings hold (`:`, `#`, `*`, quotes, backticks,
/// leading spaces, words like `yes`).
fn yaml_filter(value: Value) -> Result<String, minijinja::Error> {
    let json = serde_json::to_value(&value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    Ok(yaml_flow(&json))
}

/// [`yaml_filter`] for docker-compose files: compose interpolates `$` in
/// every value, so every `$` is doubled first (basic-auth hashes contain `$`;
/// secrets are passed by name, so nothing is meant to be interpolated).
fn compose_filter(value: Value) -> Result<String, minijinja::Error> {
    let json = serde_json::to_value(&value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
    })?;
    Ok(yaml_flow(&escape_dollars(json)))
}

/// Doubles `$` in every string of `value`, keys included.
fn escape_dollars(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        J::String(s) => J::String(s.replace('$', "$$")),
        J::Array(items) => J::Array(items.into_iter().map(escape_dollars).collect()),
        J::Object(map) => J::Object(
            map.into_iter()
                .map(|(k, v)| (k.replace('$', "$$"), escape_dollars(v)))
                .collect(),
        ),
        other => other,
    }
}

fn yaml_flow(value: &serde_json::Value) -> String {
    use serde_json::Value as J;
    match value {
        J::Array(items) => {
            let items: Vec<String> = items.iter().map(yaml_flow).collect();
            format!("[{}]", items.join(", "))
        }
        J::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", yaml_string(k), yaml_flow(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        J::String(text) => yaml_string(text),
        // Numbers, booleans and null: JSON's spelling is also YAML's.
        scalar => scalar.to_string(),
    }
}

/// The most readable YAML spelling of `text` that reads back as the same
/// string: plain for simple words and paths, single-quoted when it holds
/// double quotes (PromQL), else double-quoted with JSON escapes (a subset of
/// YAML's).
fn yaml_string(text: &str) -> String {
    let is_plain_char = |c: char| c.is_ascii_alphanumeric() || "_-./".contains(c);
    let starts_safely = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/');
    // YAML 1.1 readers (compose's among them) take these words as booleans
    // or null.
    const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    if starts_safely
        && text.chars().all(is_plain_char)
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
    {
        return text.to_string();
    }
    if text.contains('"') && !text.chars().any(char::is_control) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    serde_json::Value::String(text.to_string()).to_string()
}

/// A duration in whole milliseconds as Go's `time.ParseDuration` and
/// Prometheus both read it, shortest form: `30s`, `5m`, `1h30m`, `250ms`,
/// `0s`.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let units = [(3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")];
    let mut rest = ms;
    let mut out = String::new();
    for (size, unit) in units {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_the_largest_units() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(250), "250ms");
        assert_eq!(duration(30_000), "30s");
        assert_eq!(duration(300_000), "5m");
        assert_eq!(duration(5_400_000), "1h30m");
        assert_eq!(duration(61_500), "1m1s500ms");
    }

    #[test]
    fn yaml_quoting_reads_back_as_the_same_value() {
        let tricky = serde_json::json!({
            "a: b": ["#not a comment", "*alias", " lead", "back`tick`", "\"q\"\n"],
            "promql": ["up{job=\"a\"} == 0", "it's \"x\""],
            "words": ["yes", "No", "null", "~", "/metrics", "a.b-c_d", "1.0", "-x", ""],
            "n": 3, "t": true, "none": null,
        });
        let text = yaml_flow(&tricky);
        let back: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, tricky);
    }

    #[test]
    fn compose_values_double_every_dollar() {
        let hash = serde_json::json!("admin:$apr1$x$y");
        assert_eq!(yaml_flow(&escape_dollars(hash)), r#""admin:$$apr1$$x$$y""#);
    }

    #[test]
    fn simple_words_stay_plain_and_promql_stays_readable() {
        assert_eq!(yaml_string("websecure"), "websecure");
        assert_eq!(yaml_string("yes"), "\"yes\"");
        assert_eq!(yaml_string("up{a=\"b\"}"), "'up{a=\"b\"}'");
    }
}
