#!/usr/bin/env python3
"""Markdown tables from the benchmark scripts' result files.

`report.py proxy RESULTS.tsv`: bench/proxy.sh's rows (group, target,
connections, peak RSS in KiB, then wrk_report.lua's key=value fields), one
table per worker-count group, each proxy's requests/s and p99 as a ratio to
nginx's at the same connection count in the same run, and the full chain's
throughput as a ratio to the same runtime's bare route.

`report.py compiler RESULTS.tsv`: bench/compiler.sh's rows (routes; for
check, then build: wall s, CPU s, peak KiB; routes.bin bytes), with each
step's CPU time per route relative to the smallest size that took 50 ms or
more (1.0 there; about 1.0 elsewhere when the cost is linear).

`report.py reload RESULTS.tsv`: bench/reload.sh's rows (debounce ms,
reload_probe.py's latency JSON, wrk fields steady, wrk fields under the
storm, the storm's JSON, RSS KiB after).

`report.py memory RESULTS.tsv`: bench/memory.sh's rows (workers, idle KiB,
peak KiB and wrk fields on the bare route, the same on the chain, idle KiB
after).

`report.py instructions RESULTS.tsv`: bench/instructions.sh's rows (target,
requests counted, instructions counted by callgrind), instructions per
request and the ratio to nginx's, and the full chain's to its own bare route.

`report.py callgrind-top TOP.txt N REQUESTS TITLE`: the first N functions of
a callgrind_annotate listing (bench/instructions.sh's top-*-self.txt) as a
table, with their instructions per request over REQUESTS.

`report.py callgrind-groups ALL.txt REQUESTS TITLE`: a whole self-cost
callgrind_annotate listing grouped as bench/profile_groups.py groups perf's
samples (libc's allocator, its memory copies, each Rust crate by its
symbol's leading path), instructions per request over REQUESTS.

It formats; it measures nothing.
"""
import sys
from collections import OrderedDict

GROUP_TITLES = {
    "1": "1 worker each: nginx `worker_processes 1`, HAProxy `nbthread 1`, Traefik and "
    "Caddy `GOMAXPROCS=1`, the data plane `--workers 0` (current-thread runtime) and "
    "`--workers 1` (multi-thread runtime, one worker); the proxy under test pinned to "
    "CPU 0 (taskset), wrk and the backend to CPU 1",
    "2": "2 workers each: nginx `worker_processes 2`, HAProxy `nbthread 2`, Traefik and "
    "Caddy `GOMAXPROCS=2`, the data plane `--workers 2`; nothing pinned (proxy, wrk and "
    "backend share both CPUs)",
}


