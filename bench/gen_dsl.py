#!/usr/bin/env python3
"""Write a synthetic routes file with N gateway routes, for the compiler's
scaling benchmark (bench/compiler.sh).

Shape: N/10 services, each with 10 gateway prefixes /v1/<svc>/<resource>/,
two replicas and a health check; a handful of middlewares in one chain; a
few edge routes. Deterministic for a given N.

usage: gen_dsl.py N > routes.dsl
"""
import sys

def main() -> None:
    n = int(sys.argv[1])
    per_service = 10
    services = max(1, n // per_service)
    out = [
        "platform synthetic {",
        '  domain "synthetic.example"',
        "  network synth-net",
        "  subnet 10.0.0.0/8",
        "}",
        "",
        "entrypoint websecure {",
        "  address :443",
        "}",
        "",
        "gateway {",
        "  port 8080",
        "  chain api",
        "}",
        "",
        "chain api [cors, per-ip, auth, per-user, log, errs, sec]",
        "",
        'cors cors {\n  origins ["https://synthetic.example"]\n}',
        "",
        "rate_limit per-ip {\n  key client_ip\n  average 100/s\n  burst 200\n}",
        "",
        "jwt auth {\n  algorithms [HS256]\n  key env JWT_SECRET\n  public [\"/v1/s0/\"]\n}",
        "",
        "rate_limit per-user {\n  key user\n  average 20/s\n  burst 40\n}",
        "",
        "access_log log {\n  audit true\n}",
        "",
        "errors errs {\n  format json\n}",
        "",
        "headers sec {\n  nosniff true\n}",
        "",
        "edge_route api {\n  prefix \"/v1\"\n  priority 200\n  to gateway\n}",
        "",
    ]
    routes = 0
    for s in range(services):
        out.append(f"service s{s} {{")
        out.append(f"  port {10000 + s % 50000}")
        out.append(f"  hostname s{s}-svc")
        out.append("  replicas 2")
        for r in range(per_service):
            if routes >= n:
                break
            out.append(f'  prefix "/v1/s{s}/r{r}/"')
            routes += 1
        out.append('  health {\n    path "/health"\n    interval 30s\n    timeout 5s\n  }')
        out.append("}")
        out.append("")
    sys.stdout.write("\n".join(out))

if __name__ == "__main__":
    main()
