#!/usr/bin/env python3
"""The reload benchmark's client (bench/reload.sh): replaces the gateway's
routes.bin by atomic rename, alternating between two tables that differ in
one route, and measures what the gateway does about it.

  latency: COUNT times, rename the other table into place and send GET
           requests (one keep-alive connection, back to back) for the path
           only that table routes, until one is answered by a route (not
           404). Prints the times from the rename to that answer.
  storm:   rename the other table into place every INTERVAL ms for
           DURATION s (while wrk loads the gateway); prints how many.

Each mode reads the gateway's reload counter from the admin listener's
/metrics before and after, so a run where the gateway did not reload says
so. It
talks to 127.0.0.1 only.

usage: reload_probe.py latency PORT ADMIN_PORT LIVE A.bin B.bin PATH_A PATH_B COUNT
       reload_probe.py storm ADMIN_PORT LIVE A.bin B.bin INTERVAL_MS DURATION_S
"""
import http.client
import json
import os
import shutil
import statistics
import sys
import time

GIVE_UP_S = 5.0


def reloads(admin_port):
    """The gateway's count of published tables (`/metrics` on the admin
    listener)."""
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    for line in body.splitlines():
        if line.startswith("gateway_table_reloads_total"):
            return int(float(line.split()[-1]))
    sys.exit("reload_probe.py: no gateway_table_reloads_total in /metrics")


def swap_in(table, live):
    """Copies `table` next to `live` and renames it over `live`; returns
    the monotonic time right after the rename."""
    # Not `routes.bin` nor `..*`: the gateway's watcher ignores the copy.
    staged = os.path.join(os.path.dirname(live), ".staged-" + os.path.basename(live))
    shutil.copyfile(table, staged)
    os.rename(staged, live)
    return time.perf_counter()


def percentile(sorted_values, p):
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def latency(port, admin_port, live, tables, paths, count):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    first = reloads(admin_port)
    samples, gave_up, probes = [], 0, 0
    for i in range(count):
        which = (i + 1) % 2
        renamed = swap_in(tables[which], live)
        while True:
            conn.request("GET", paths[which])
            response = conn.getresponse()
            response.read()
            probes += 1
            now = time.perf_counter()
            if response.status != 404:
                samples.append((now - renamed) * 1000)
                break
            if now - renamed > GIVE_UP_S:
                gave_up += 1
                break
        # Let the watcher settle before the next rename.
        time.sleep(0.05)
    reloads_seen = reloads(admin_port) - first
    samples.sort()
    print(json.dumps({
        "reloads_seen": reloads_seen,
        "samples": len(samples),
        "gave_up": gave_up,
        "probes": probes,
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "max_ms": round(samples[-1], 2),
        "mean_ms": round(statistics.mean(samples), 2),
    }))


def storm(admin_port, live, tables, interval_ms, duration_s):
    first = reloads(admin_port)
    started = time.perf_counter()
    renames = 0
    while time.perf_counter() - started < duration_s:
        swap_in(tables[(renames + 1) % 2], live)
        renames += 1
        next_at = started + renames * interval_ms / 1000
        time.sleep(max(0.0, next_at - time.perf_counter()))
    time.sleep(1)
    print(json.dumps({"renames": renames, "reloads_seen": reloads(admin_port) - first}))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "latency":
        port, admin, live, a, b, path_a, path_b, count = args
        latency(int(port), int(admin), live, (a, b), (path_a, path_b), int(count))
    elif mode == "storm":
        admin, live, a, b, interval_ms, duration_s = args
        storm(int(admin), live, (a, b), float(interval_ms), float(duration_s))
    else:
        sys.exit(f"reload_probe.py: unknown mode {mode!r}")


if __name__ == "__main__":
    main()