def read_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            group, target, conns, rss_kib, fields = line.rstrip("\n").split("\t")
            row = dict(kv.split("=") for kv in fields.split())
            row.update(group=group, target=target, conns=int(conns), rss_kib=int(rss_kib))
            for key in ("p50", "p99", "p999", "requests", "non2xx", "connect", "read",
                        "write", "timeout", "cpu_ticks", "clk_tck"):
                row[key] = int(row[key])
            row["rps"] = float(row["rps"])
            row["failed"] = sum(row[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
            rows.append(row)
    return rows


def ms(us):
    return f"{us / 1000:.2f} ms"


def cpu_us_per_request(row):
    """The process tree's CPU time over the run per request (wrk counts
    requests over slightly less time than the run: a small overestimate,
    the same for every target)."""
    if not row["requests"]:
        return "–"
    return f"{row['cpu_ticks'] / row['clk_tck'] * 1e6 / row['requests']:.1f}"


def proxy_report(rows):
    groups = OrderedDict()
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    out = []
    for group, group_rows in groups.items():
        nginx = {r["conns"]: r for r in group_rows if r["target"] == "nginx"}
        bare = {(r["target"].replace("full chain", "bare route"), r["conns"]): r
                for r in group_rows if r["target"].endswith("bare route")}
        out.append(f"**{GROUP_TITLES.get(group, group + ' workers')}.**")
        out.append("")
        out.append("| target | conns | requests/s | × nginx | p50 | p99 | p99 × nginx | p99.9 "
                   "| CPU µs/req | peak RSS | failed |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in sorted(group_rows, key=lambda r: r["conns"]):
            base = nginx.get(r["conns"])
            ratio = f"{r['rps'] / base['rps']:.2f}" if base else "–"
            p99_ratio = f"{r['p99'] / base['p99']:.2f}" if base and base["p99"] else "–"
            own_bare = bare.get((r["target"], r["conns"]))
            if r["target"].endswith("full chain") and own_bare:
                ratio += f" ({r['rps'] / own_bare['rps']:.2f}× bare)"
            out.append(
                f"| {r['target']} | {r['conns']} | {r['rps']:,.0f} | {ratio} | {ms(r['p50'])} "
                f"| {ms(r['p99'])} | {p99_ratio} | {ms(r['p999'])} "
                f"| {cpu_us_per_request(r)} | {r['rss_kib'] / 1024:.1f} MiB | {r['failed']} |")
        out.append("")
    out.append("\"failed\": socket errors, timeouts and non-2xx/3xx answers counted by wrk. "
               "\"peak RSS\": VmHWM of the process and its children (nginx: master and "
               "workers), reset before each run. \"CPU µs/req\": user + system CPU time of "
               "that process tree during the run per request, the figure least moved by "
               "other load on a shared machine. The backend's row is the physical limit "
               "for any proxy in the same setup.")
    return "\n".join(out)


def compiler_report(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            n, check_s, check_cpu, check_kib, build_s, build_cpu, build_kib, table = line.split()
            rows.append((int(n), float(check_s), float(check_cpu), int(check_kib),
                         float(build_s), float(build_cpu), int(build_kib), int(table)))
    if not rows:
        return ""
    # /usr/bin/time resolves 10 ms: the base is the smallest size whose CPU
    # times are long enough to divide.
    base = next((r for r in rows if min(r[2], r[5]) >= 0.05), rows[-1])

    def per_route(row, column):
        if row[column] < 0.05:
            return "–"
        return f"{(row[column] / row[0]) / (base[column] / base[0]):.2f}"

    out = ["| routes | check: wall | check: CPU | check: peak RSS | check: CPU/route (× base) "
           "| build: wall | build: CPU | build: peak RSS | build: CPU/route (× base) | routes.bin |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        n, check_s, check_cpu, check_kib, build_s, build_cpu, build_kib, table = row
        out.append(f"| {n:,} | {check_s:.2f} s | {check_cpu:.2f} s | {check_kib / 1024:.0f} MiB "
                   f"| {per_route(row, 2)} | {build_s:.2f} s | {build_cpu:.2f} s "
                   f"| {build_kib / 1024:.0f} MiB | {per_route(row, 5)} | {table / 1e6:.2f} MB |")
    return "\n".join(out)


def wrk_fields(text):
    row = {k: float(v) for k, v in (kv.split("=") for kv in text.split())}
    row["failed"] = int(sum(row[k] for k in ("non2xx", "connect", "read", "write", "timeout")))
    return row


def wrk_phases(text):
    """Several wrk runs (`;`-separated) as one: their requests over their
    time together, failures summed."""
    phases = [wrk_fields(t) for t in text.split(";")]
    requests = sum(p["requests"] for p in phases)
    seconds = sum(p["requests"] / p["rps"] for p in phases if p["rps"] > 0)
    return {"rps": requests / seconds if seconds else 0.0,
            "failed": sum(p["failed"] for p in phases)}


def reload_report(path):
    import json
    out = ["| reload debounce | rename → first answer: p50 | p99 | max | reloads seen "
           "| steady req/s | req/s in the storm | × steady | placebo × steady | storm × placebo "
           "| reloads in the storm | failed in the storm | RSS after |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    with open(path, encoding="utf-8") as f:
        for line in f:
            debounce, latency, steady, storm, storm_probe, rss_kib, placebo = line.rstrip("\n").split("\t")
            placebo = wrk_phases(placebo)
            latency = json.loads(latency)
            probes = [json.loads(p) for p in storm_probe.split(";")]
            storm_probe = {k: sum(p[k] for p in probes) for k in ("reloads_seen", "renames")}
            steady, storm = wrk_phases(steady), wrk_phases(storm)
            seen = f"{latency['reloads_seen']} of {latency['samples'] + latency['gave_up']}"
            out.append(
                f"| {debounce} ms | {latency['p50_ms']:.1f} ms | {latency['p99_ms']:.1f} ms "
                f"| {latency['max_ms']:.1f} ms | {seen} | {steady['rps']:,.0f} "
                f"| {storm['rps']:,.0f} | {storm['rps'] / steady['rps']:.2f} "
                f"| {placebo['rps'] / steady['rps']:.2f} | {storm['rps'] / placebo['rps']:.2f} "
                f"| {storm_probe['reloads_seen']} of {storm_probe['renames']} renames "
                f"| {storm['failed']} (steady: {steady['failed']}) "
                f"| {int(rss_kib) / 1024:.1f} MiB |")
    return "\n".join(out)


def memory_report(path):
    out = ["| runtime | idle RSS | peak RSS, bare route under load | req/s | failed "
           "| peak RSS, full chain under load | req/s | failed | idle RSS after the load |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    with open(path, encoding="utf-8") as f:
        for line in f:
            workers, idle, bare_kib, bare, chain_kib, chain, after = line.rstrip("\n").split("\t")
            bare, chain = wrk_fields(bare), wrk_fields(chain)
            runtime = "`--workers 0` (current-thread)" if workers == "0" else f"`--workers {workers}`"
            mib = lambda kib: f"{int(kib) / 1024:.1f} MiB"  # noqa: E731
            out.append(f"| {runtime} | {mib(idle)} | {mib(bare_kib)} | {bare['rps']:,.0f} "
                       f"| {bare['failed']} | {mib(chain_kib)} | {chain['rps']:,.0f} "
                       f"| {chain['failed']} | {mib(after)} |")
    return "\n".join(out)


def instructions_report(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            target, requests, instructions = line.rstrip("\n").split("\t")
            rows.append((target, int(requests), int(instructions) / int(requests)))
    nginx = next((per for target, _, per in rows if target == "nginx"), None)
    bare = {target: per for target, _, per in rows if target.endswith("bare route")}
    out = ["| target | requests counted | instructions/request | × nginx |",
           "|---|---:|---:|---:|"]
    for target, requests, per in rows:
        ratio = f"{per / nginx:.2f}" if nginx else "–"
        own_bare = bare.get(target.replace("full chain", "bare route"))
        if target.endswith("full chain") and own_bare:
            ratio += f" ({per / own_bare:.2f}× bare)"
        out.append(f"| {target} | {requests:,} | {per:,.0f} | {ratio} |")
    out.append("")
    out.append("Instructions executed in user space by every thread of the proxy's "
               "process (valgrind does not see the kernel's), from its callgrind dump, "
               "over the requests counted.")
    return "\n".join(out)


def callgrind_entries(path):
    """(instructions, share %, function, object file) of each function in a
    callgrind_annotate listing, less the frames that were on the stack when
    a mid-run dump was taken (listed with 99% or more, by self too)."""
    import re
    entry = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*?)(?: \[([^\]]*)\])?$")
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = entry.match(line)
            if not match or match.group(3) == "PROGRAM TOTALS" or float(match.group(2)) >= 99:
                continue
            yield (int(match.group(1).replace(",", "")), match.group(2),
                   match.group(3).split(":", 1)[-1], match.group(4) or "")


def callgrind_top(path, count, requests, title):
    out = [f"**{title}**", "", "| instructions/request | share | function |",
           "|---:|---:|---|"]
    for ir, share, function, _ in callgrind_entries(path):
        if len(function) > 120:
            function = function[:119] + "…"
        out.append(f"| {ir / requests:,.0f} | {share}% | `{function}` |")
        if len(out) - 4 >= count:
            break
    return "\n".join(out)


def callgrind_groups(path, requests, title):
    import os
    from collections import Counter
    from profile_groups import group
    groups, total = Counter(), 0
    for ir, _, function, obj in callgrind_entries(path):
        groups[group(os.path.basename(obj), function)] += ir
        total += ir
    out = [f"**{title}**", "", "| instructions/request | share | where |", "|---:|---:|---|"]
    for name, ir in groups.most_common(12):
        out.append(f"| {ir / requests:,.0f} | {100 * ir / total:.1f}% | {name} |")
    return "\n".join(out)


def main():
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "proxy":
        print(proxy_report(read_rows(path)))
    elif kind == "memory":
        print(memory_report(path))
    elif kind == "reload":
        print(reload_report(path))
    elif kind == "instructions":
        print(instructions_report(path))
    elif kind == "callgrind-top":
        print(callgrind_top(path, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]))
    elif kind == "callgrind-groups":
        print(callgrind_groups(path, int(sys.argv[3]), sys.argv[4]))
    elif kind == "compiler":
        print(compiler_report(path))
    else:
        sys.exit(f"report.py: unknown report {kind!r}")


if __name__ == "__main__":
    main()
