#!/usr/bin/env bash
# Many connections, two workers, upstream connection churn — one command:
#
#     bench/scale.sh                        # ~5 min; writes bench/results/scale.md
#     ROUNDS=1 DURATION=3 bench/scale.sh    # quick check
#
# Pinned like bench/run.sh (proxy alone on PROXY_CPU; wrk -t1 and the origin on
# CLIENT_CPU), each round, at 50, 500 and 5,000 connections (SCALE_LEVELS):
#   NGINX (worker_processes 1, keepalive 64), HAProxy (nbthread 1, http-reuse
#   always), strangler (workers: 1, max_idle: 64), and strangler with the
#   shipped defaults (workers: 1, no max_idle in its config: 65,536 since commit
#   626e2d5, 1,024 before), and NGINX with `keepalive 1024`.
# Each proxy has its own origin port, so that after each run the sockets in
# TIME_WAIT between it and the origin can be counted (ss); the origin NGINX's
# stub_status `accepts` delta is the new upstream connections of the run.
# Then, unpinned (no taskset on anything: wrk, origin and proxies share both
# cores), at 50 connections: NGINX worker_processes 1 and 2, strangler
# workers: 1 and 2 (max_idle: 64). There the proxy's CPU per request is the
# fair number; req/s is the whole machine's.
#
# Every measured run follows LEVEL_WARMUP (1) s of the same load, unmeasured.
#
# Environment: ROUNDS=3 DURATION=5 SCALE_LEVELS="50 500 5000" W_CONNS=50 LEVEL_WARMUP=1
#   BENCH_PORT_BASE=28100 STRANGLER_BIN SKIP_BUILD=1 PIN=1 KEEP_TMP=1 OUT=bench/results/scale.md
set -euo pipefail
# shellcheck source=bench/scenario_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scenario_lib.sh"
read -r -a LEVELS <<<"${SCALE_LEVELS:-50 500 5000}"
W_CONNS="${W_CONNS:-50}"
LEVEL_WARMUP="${LEVEL_WARMUP:-1}"

# Proxy ports and their own origin ports.
declare -A PORT_OF=([nginx]=$(xport 7) [haproxy]=$(xport 8) [strangler]=$(xport 9) [strangler-default]=$(xport 10)
  [nginx-w2]=$(xport 11) [strangler-w2]=$(xport 12) [nginx-ka1024]=$(xport 13))
declare -A OPORT_OF=([nginx]=$(xport 20) [haproxy]=$(xport 21) [strangler]=$(xport 22) [strangler-default]=$(xport 23)
  [nginx-w2]=$(xport 24) [strangler-w2]=$(xport 25) [nginx-ka1024]=$(xport 26))
ALL_PORTS+=("${PORT_OF[@]}" "${OPORT_OF[@]}" "$(xport 30)" "$(xport 31)" "$(xport 32)")
ORIGIN_EXTRA_PORTS=("${OPORT_OF[@]}")

need_tools nginx:nginx haproxy:haproxy wrk:wrk curl:curl python3:python3 taskset:util-linux ss:iproute2 pgrep:procps
scenario_setup
fact levels "${LEVELS[*]}"; fact w_conns "$W_CONNS"; fact nofile "$(ulimit -n)"; fact level_warmup "$LEVEL_WARMUP"
fact sysctl "$(sysctl -n net.ipv4.tcp_tw_reuse net.ipv4.ip_local_port_range net.ipv4.tcp_max_tw_buckets net.core.somaxconn | paste -sd' ' | awk '{printf "tcp_tw_reuse %s, ip_local_port_range %s-%s, tcp_max_tw_buckets %s, somaxconn %s", $1, $2, $3, $4, $5}')"

