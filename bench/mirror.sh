#!/usr/bin/env bash
# Shadowing: strangler's shadowed route against NGINX's `mirror`, paired by
# round — one command:
#
#     bench/mirror.sh                       # ~2 min; writes bench/results/mirror.md
#     ROUNDS=1 DURATION=3 bench/mirror.sh   # quick check
#
# The proxies of bench/run.sh (one worker each, alone on the proxy core):
#   NGINX:     /api/item plain; /shadowed with `mirror /mirror;` and
#              `location = /mirror { internal; proxy_pass http://shadowsvc$request_uri; }`
#              (upstream shadowsvc with `keepalive 64`, as the origin's)
#   strangler: /api/item plain; /shadowed with `shadow: {upstream: shadowsvc, sample: 1.0}`
#              (shadowsvc `max_idle: 64`)
# The shadow service is a second NGINX with the same 1 KiB body; its
# stub_status counts the copies it received and the connections it accepted.
# Per round: NGINX mirrored, NGINX plain, strangler plain, strangler shadowed
# (even rounds in the reverse order: each shadowed run next to its own plain
# one, and the two plain runs next to each other), each wrk -t1 -c$CONNS for
# DURATION s, after a sync (lib.sh's settle: the shadow log written back).
#
# Environment: ROUNDS=5 DURATION=5 CONNS=50 BENCH_PORT_BASE=28100 STRANGLER_BIN
#   SKIP_BUILD=1 PIN=1 KEEP_TMP=1 OUT=bench/results/mirror.md
set -euo pipefail
ROUNDS="${ROUNDS:-5}"
# shellcheck source=bench/scenario_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scenario_lib.sh"
CONNS="${CONNS:-50}"

need_tools nginx:nginx wrk:wrk curl:curl python3:python3 taskset:util-linux ss:iproute2 pgrep:procps
scenario_setup
fact conns "$CONNS"

start_origin
start_nginx_proxy
start_strangler

declare -A URL=(
  [nginx]="http://127.0.0.1:$NGINX_PORT/api/item"
  [nginx-mirror]="http://127.0.0.1:$NGINX_PORT/shadowed/item"
  [strangler]="http://127.0.0.1:$STRANGLER_PORT/api/item"
  [strangler-shadow]="http://127.0.0.1:$STRANGLER_PORT/shadowed/item"
)
declare -A PID_OF=([nginx]="$NGINX_PID" [nginx-mirror]="$NGINX_PID" [strangler]="$STRANGLER_PID" [strangler-shadow]="$STRANGLER_PID")
TARGETS=(nginx-mirror nginx strangler strangler-shadow)
for t in "${TARGETS[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${URL[$t]}")
  [[ $code == 200 ]] || die "$t answers $code on ${URL[$t]}, not 200"
done
# Each proxy mirrors: one request each way must reach the shadow.
read -r _ _ _ s0 < <(stub_status "$SHADOW_PORT")
curl -s -o /dev/null "${URL[nginx-mirror]}"; curl -s -o /dev/null "${URL[strangler-shadow]}"; sleep 0.5
read -r _ _ _ s1 < <(stub_status "$SHADOW_PORT")
fact check_copies "$((s1 - s0 - 1)) of 2 test requests reached the shadow server"

log "warm-up: ${WARMUP}s per target"
for t in "${TARGETS[@]}"; do run_wrk "warm-$t" "$CONNS" "$WARMUP" "${URL[$t]}" >/dev/null; done
sleep 1

for ((r = 1; r <= ROUNDS; r++)); do
  mapfile -t order < <(round_order "$r" "${TARGETS[@]}")
  for t in "${order[@]}"; do
    read -r _ sa0 _ sr0 < <(stub_status "$SHADOW_PORT")
    read -r _ oa0 _ or0 < <(stub_status "$ORIGIN_PORT")
    line=$(run_wrk "$t" "$CONNS" "$DURATION" "${URL[$t]}" "${PID_OF[$t]}")
    sleep 0.3   # copies still in flight when wrk stops
    read -r _ sa1 _ sr1 < <(stub_status "$SHADOW_PORT")
    read -r _ oa1 _ or1 < <(stub_status "$ORIGIN_PORT")
    # stub_status counts its own request and connection: the second read's is taken off.
    record "$t" "$CONNS" "$r" "$line" "copies=$((sr1 - sr0 - 1))" "shadow_conns=$((sa1 - sa0 - 1))" \
      "origin_reqs=$((or1 - or0 - 1))" "origin_conns=$((oa1 - oa0 - 1))"
  done
done
fact shadow_active_end "$(stub_status "$SHADOW_PORT" | awk '{print $1 - 1}')"
fact shadow_tw "$(ss -Htan state time-wait "( dport = :$SHADOW_PORT or sport = :$SHADOW_PORT )" | wc -l)"
for t in strangler nginx-proxy; do
  fact "log_$t" "$(cat "$TMP/logs/$t.out" "$TMP/logs/$t.err" 2>/dev/null | grep -ciE 'error|warn|panic' || true)"
done
fact strangler_log_tail "$(grep -iE 'error|warn|panic' "$TMP/logs/strangler.out" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
finish_report mirror
