#!/usr/bin/env bash
# System calls per request at 1, 50 and 500 connections: strangler, NGINX,
# HAProxy — one command:
#
#     bench/syscalls.sh                      # ~2.5 min; writes bench/results/syscalls.md
#     SC_DURATION=2 SC_LEVELS="1 50" bench/syscalls.sh   # quick check
#     SC_PROTO=h2c OUT=bench/results/syscalls-h2c.md bench/syscalls.sh  # HTTP/2, cleartext
#
# The proxies of bench/run.sh (one worker, pinned alone on the proxy core,
# keep-alive to the origin), GET /api/item. For each proxy and level, two passes
# over the same load, each a wrk -t1 -cN -d$SC_DURATION run that starts 1 s
# after the counter is attached and ends 0.5 s before it is detached (so every
# request's syscalls, its connections' accept and close included, are counted):
#   1. strace -c -f -p PID (NGINX: its worker; all threads): every syscall, by
#      name. ptrace stops the proxy at each syscall, so it runs several times
#      slower under strace, which changes how much one wake-up carries.
#   2. perf stat -e raw_syscalls:sys_enter plus syscalls:sys_enter_NAME for the
#      names strace saw (kernel tracepoints: no stop, the proxy runs at speed).
# Each count is divided by the requests wrk completed in that pass.
# SC_PROTO=h2c: the load is h2load -t1 -cN -m$SC_STREAMS over HTTP/2 with prior
# knowledge (strangler and HAProxy take it on their plain port, NGINX 1.22 on a
# `listen ... http2` port of its own); levels count connections.
#
# Environment: SC_DURATION=3 SC_LEVELS="1 50 500" (h2c: "1 10 50")
#   SC_PROTO=h1 (or h2c) SC_STREAMS=10 SC_PROXIES="strangler nginx haproxy"
#   BENCH_PORT_BASE=28100 STRANGLER_BIN SKIP_BUILD=1 PIN=1 KEEP_TMP=1 OUT=bench/results/syscalls.md
set -euo pipefail
ROUNDS=1   # one pass of each kind per proxy and level
# shellcheck source=bench/scenario_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scenario_lib.sh"
SC_DURATION="${SC_DURATION:-3}"
SC_PROTO="${SC_PROTO:-h1}"
SC_STREAMS="${SC_STREAMS:-10}"
case $SC_PROTO in
  h1) read -r -a LEVELS <<<"${SC_LEVELS:-1 50 500}" ;;
  h2c) read -r -a LEVELS <<<"${SC_LEVELS:-1 10 50}" ;;
  *) echo "SC_PROTO must be h1 or h2c, not $SC_PROTO" >&2; exit 2 ;;
esac
read -r -a PROXIES <<<"${SC_PROXIES:-strangler nginx haproxy}"

need_tools nginx:nginx haproxy:haproxy wrk:wrk curl:curl python3:python3 taskset:util-linux ss:iproute2 pgrep:procps strace:strace perf:linux-perf
[[ $SC_PROTO == h2c ]] && need_tools h2load:nghttp2-client
NGINX_H2C_PORT=$(xport 7)   # NGINX 1.22: h2c with prior knowledge needs its own `listen ... http2`
[[ $SC_PROTO == h2c ]] && ALL_PORTS+=("$NGINX_H2C_PORT")
scenario_setup
fact sc_duration "$SC_DURATION"; fact levels "${LEVELS[*]}"; fact proxies "${PROXIES[*]}"
fact sc_proto "$SC_PROTO"; fact sc_streams "$SC_STREAMS"
fact strace "$(strace -V | head -n1)"
fact perf "$(perf version 2>/dev/null)"
perf list tracepoint 2>/dev/null | awk '{print $1}' >"$TMP/tracepoints.txt" || true
grep -qx 'raw_syscalls:sys_enter' "$TMP/tracepoints.txt" && HAVE_PERF=1 || HAVE_PERF=0
fact have_perf "$HAVE_PERF"
mkdir -p "$TMP/sc"

start_origin
if [[ $SC_PROTO == h2c ]]; then
  sed -i "s|^\( *listen 127.0.0.1:$NGINX_PORT backlog=4096;\)\$|&\n    listen 127.0.0.1:$NGINX_H2C_PORT http2;|" "$TMP/nginx-proxy.conf"
  grep -q "listen 127.0.0.1:$NGINX_H2C_PORT http2;" "$TMP/nginx-proxy.conf" || die "could not add the http2 listen to the NGINX config"
