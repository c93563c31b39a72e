//! Traefik router rules, rendered in one place for both supported lines:
//! Traefik 3's syntax and Traefik 2's.
//!
//! It owns the matcher syntax only (`Host`, `Path`, `PathPrefix`, `Method`
//! and how they combine); which routers exist and their priorities belong to
//! `traefik.rs`. Both lines are written with the constructs both accept:
//! one value per matcher and `||` between alternatives (Traefik 3 refuses
//! v2's several-value matchers such as `PathPrefix(`/a`, `/b`)`), so moving a
//! platform from 2 to 3 changes no rule. The model's names and paths are checked, so a value that
//! Traefik's rule parser cannot hold (a backtick) is an emitter error, never
//! silently mangled.

use super::EmitError;
use crate::model::{EdgeRoute, PathMatch};

/// The rule language of the Traefik version a file targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSyntax {
    /// Traefik 2: matchers may take several values, but only one is written.
    V2,
    /// Traefik 3: one value per matcher, alternatives joined by `||`.
    V3,
}

impl RuleSyntax {
    pub fn for_version(version: u8) -> Self {
        match version {
            2 => Self::V2,
            _ => Self::V3,
        }
    }

    /// How this syntax's rules match, for `routec explain`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::V2 => "Traefik v2 rule syntax (written in the subset Traefik 3 also accepts: one value per matcher, `||` between alternatives)",
            Self::V3 => "Traefik v3 rule syntax (one value per matcher, `||` between alternatives; PathPrefix matches a literal prefix, never a regexp)",
        }
    }
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

fn render_matcher(matcher: &Matcher<'_>, _syntax: RuleSyntax) -> Result<String, EmitError> {
    // Both syntaxes get the same text: see the module's note.
    Ok(match matcher {
        Matcher::Host(host) => format!("Host({})", quoted(host)?),
        Matcher::Path(path) => format!("Path({})", quoted(path)?),
        Matcher::PathPrefix(path) => format!("PathPrefix({})", quoted(path)?),
        Matcher::Methods(methods) => any_of("Method", methods)?,
        Matcher::AnyPathPrefix(paths) => any_of("PathPrefix", paths)?,
    })
}

/// One matcher per value; several are alternatives in parentheses.
fn any_of<S: AsRef<str>>(matcher: &str, values: &[S]) -> Result<String, EmitError> {
    let each: Result<Vec<String>, EmitError> = values
        .iter()
        .map(|v| Ok(format!("{matcher}({})", quoted(v.as_ref())?)))
        .collect();
    let each = each?;
    Ok(match each.as_slice() {
        [one] => one.clone(),
        _ => format!("({})", each.join(" || ")),
    })
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
            "Host(`example.org`) && Path(`/health`) && (Method(`GET`) || Method(`HEAD`))"
        );
        let one = route(PathMatch::Prefix("/v1".into()), &["GET"]);
        assert_eq!(
            edge_route_rule(&one, RuleSyntax::V3).unwrap(),
            "Host(`example.org`) && PathPrefix(`/v1`) && Method(`GET`)"
        );
    }

    #[test]
    fn the_dashboard_rule_limits_paths_in_both_syntaxes() {
        for syntax in [RuleSyntax::V2, RuleSyntax::V3] {
            assert_eq!(
                dashboard_rule("t.example.org", syntax).unwrap(),
                "Host(`t.example.org`) && (PathPrefix(`/api`) || PathPrefix(`/dashboard`))"
            );
        }
    }

    #[test]
    fn a_backtick_is_refused() {
        let bad = route(PathMatch::Prefix("/a`b".into()), &[]);
        assert!(edge_route_rule(&bad, RuleSyntax::V2).is_err());
    }
}