nginx_proxy_conf nginx "${PORT_OF[nginx]}" "${OPORT_OF[nginx]}" 1 "" ""
nginx_proxy_conf nginx-w2 "${PORT_OF[nginx-w2]}" "${OPORT_OF[nginx-w2]}" 2 "" ""
nginx_proxy_conf nginx-ka1024 "${PORT_OF[nginx-ka1024]}" "${OPORT_OF[nginx-ka1024]}" 1 "" "" 1024
sed -e "s/127.0.0.1:$HAPROXY_PORT/127.0.0.1:${PORT_OF[haproxy]}/" -e "s/127.0.0.1:$ORIGIN_PORT/127.0.0.1:${OPORT_OF[haproxy]}/" \
  -e "s|$TMP/haproxy.pid|$TMP/haproxy-scale.pid|" "$TMP/haproxy.cfg" >"$TMP/haproxy-scale.cfg"
strangler_simple_conf "$TMP/s1" "${PORT_OF[strangler]}" "$(xport 30)" "${OPORT_OF[strangler]}" 1 64
strangler_simple_conf "$TMP/sdef" "${PORT_OF[strangler-default]}" "$(xport 31)" "${OPORT_OF[strangler-default]}" 1 default
strangler_simple_conf "$TMP/s2" "${PORT_OF[strangler-w2]}" "$(xport 32)" "${OPORT_OF[strangler-w2]}" 2 64
fact haproxy_maxconn "$HAPROXY_MAXCONN"

start_origin
declare -A PID_OF
start_proxy() { # start_proxy NAME CPU cmd...
  local name="$1" cpu="$2" pid; shift 2
  pid=$(start_bg "$name" "$cpu" "$@")
  PIDS+=("$pid"); PID_OF[$name]=$pid
  wait_up "$name" "http://127.0.0.1:${PORT_OF[$name]}/"
}
start_proxy nginx "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nginx.err" -c "$TMP/nginx.conf" -g 'daemon off;'
start_proxy nginx-ka1024 "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nginx-ka1024.err" -c "$TMP/nginx-ka1024.conf" -g 'daemon off;'
haproxy -c -q -f "$TMP/haproxy-scale.cfg" || die "HAProxy rejects its config"
start_proxy haproxy "$PROXY_CPU" haproxy -db -f "$TMP/haproxy-scale.cfg"
start_proxy strangler "$PROXY_CPU" env RUST_LOG=warn "$STRANGLER_BIN" run --config "$TMP/s1/routes.yaml"
start_proxy strangler-default "$PROXY_CPU" env RUST_LOG=warn "$STRANGLER_BIN" run --config "$TMP/sdef/routes.yaml"
# The two-worker proxies run unpinned.
PIN_SAVED=$PIN; PIN=0
start_proxy nginx-w2 0 nginx -p "$TMP" -e "$TMP/logs/nginx-w2.err" -c "$TMP/nginx-w2.conf" -g 'daemon off;'
start_proxy strangler-w2 0 env RUST_LOG=warn "$STRANGLER_BIN" run --config "$TMP/s2/routes.yaml"
PIN=$PIN_SAVED
fact nginx_w2_workers "$(pgrep -c -P "${PID_OF[nginx-w2]}")"
threads() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }
fact strangler_w2_threads "$(threads "${PID_OF[strangler-w2]}") threads ($(threads "${PID_OF[strangler]}") with workers: 1)"

url() { echo "http://127.0.0.1:${PORT_OF[$1]}/api/item"; }
# Each pair that is compared runs back to back (strangler next to NGINX,
# capped alike; the shipped defaults next to NGINX keepalive 1024; workers: 2
# next to worker_processes 2): the machine has slower and faster spells lasting
# tens of seconds, and the two runs of a pair should share one. Even rounds
# run the lists in the reverse order.
PINNED=(haproxy nginx strangler strangler-default nginx-ka1024)
UNPINNED=(nginx-w2 strangler-w2 strangler nginx)
for t in "${!PORT_OF[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$(url "$t")")
  [[ $code == 200 ]] || die "$t answers $code, not 200"
done

# TIME_WAIT sockets to or from PORT: "all fresh", fresh = entered TIME_WAIT in
# the last AGE seconds (TIME_WAIT lasts 60 s; ss shows the time left).
tw_port() {
  ss -Htano state time-wait "( dport = :$1 or sport = :$1 )" | awk -v age="$2" '
    { n++; left = 0; if (match($0, /timewait,[0-9]+sec/)) { s = substr($0, RSTART + 9, RLENGTH - 12); left = s + 0 }
      if (left >= 59 - age) f++ }
    END { print n + 0, f + 0 }'
}

