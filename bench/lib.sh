# shellcheck shell=bash
# Shared helpers for bench/run.sh, bench/profile.sh and the scenario scripts
# (tls.sh, mirror.sh, scale.sh, syscalls.sh, pingora.sh): installing the tools,
# building strangler, writing configs for the origin and the proxies into a
# temp dir, starting/stopping processes by pid, reading /proc, running wrk.
# Sourced, not executed.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# BUILD=pgo (the default): the profile-guided build users run in production
# (deploy/pgo.sh -> target/pgo/strangler); BUILD=release: plain `cargo build --release`.
BUILD="${BUILD:-pgo}"
if [[ $BUILD == pgo ]]; then
  STRANGLER_BIN="${STRANGLER_BIN:-$REPO_DIR/target/pgo/strangler}"   # overridable: a copy elsewhere
else
  STRANGLER_BIN="${STRANGLER_BIN:-$REPO_DIR/target/release/strangler}"
fi

# Ports (127.0.0.1 only). Override with BENCH_PORT_BASE.
PORT_BASE="${BENCH_PORT_BASE:-28100}"
ORIGIN_PORT=$((PORT_BASE + 1))     # NGINX origin: 1 KiB JSON
SHADOW_PORT=$((PORT_BASE + 2))     # second NGINX, the "shadow service": same body, counts requests
NGINX_PORT=$((PORT_BASE + 3))      # NGINX reverse proxy
HAPROXY_PORT=$((PORT_BASE + 4))    # HAProxy
STRANGLER_PORT=$((PORT_BASE + 5))  # strangler proxy
ADMIN_PORT=$((PORT_BASE + 6))      # strangler admin API
NGINX_SAME_PORT=$((PORT_BASE + 8)) # NGINX reverse proxy setting the fields strangler sets (run.sh)
ALL_PORTS=("$ORIGIN_PORT" "$SHADOW_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "$STRANGLER_PORT" "$ADMIN_PORT" "$NGINX_SAME_PORT")

# CPU pinning: wrk (-t1) and the origin share CLIENT_CPU; the proxy under test
# gets PROXY_CPU to itself. PIN=0 disables taskset.
PIN="${PIN:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
PROXY_CPU="${PROXY_CPU:-1}"
if [[ "$PIN" == 1 ]] && { [[ "$(nproc --all)" -lt 2 ]] || ! command -v taskset >/dev/null; }; then
  echo "note: fewer than 2 CPUs or no taskset: not pinning" >&2
  PIN=0
fi

# Extra ports the origin NGINX also listens on (scenario scripts give each proxy
# its own, so that its upstream connections can be told apart with ss).
ORIGIN_EXTRA_PORTS=()
# Environment for the load generator (e.g. OPENSSL_CONF for the TLS clients).
CLIENT_ENV=()

PIDS=()   # everything we started, stopped by pid on exit
TMP=""

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pin() { # pin CPU cmd...
  local cpu="$1"; shift
  if [[ "$PIN" == 1 ]]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

need_tools() { # need_tools bin:package ...
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing missing packages: ${missing[*]}"
  [[ $EUID -eq 0 ]] || die "need root to apt-get install ${missing[*]} (or install them yourself)"
  apt-get update -qq
  # Debian's postinst may start the packaged services; policy-rc.d 101 keeps them stopped.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; created_policy=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  [[ $created_policy == 1 ]] && rm -f "$policy"
  for spec in "$@"; do command -v "${spec%%:*}" >/dev/null 2>&1 || die "${spec%%:*} still missing after installing ${spec#*:}"; done
}

build_strangler() {
  local out; out=$(mktemp)
  if [[ $BUILD == pgo ]]; then
    log "building strangler, profile-guided (deploy/pgo.sh, ~10 min; BUILD=release for the plain build)"
    if ! (cd "$REPO_DIR" && deploy/pgo.sh) >"$out" 2>&1; then
      grep -E '^(error|warning: build failed)|^Error' "$out" | head -n 10 >&2
      rm -f "$out"
      die "deploy/pgo.sh failed (SKIP_BUILD=1 benchmarks the existing $STRANGLER_BIN)"
    fi
  else
    log "building strangler (cargo build --release -j2 --bin strangler)"
    if ! (cd "$REPO_DIR" && cargo build --release -j2 --bin strangler) >"$out" 2>&1; then
      grep -E '^(error|warning: build failed)' "$out" | head -n 10 >&2
      rm -f "$out"
      die "cargo build --release failed (SKIP_BUILD=1 benchmarks the existing target/release/strangler)"
    fi
  fi
  tail -n 1 "$out" >&2; rm -f "$out"
  [[ -x "$STRANGLER_BIN" ]] || die "no $STRANGLER_BIN after the build"
}

check_ports_free() {
  local p
  for p in "${ALL_PORTS[@]}"; do
    if [[ -n "$(ss -Hltn "sport = :$p")" ]]; then
      die "port 127.0.0.1:$p is already in use (set BENCH_PORT_BASE to move ports $((PORT_BASE + 1))-$((PORT_BASE + 8)))"
    fi
  done
}

make_tmp() {
  TMP="$(mktemp -d "/tmp/${TMP_PREFIX:-strangler-bench}.XXXXXX")"
  mkdir -p "$TMP/strangler" "$TMP/shadowlog" "$TMP/logs"
}

alive() { # a process that exists and is not a zombie (parents of $(...) starts are gone)
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ -n "$TMP" && -d "$TMP" ]]; then
    if [[ "${KEEP_TMP:-0}" == 1 || $rc -ne 0 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}

# A 1 KiB JSON body (exactly 1024 bytes).
json_body() {
  local head='{"id":1,"status":"ok","service":"origin","pad":"' tail='"}' n
  n=$((1024 - ${#head} - ${#tail}))
  printf '%s%s%s' "$head" "$(head -c "$n" /dev/zero | tr '\0' 'x')" "$tail"
}

write_configs() {
  local body; body="$(json_body)"
  # --- origin (and the shadow service) -----------------------------------
  cat >"$TMP/origin.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $TMP/origin.pid;
error_log $TMP/logs/origin.err warn;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/origin_body;
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
$(for p in "${ORIGIN_EXTRA_PORTS[@]}"; do echo "    listen 127.0.0.1:$p backlog=4096;"; done)
    location = /-/nginx-status { stub_status; }
    location / { default_type application/json; return 200 '$body'; }
  }
}
EOF
  # The shadow service: its own NGINX, so that its stub_status counts only shadow copies.
  cat >"$TMP/shadow.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $TMP/shadow.pid;
error_log $TMP/logs/shadow.err warn;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/shadow_body;
  server {
    listen 127.0.0.1:$SHADOW_PORT backlog=4096;
    location = /-/nginx-status { stub_status; }
    location / { default_type application/json; return 200 '$body'; }
  }
}
EOF
  # --- NGINX reverse proxy -------------------------------------------------
  cat >"$TMP/nginx-proxy.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 65536;
pid $TMP/nginx-proxy.pid;
error_log $TMP/logs/nginx-proxy.err warn;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/nginx_body;
  proxy_temp_path $TMP/nginx_proxy_temp;
  upstream origin {
    server 127.0.0.1:$ORIGIN_PORT;
    keepalive 64;
    keepalive_requests 10000000;
  }
  # The shadow service, for mirror.sh (NGINX's \`mirror\` against strangler's shadow).
  upstream shadowsvc {
    server 127.0.0.1:$SHADOW_PORT;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
    location /shadowed {
      mirror /mirror;
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
    location = /mirror {
      internal;
      proxy_pass http://shadowsvc\$request_uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
  # --- HAProxy ---------------------------------------------------------------
  # HAProxy wants 2 fds per connection up front and will not start otherwise.
  HAPROXY_MAXCONN=$(( ($(ulimit -n) - 200) / 2 ))
  (( HAPROXY_MAXCONN > 20000 )) && HAPROXY_MAXCONN=20000
  cat >"$TMP/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn $HAPROXY_MAXCONN
  pidfile $TMP/haproxy.pid
defaults
  mode http
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  option forwardfor
  default_backend origin
backend origin
  server o1 127.0.0.1:$ORIGIN_PORT
EOF
  # --- strangler ---------------------------------------------------------------
  # In its own directory: the proxy watches the directory of its config file.
  # max_idle 64 matches NGINX's `keepalive 64` (the seed default is 20).
  strangler_config A >"$TMP/strangler/routes.yaml"
  strangler_config A >"$TMP/strangler/routes.A"
  strangler_config B >"$TMP/strangler/routes.B"
}

# strangler_config A|B: two valid versions that differ in a comment and a route name.
strangler_config() {
  local v="$1" name=plain
  [[ $v == B ]] && name=plain-b
  cat <<EOF
# strangler bench config, version $v
listen: 127.0.0.1:$STRANGLER_PORT
workers: 1
admin:
  listen: 127.0.0.1:$ADMIN_PORT
shadow:
  log: $TMP/shadowlog/shadow-diffs.jsonl
upstreams:
  origin:
    url: http://127.0.0.1:$ORIGIN_PORT
    max_idle: 64
  shadowsvc:
    url: http://127.0.0.1:$SHADOW_PORT
    max_idle: 64
routes:
  - name: shadowed
    match: { path_prefix: /shadowed }
    upstream: origin
    shadow:
      upstream: shadowsvc
      sample: 1.0
  - name: sampled
    match: { path_prefix: /sampled }
    upstream: origin
    shadow:
      upstream: shadowsvc
      sample: 0.1
  - name: $name
    match: { path_prefix: / }
    upstream: origin
EOF
}

wait_http() { # wait_http URL [seconds]
  local url="$1" t="${2:-20}" i
  for ((i = 0; i < t * 10; i++)); do
    curl -s -o /dev/null -m 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# Start commands in the background; the pid of the exec'd program is recorded.
start_bg() { # start_bg NAME CPU cmd...
  local name="$1" cpu="$2"; shift 2
  if [[ "$PIN" == 1 ]]; then
    taskset -c "$cpu" "$@" >"$TMP/logs/$name.out" 2>&1 &
  else
    "$@" >"$TMP/logs/$name.out" 2>&1 &
  fi
  echo "$!"   # called in $(...): the caller adds it to PIDS
}

start_origin() {
  ORIGIN_PID=$(start_bg origin "$CLIENT_CPU" nginx -p "$TMP" -e "$TMP/logs/origin.err" -c "$TMP/origin.conf" -g 'daemon off;')
  PIDS+=("$ORIGIN_PID")
  wait_http "http://127.0.0.1:$ORIGIN_PORT/" || die "origin NGINX did not start: $(cat "$TMP/logs/origin.out" "$TMP/logs/origin.err" 2>/dev/null)"
  SHADOW_PID=$(start_bg shadow "$CLIENT_CPU" nginx -p "$TMP" -e "$TMP/logs/shadow.err" -c "$TMP/shadow.conf" -g 'daemon off;')
  PIDS+=("$SHADOW_PID")
  wait_http "http://127.0.0.1:$SHADOW_PORT/" || die "shadow NGINX did not start: $(cat "$TMP/logs/shadow.out" "$TMP/logs/shadow.err" 2>/dev/null)"
}

start_nginx_proxy() {
  NGINX_PID=$(start_bg nginx-proxy "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nginx-proxy.err" -c "$TMP/nginx-proxy.conf" -g 'daemon off;')
  PIDS+=("$NGINX_PID")
  wait_http "http://127.0.0.1:$NGINX_PORT/" || die "NGINX proxy did not start: $(cat "$TMP/logs/nginx-proxy.out" "$TMP/logs/nginx-proxy.err" 2>/dev/null)"
}

# nginx_same_conf SRC DST [PORT]: SRC (the NGINX proxy config) with its
# `location /` doing per request the header work strangler does by default
# (src/headers.rs, src/request_id.rs; no trusted_proxies): X-Request-Id, the
# client's when sane (1-128 visible ASCII) else a new one ($request_id: 32 hex
# digits, not a UUID), sent upstream and returned on the answer;
# X-Forwarded-For (the peer: the client's is not trusted), -Proto, -Host set;
# the client's Forwarded and X-Real-IP dropped, with the hop-by-hop fields
# NGINX does not drop itself (static empty values: no work per request).
# PORT: listen there instead, with a pid file of its own (to run beside SRC's).
nginx_same_conf() {
  local src="$1" dst="$2" port="${3:-}"
  awk '
      /^http \{$/ { print
        print "  map $http_x_request_id $rid {"
        print "    \"\" $request_id;"
        print "    \"~^[!-~]{1,128}$\" $http_x_request_id;"
        print "    default $request_id;"
        print "  }"
        next }
      /^    location \/ \{$/ { loc = 1 }
      loc && /^      proxy_set_header X-Forwarded-For / { done++
        print "      proxy_set_header X-Forwarded-For $remote_addr;"
        print "      proxy_set_header X-Forwarded-Proto $scheme;"
        print "      proxy_set_header X-Forwarded-Host $http_host;"
        print "      proxy_set_header X-Request-Id $rid;"
        print "      proxy_set_header Forwarded \"\";"
        print "      proxy_set_header X-Real-IP \"\";"
        print "      proxy_set_header Proxy-Connection \"\";"
        print "      proxy_set_header Trailer \"\";"
        print "      proxy_set_header HTTP2-Settings \"\";"
        print "      add_header X-Request-Id $rid always;"
        next }
      loc && /^    \}$/ { loc = 0 }
      { print }
      END { exit done == 1 ? 0 : 1 }' "$src" >"$dst" \
    || die "could not make $dst from $src (its \`location /\` changed?)"
  if [[ -n $port ]]; then
    sed -i "s|listen 127.0.0.1:$NGINX_PORT |listen 127.0.0.1:$port |; s|^pid .*|pid $TMP/nginx-same.pid;|" "$dst"
    grep -q "listen 127.0.0.1:$port " "$dst" || die "could not move $dst to port $port"
  fi
}

start_nginx_same() {
  nginx_same_conf "$TMP/nginx-proxy.conf" "$TMP/nginx-same.conf" "$NGINX_SAME_PORT"
  NGINX_SAME_PID=$(start_bg nginx-same "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nginx-same.err" -c "$TMP/nginx-same.conf" -g 'daemon off;')
  PIDS+=("$NGINX_SAME_PID")
  wait_http "http://127.0.0.1:$NGINX_SAME_PORT/" || die "NGINX (same fields) did not start: $(cat "$TMP/logs/nginx-same.out" "$TMP/logs/nginx-same.err" 2>/dev/null)"
}

start_haproxy() {
  haproxy -c -q -f "$TMP/haproxy.cfg" || die "HAProxy rejects its config"
  HAPROXY_PID=$(start_bg haproxy "$PROXY_CPU" haproxy -db -f "$TMP/haproxy.cfg")
  PIDS+=("$HAPROXY_PID")
  wait_http "http://127.0.0.1:$HAPROXY_PORT/" || die "HAProxy did not start: $(cat "$TMP/logs/haproxy.out")"
}

start_strangler() {
  STRANGLER_PID=$(start_bg strangler "$PROXY_CPU" env RUST_LOG=warn "$STRANGLER_BIN" run --config "$TMP/strangler/routes.yaml")
  PIDS+=("$STRANGLER_PID")
  wait_http "http://127.0.0.1:$STRANGLER_PORT/" || die "strangler did not start: $(tail -n 20 "$TMP/logs/strangler.out")"
}

# utime+stime (clock ticks) of a process and its direct children (NGINX's
# master + worker); threads are included in a process's own counters.
# Prints "utime stime".
cpu_ticks() {
  local pid="$1" u=0 s=0 p f
  for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f="${f##*) }"            # fields from 3 (state) on; comm may contain spaces
    read -r -a a <<<"$f"
    u=$((u + a[11])); s=$((s + a[12]))   # utime (14), stime (15)
  done
  echo "$u $s"
}

# VmRSS in KiB of a process plus its direct children.
rss_kib() {
  local pid="$1" total=0 p v
  for p in "$pid" $(pgrep -P "$pid" 2>/dev/null || true); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

CLK_TCK="$(getconf CLK_TCK)"

# settle: write back what earlier runs left dirty before the next run starts.
# A shadowed run makes strangler write its shadow log (~140 MB in 10 s at 50
# connections); the kernel writes it back ~30 s later, in the middle of
# whichever run is going then. Every load run starts with this, outside its
# measurement, so that no run is billed for another's writeback.
settle() { sync; }

# round_order R TARGETS...: the order of round R, one target a line: as given
# in odd rounds, reversed in even ones, so that no target always runs first,
# last, or right after the same other (a fixed order put strangler last at 1
# connection, after HAProxy, in every round). Use: mapfile -t order < <(round_order ...)
round_order() {
  local r=$1; shift
  if (( r % 2 )); then printf '%s\n' "$@"; else printf '%s\n' "$@" | tac; fi
}

# run_wrk LABEL CONNS SECONDS URL [PID]
# Prints one line: requests duration_s rps p50_us p99_us non2xx sockerr cpu_us_per_req user_us sys_us
run_wrk() {
  local label="$1" conns="$2" secs="$3" url="$4" pid="${5:-}" out u0=0 s0=0 u1=0 s1=0
  out="$TMP/logs/wrk-$label-c$conns-$(date +%s%N).txt"
  settle
  [[ -n $pid ]] && read -r u0 s0 < <(cpu_ticks "$pid")
  pin "$CLIENT_CPU" env "${CLIENT_ENV[@]}" wrk -t1 -c"$conns" -d"${secs}s" --latency --timeout 5s -s "$BENCH_DIR/report.lua" "$url" >"$out" 2>&1 \
    || { log "wrk failed for $label: $(tail -n 5 "$out")"; echo "0 0 0 0 0 0 0 0 0 0"; return; }
  [[ -n $pid ]] && read -r u1 s1 < <(cpu_ticks "$pid")
  awk -v ut=$((u1 - u0)) -v st=$((s1 - s0)) -v hz="$CLK_TCK" -v haspid="${pid:+1}" '
    /^BENCH / {
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      dur = v["duration_us"] / 1e6
      rps = (dur > 0) ? v["requests"] / dur : 0
      sockerr = v["connect"] + v["read"] + v["write"] + v["timeout"]
      k = (haspid && v["requests"] > 0) ? 1e6 / hz / v["requests"] : 0
      printf "%d %.2f %.0f %d %d %d %d %.2f %.2f %.2f\n", v["requests"], dur, rps, v["p50"], v["p99"], v["status"], sockerr, (ut + st) * k, ut * k, st * k
      found = 1
    }
    END { if (!found) print "0 0 0 0 0 0 0 0 0 0" }' "$out"
}

# stub_status PORT: "active accepts handled requests" of the NGINX listening there.
stub_status() {
  curl -s -m 2 "http://127.0.0.1:$1/-/nginx-status" | awk '
    /^Active connections:/ { a = $3 }
    /^ *[0-9]+ +[0-9]+ +[0-9]+ *$/ { r = $1 " " $2 " " $3 }
    END { print (a == "" ? 0 : a), (r == "" ? "0 0 0" : r) }'
}
