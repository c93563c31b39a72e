//! `routec inspect`: a compiled `routes.bin`, human-readably.
//!
//! Owns only presentation: the shared reader (`routetable`) validates the
//! bytes and its error is returned unchanged, so a bad file is reported
//! exactly as the data plane would report it. Prints the header, the
//! gateway limits, services, middlewares, chains, and the routes in the
//! order they win (priority order), one per line.

use std::fmt::Write;

use routetable::{Balance, Table, TableError, TableView};

/// Renders `bytes` as text, or the reader's error.
pub fn render(bytes: &[u8]) -> Result<String, TableError> {
    let view = Table::from_bytes(bytes)?;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_table(&mut out, &view);
    Ok(out)
}

fn write_table(out: &mut String, view: &TableView<'_>) -> std::fmt::Result {
    let h = view.header();
    writeln!(
        out,
        "routes.bin  format version {}  flags {:#06x}  {} bytes  crc32c {:#010x}",
        h.version, h.flags, h.total_len, h.checksum
    )?;
    writeln!(out, "generation  {}", h.generation)?;
    writeln!(out, "source      sha256 {}", hex::encode(h.source_sha256))?;

    let g = view.gateway();
    let pool = g.pool();
    writeln!(out, "\ngateway")?;
    writeln!(
        out,
        "  max connections {}, max header {} B, max body {} B",
        g.max_connections(),
        g.max_header_bytes(),
        g.max_body_bytes()
    )?;
    writeln!(
        out,
        "  header timeout {} ms, dns ttl {} ms",
        g.header_timeout_ms(),
        g.dns_ttl_ms()
    )?;
    writeln!(
        out,
        "  pool: max total {}, max per host {}, idle timeout {} ms",
        pool.max_total, pool.max_per_host, pool.idle_timeout_ms
    )?;
    writeln!(out, "  trusted proxies: {}", list(g.trusted_proxies()))?;
    let underscores = if g.underscore_headers() {
        "forwarded"
    } else {
        "dropped"
    };
    writeln!(out, "  client header names with `_`: {underscores}")?;

    writeln!(out, "\nservices ({})", view.service_count())?;
    for s in view.services() {
        let balance = match s.balance() {
            Balance::RoundRobin => "round_robin",
            Balance::LeastRequests => "least_requests",
            Balance::Random => "random",
        };
        let instances = list(s.instances().map(|(host, port)| format!("{host}:{port}")));
        writeln!(
            out,
            "  [{}] {}  {balance}  {instances}",
            s.index(),
            s.name()
        )?;
        let t = s.timeouts();
        writeln!(
            out,
            "      timeouts: connect {} ms, response {} ms, websocket idle {} ms",
            t.connect_ms, t.response_ms, t.websocket_idle_ms
        )?;
        if let Some(hc) = s.health() {
            writeln!(
                out,
                "      health: {} every {} ms, timeout {} ms, healthy after {}, down after {}",
                hc.path,
                hc.interval_ms,
                hc.timeout_ms,
                hc.healthy_threshold,
                hc.unhealthy_threshold
            )?;
        }
        if let Some(tls) = s.upstream_tls() {
            writeln!(
                out,
                "      upstream tls: ca {}, cert {}, key {}, server name {}",
                tls.ca_file,
                tls.cert_file.as_deref().unwrap_or("-"),
                tls.key_file.as_deref().unwrap_or("-"),
                tls.server_name.as_deref().unwrap_or("-")
            )?;
        }
    }

    writeln!(out, "\nmiddlewares ({})", view.middleware_count())?;
    for m in view.middlewares() {
        writeln!(
            out,
            "  [{}] {} ({}): {:?}",
            m.index(),
            m.name(),
            m.kind().keyword(),
            m.config()
        )?;
    }

    writeln!(out, "\nchains ({})", view.chain_count())?;
    for c in view.chains() {
        let members: Vec<_> = c.middlewares().map(|m| m.name()).collect();
        writeln!(
            out,
            "  [{}] {}: {}",
            c.index(),
            c.name(),
            members.join(" -> ")
        )?;
    }

    writeln!(
        out,
        "\nroutes ({}), in the order they win",
        view.route_count()
    )?;
    let header = [
        "#", "priority", "match", "path", "host", "methods", "service", "chain", "ws", "name",
    ];
    let rows: Vec<[String; 10]> = view
        .routes_by_precedence()
        .iter()
        .map(|r| {
            [
                r.index().to_string(),
                r.priority().to_string(),
                if r.is_prefix() { "prefix" } else { "exact" }.to_owned(),
                r.path().to_owned(),
                r.host().unwrap_or("*").to_owned(),
                if r.methods().len() == 0 {
                    "*".to_owned()
                } else {
                    r.methods().collect::<Vec<_>>().join(",")
                },
                r.service().map_or("?", |s| s.name()).to_owned(),
                r.chain().map_or("-", |c| c.name()).to_owned(),
                if r.websocket() { "ws" } else { "-" }.to_owned(),
                r.name().to_owned(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut line = |cells: &[&str]| {
        let mut text = String::from(" ");
        for (cell, width) in cells.iter().zip(&widths) {
            let _ = write!(text, " {cell:<width$}");
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(&header)?;
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    Ok(())
}

fn list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let items: Vec<String> = items.map(|s| s.as_ref().to_owned()).collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Vec<u8> {
        let source = include_str!("../../routes.dsl");
        let model = crate::compile(source, "routes.dsl")
            .expect("routes.dsl compiles")
            .model;
        crate::emit::table::emit(&model, None).unwrap().contents
    }

    #[test]
    fn shows_every_gateway_route_in_priority_order() {
        let bytes = table();
        let text = render(&bytes).unwrap();
        let view = Table::from_bytes(&bytes).unwrap();
        let mut last_line = 0;
        for route in view.routes_by_precedence() {
            let line = text
                .lines()
                .position(|l| {
                    l.trim_end().ends_with(&format!(" {}", route.name()))
                        && l.contains(route.path())
                })
                .unwrap_or_else(|| panic!("route {} missing:\n{text}", route.name()));
            assert!(line > last_line, "{} out of order", route.name());
            last_line = line;
        }
        for s in view.services() {
            assert!(text.contains(s.name()));
        }
        assert!(text.contains("cors -> per-ip -> auth"), "{text}");
    }

    #[test]
    fn a_bad_file_is_the_readers_error() {
        let mut bytes = table();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            render(&bytes),
            Err(TableError::ChecksumMismatch { .. })
        ));
        assert!(matches!(render(b"hello"), Err(TableError::TooShort { .. })));
    }
}