# one_run TARGET CONNS ROUND: a wrk run with the origin's accepts and TIME_WAIT
# around it, after LEVEL_WARMUP s at the same level (unmeasured: the proxy's pool
# fills to the level's concurrency, so the run shows the steady churn).
one_run() {
  local t="$1" c="$2" r="$3" a0 a1 t0 secs line tw twf all
  (( LEVEL_WARMUP > 0 )) && run_wrk "lw-$t" "$c" "$LEVEL_WARMUP" "$(url "$t")" >/dev/null
  read -r _ a0 _ _ < <(stub_status "$ORIGIN_PORT")
  t0=$(date +%s)
  line=$(client_cpu run_wrk "$t" "$c" "$DURATION" "$(url "$t")" "${PID_OF[$t]}")
  read -r _ a1 _ _ < <(stub_status "$ORIGIN_PORT")
  secs=$(awk '{print $2}' <<<"$line")
  read -r tw twf < <(tw_port "${OPORT_OF[$t]}" $(( $(date +%s) - t0 + 1 )))
  all=$(ss -Htan state time-wait | wc -l)
  record "$t" "$c" "$r" "$line" "upconns=$((a1 - a0 - 1))" \
    "upconns_s=$(awk -v n=$((a1 - a0 - 1)) -v d="$secs" 'BEGIN {printf "%.0f", (d > 0 ? n / d : 0)}')" \
    "tw=$tw" "tw_fresh=$twf" "tw_all=$all" "pinned=$PIN"
}

log "warm-up: ${WARMUP}s per target at $W_CONNS connections"
for t in "${PINNED[@]}"; do run_wrk "warm-$t" "$W_CONNS" "$WARMUP" "$(url "$t")" >/dev/null; done
ORIGIN_PIDS=("$ORIGIN_PID" "$SHADOW_PID")

for ((r = 1; r <= ROUNDS; r++)); do
  mapfile -t order < <(round_order "$r" "${PINNED[@]}")
  for c in "${LEVELS[@]}"; do
    for t in "${order[@]}"; do one_run "$t" "$c" "$r"; done
  done
  # Unpinned: everything on both cores.
  for p in "${ORIGIN_PIDS[@]}" "${PID_OF[nginx]}" "${PID_OF[strangler]}"; do unpin_tree "$p"; done
  PIN=0
  mapfile -t order < <(round_order "$r" "${UNPINNED[@]}")
  for t in "${order[@]}"; do
    line=$(client_cpu run_wrk "$t-unpinned" "$W_CONNS" "$DURATION" "$(url "$t")" "${PID_OF[$t]}")
    record "$t@unpinned" "$W_CONNS" "$r" "$line" "pinned=0"
  done
  PIN=$PIN_SAVED
  if [[ $PIN == 1 ]]; then
    for p in "${ORIGIN_PIDS[@]}"; do pin_tree "$p" "$CLIENT_CPU"; done
    for t in nginx strangler; do pin_tree "${PID_OF[$t]}" "$PROXY_CPU"; done
  fi
done

for t in "${!PID_OF[@]}"; do
  alive "${PID_OF[$t]}" || log "WARNING: $t exited during the run: $(tail -n 5 "$TMP/logs/$t.out")"
  n=$(cat "$TMP/logs/$t.out" "$TMP/logs/$t.err" 2>/dev/null | grep -ciE 'error|warn|panic|alert|emerg' || true)
  fact "log_$t" "$n"
  [[ $n != 0 ]] && fact "logtail_$t" "$(cat "$TMP/logs/$t.out" "$TMP/logs/$t.err" 2>/dev/null | grep -iE 'error|warn|panic|alert|emerg' | sort | uniq -c | sort -rn | head -n 3 | tr '\n' ' ' | cut -c1-500)"
done
fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
finish_report scale
