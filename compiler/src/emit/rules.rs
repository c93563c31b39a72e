//! Traefik router rules, rendered in one place so that a Traefik v3 target
//! can be added as another [`RuleSyntax`] without touching the emitters.
//!
//! It owns the matcher syntax only (`Host`, `Path`, `PathPrefix`, `Method`
//! and how they combine); which routers exist and their priorities belong to
//! `traefik.rs`. The model's names and paths are checked, so a value that
//! Traefik's rule parser cannot hold (a backtick) is an emitter error, never
//! silently mangled.

use super::EmitError;
use crate::model::{EdgeRoute, PathMatch};

/// The rule language of the Traefik version a file targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSyntax {
    /// Traefik v2: matchers take several values (`Method(`GET`, `POST`)`).
    V2,
}

/// One matcher of a rule, before it is spelt in a syntax.
enum Matcher<'a> {
    Host(&'a str),
    Path(&'a str),
    PathPrefix(&'a str),
    Methods(&'a [String]),
    /// Any of these path prefixes (the dashboard's `/api` and `/dashboard`).
    AnyPathPrefix(&'a [&'a str]),
}

/// The rule of an edge route's router: host, path, then methods if any.
pub fn edge_route_rule(route: &EdgeRoute, syntax: RuleSyntax) -> Result<String, EmitError> {
    let mut matchers = vec![Matcher::Host(&route.host)];
    matchers.push(match &route.path {
        PathMatch::Exact(path) => Matcher::Path(path),
        PathMatch::Prefix(path) => Matcher::PathPrefix(path),
    });
    if !route.methods.is_empty() {
        matchers.push(Matcher::Methods(&route.methods));
    }
    render(&matchers, syntax)
}

/// The rule of the dashboard's router: its host, and only the two path
/// prefixes Traefik serves the dashboard and its API under.
pub fn dashboard_rule(host: &str, syntax: RuleSyntax) -> Result<String, EmitError> {
    const DASHBOARD_PREFIXES: &[&str] = &["/api", "/dashboard"];
    render(
        &[
            Matcher::Host(host),
            Matcher::AnyPathPrefix(DASHBOARD_PREFIXES),
        ],
        syntax,
    )
}

fn render(matchers: &[Matcher<'_>], syntax: RuleSyntax) -> Result<String, EmitError> {
    let parts: Result<Vec<String>, EmitError> =
        matchers.iter().map(|m| render_matcher(m, syntax)).collect();
    Ok(parts?.join(" && "))
}

fn render_matcher(matcher: &Matcher<'_>, syntax: RuleSyntax) -> Result<String, EmitError> {
    match syntax {
        RuleSyntax::V2 => Ok(match matcher {
            Matcher::Host(host) => format!("Host({})", quoted(host)?),
            Matcher::Path(path) => format!("Path({})", quoted(path)?),
            Matcher::PathPrefix(path) => format!("PathPrefix({})", quoted(path)?),
            Matcher::Methods(methods) => format!("Method({})", quoted_list(methods)?),
            Matcher::AnyPathPrefix(paths) => format!("PathPrefix({})", quoted_list(paths)?),
        }),
    }
}

fn quoted_list<S: AsRef<str>>(values: &[S]) -> Result<String, EmitError> {
    let quoted: Result<Vec<String>, EmitError> =
        values.iter().map(|v| quoted(v.as_ref())).collect();
    Ok(quoted?.join(", "))
}

/// A rule argument in backticks, which take their content literally.
fn quoted(value: &str) -> Result<String, EmitError> {
    if value.contains('`') {
        return Err(EmitError::Other {
            output: "traefik rule".into(),
            message: format!("{value:?} contains a backtick, which a Traefik rule cannot quote"),
        });
    }
    Ok(format!("`{value}`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EdgeTarget;

    fn route(path: PathMatch, methods: &[&str]) -> EdgeRoute {
        EdgeRoute {
            name: "r".into(),
            host: "example.org".into(),
            path,
            methods: methods.iter().map(|m| m.to_string()).collect(),
            priority: 1,
            target: EdgeTarget::Gateway,
            middlewares: vec![],
            entrypoints: vec![],
            resolver: None,
        }
    }

    #[test]
    fn prefix_and_exact_paths_use_their_matchers() {
        let prefix = route(PathMatch::Prefix("/v1".into()), &[]);
        assert_eq!(
            edge_route_rule(&prefix, RuleSyntax::V2).unwrap(),
            "Host(`example.org`) && PathPrefix(`/v1`)"
        );
        let exact = route(PathMatch::Exact("/health".into()), &["GET", "HEAD"]);
        assert_eq!(
            edge_route_rule(&exact, RuleSyntax::V2).unwrap(),
            "Host(`example.org`) && Path(`/health`) && Method(`GET`, `HEAD`)"
        );
    }

    #[test]
    fn the_dashboard_rule_limits_paths() {
        assert_eq!(
            dashboard_rule("t.example.org", RuleSyntax::V2).unwrap(),
            "Host(`t.example.org`) && PathPrefix(`/api`, `/dashboard`)"
        );
    }

    #[test]
    fn a_backtick_is_refused() {
        let bad = route(PathMatch::Prefix("/a`b".into()), &[]);
        assert!(edge_route_rule(&bad, RuleSyntax::V2).is_err());
    }
}