fi
# load LABEL CONNS SECS URL PID: the pass's load, as a run_wrk line.
load() {
  if [[ $SC_PROTO == h2c ]]; then run_h2load "$1" "$2" "$SC_STREAMS" "$3" "$4" "$5"; else run_wrk "$@"; fi
}
declare -A URL PID_OF
for p in "${PROXIES[@]}"; do
  case $p in
    strangler) start_strangler; PID_OF[$p]=$STRANGLER_PID; URL[$p]="http://127.0.0.1:$STRANGLER_PORT/api/item" ;;
    nginx) start_nginx_proxy; PID_OF[$p]=$NGINX_PID
      URL[$p]="http://127.0.0.1:$([[ $SC_PROTO == h2c ]] && echo "$NGINX_H2C_PORT" || echo "$NGINX_PORT")/api/item" ;;
    haproxy) start_haproxy; PID_OF[$p]=$HAPROXY_PID; URL[$p]="http://127.0.0.1:$HAPROXY_PORT/api/item" ;;
    *) die "unknown proxy $p" ;;
  esac
done
log "warm-up: ${WARMUP}s per proxy"
for p in "${PROXIES[@]}"; do load "warm-$p" 50 "$WARMUP" "${URL[$p]}" "" >/dev/null; done

# The processes to trace: NGINX's worker(s), else the process itself.
traced() {
  if [[ $1 == nginx ]]; then pgrep -P "${PID_OF[$1]}" | paste -sd,; else echo "${PID_OF[$1]}"; fi
}

# pass KIND PROXY CONNS: attach, wrk inside the window, detach. Writes
# $TMP/sc/KIND-PROXY-CONNS.{txt,wrk,cmd}.
pass() {
  local kind="$1" p="$2" c="$3" base pids cpid ev="" n o0 o1 line pre=() ps=()
  base="$TMP/sc/$kind-$p-$c"; pids=$(traced "$p")
  # taskset execs the tracer: $! is the tracer's pid, and SIGINT reaches it.
  [[ $PIN == 1 ]] && pre=(taskset -c "$CLIENT_CPU")
  if [[ $kind == strace ]]; then
    echo "strace -c -f -p $pids -o FILE   (detached with SIGINT)" >"$base.cmd"
    for n in ${pids//,/ }; do ps+=(-p "$n"); done
    "${pre[@]}" strace -c -f "${ps[@]}" -o "$base.txt" >/dev/null 2>&1 &
  else
    for n in $(python3 "$BENCH_DIR/syscalls.py" names "$TMP/sc/strace-$p-$c.txt"); do
      grep -qx "syscalls:sys_enter_$n" "$TMP/tracepoints.txt" && ev+=",syscalls:sys_enter_$n"
    done
    echo "perf stat -x, -e raw_syscalls:sys_enter$ev -p $pids" >"$base.cmd"
    "${pre[@]}" perf stat -x, -e "raw_syscalls:sys_enter$ev" -p "$pids" -o "$base.txt" >/dev/null 2>&1 &
  fi
  cpid=$!
  PIDS+=("$cpid")
  sleep 1
  read -r _ _ _ o0 < <(stub_status "$ORIGIN_PORT")
  line=$(load "sc-$kind-$p" "$c" "$SC_DURATION" "${URL[$p]}" "${PID_OF[$p]}")
  read -r _ _ _ o1 < <(stub_status "$ORIGIN_PORT")
  sleep 0.5
  kill -INT "$cpid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$cpid" || break; sleep 0.1; done
  kill -KILL "$cpid" 2>/dev/null || true
  wait "$cpid" 2>/dev/null || true
  echo "$line origin=$((o1 - o0 - 1))" >"$base.wrk"
  record "$p/$kind" "$c" 1 "$line" "origin=$((o1 - o0 - 1))"
}

for c in "${LEVELS[@]}"; do
  for p in "${PROXIES[@]}"; do
    pass strace "$p" "$c"
    sleep 0.5
    [[ $HAVE_PERF == 1 ]] && pass perf "$p" "$c"
    sleep 0.5
  done
done
for p in "${PROXIES[@]}"; do alive "${PID_OF[$p]}" || log "WARNING: $p exited during the run"; done
fact elapsed "$(( $(date +%s) - START_TS ))"
fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
out="${OUT:-$BENCH_DIR/results/syscalls.md}"
mkdir -p "$(dirname "$out")"
python3 "$BENCH_DIR/syscalls.py" report "$TMP/sc" "$FACTS" >"$TMP/syscalls.md"
cp "$TMP/syscalls.md" "$out"
cp "$RESULTS" "${out%.md}-raw.tsv"
echo; cat "$out"
log "written: $out"
