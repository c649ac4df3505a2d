#!/usr/bin/env bash
# Two strangler builds side by side, paired by round against NGINX:
#
#     bench/ab.sh target/release/strangler target/pgo/strangler   # plain vs profile-guided, @1
#     CONNS=500 bench/ab.sh A B                                    # at 500 connections
#
# Each round runs NGINX (`keepalive 1024`), build A and build B (both with
# the shipped defaults: one worker, no `max_idle`), CONNS connections for
# SECONDS each after a one-second warm-up at the same level, in alternating
# order (odd rounds NGINX A B, even rounds B A NGINX). Pinned like run.sh:
# each proxy alone on PROXY_CPU, wrk -t1 and the origin on CLIENT_CPU.
# Prints per round, then the medians of the per-round ratios A/NGINX,
# B/NGINX and B/A (req/s, CPU per request, its user and system parts) with
# their ranges and the rounds where the first was ahead. No build: give
# two binaries.
#
# Environment: ROUNDS=8 SECONDS_EACH=4 CONNS=1 BENCH_PORT_BASE=28900 PIN=1
set -euo pipefail
(( $# == 2 )) || { echo "usage: bench/ab.sh STRANGLER_A STRANGLER_B" >&2; exit 2; }
A="$(realpath "$1")"; B="$(realpath "$2")"
export BENCH_PORT_BASE="${BENCH_PORT_BASE:-28900}" SKIP_BUILD=1 STRANGLER_BIN="$A"
R="${ROUNDS:-8}"; S="${SECONDS_EACH:-4}"; C="${CONNS:-1}"
# shellcheck source=bench/scenario_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scenario_lib.sh"
[[ -x $B ]] || die "$B is not an executable"
need_tools nginx:nginx wrk:wrk curl:curl python3:python3 taskset:util-linux
ORIGIN_EXTRA_PORTS=("$(xport 20)" "$(xport 21)" "$(xport 22)")
ALL_PORTS+=("$(xport 10)" "$(xport 11)" "$(xport 13)" "$(xport 31)" "$(xport 32)" "${ORIGIN_EXTRA_PORTS[@]}")
scenario_setup
nginx_proxy_conf nk "$(xport 13)" "$(xport 20)" 1 "" "" 1024
strangler_simple_conf "$TMP/sa" "$(xport 10)" "$(xport 31)" "$(xport 21)" 1 default
strangler_simple_conf "$TMP/sb" "$(xport 11)" "$(xport 32)" "$(xport 22)" 1 default
start_origin
declare -A PID URL
PID[nginx]=$(start_bg nk "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nk.err" -c "$TMP/nk.conf" -g 'daemon off;'); PIDS+=("${PID[nginx]}")
PID[A]=$(start_bg sa "$PROXY_CPU" env RUST_LOG=warn "$A" run --config "$TMP/sa/routes.yaml"); PIDS+=("${PID[A]}")
PID[B]=$(start_bg sb "$PROXY_CPU" env RUST_LOG=warn "$B" run --config "$TMP/sb/routes.yaml"); PIDS+=("${PID[B]}")
URL[nginx]="http://127.0.0.1:$(xport 13)/api/item"
URL[A]="http://127.0.0.1:$(xport 10)/api/item"
URL[B]="http://127.0.0.1:$(xport 11)/api/item"
for t in nginx A B; do
  wait_http "${URL[$t]}" 30 || die "$t did not start: $(tail -n 5 "$TMP"/logs/*.out 2>/dev/null)"
  run_wrk "warm-$t" "$C" 2 "${URL[$t]}" "${PID[$t]}" >/dev/null
done
log "A = $A; B = $B; $R rounds of ${S}s at $C connections"
ROWS="$TMP/ab.txt"; : >"$ROWS"
for ((r = 1; r <= R; r++)); do
  mapfile -t order < <(round_order "$r" nginx A B)
  for t in "${order[@]}"; do
    run_wrk "lw-$t" "$C" 1 "${URL[$t]}" "${PID[$t]}" >/dev/null
    read -r _ _ rps p50 _ non sock cpu u s < <(run_wrk "$t-$r" "$C" "$S" "${URL[$t]}" "${PID[$t]}")
    (( non + sock == 0 )) || die "$t: $non non-2xx answers, $sock socket errors in round $r"
    echo "$r $t $rps $p50 $cpu $u $s" | tee -a "$ROWS"
  done
done
python3 - "$ROWS" <<'EOF'
import collections, statistics as st, sys
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    r, t, rps, p50, cpu, u, s = line.split()
    rows[int(r)][t] = dict(rps=float(rps), cpu=float(cpu), user=float(u), sys=float(s))
def ratios(a, b, k):
    return [rows[r][a][k] / rows[r][b][k] for r in rows if rows[r][b][k] > 0]
print("\n| pair | req/s | CPU per request | user | system | rounds ahead (req/s) |")
print("|---|---:|---:|---:|---:|---:|")
for a, b in [("A", "nginx"), ("B", "nginx"), ("B", "A")]:
    cells = []
    for k in ["rps", "cpu", "user", "sys"]:
        v = ratios(a, b, k)
        cells.append(f"{st.median(v):.3f} ({min(v):.2f}–{max(v):.2f})")
    ahead = sum(x > 1 for x in ratios(a, b, "rps"))
    print(f"| {a} / {b} | " + " | ".join(cells) + f" | {ahead} of {len(rows)} |")
print("\nmedians: " + "; ".join(
    f"{t} {st.median(rows[r][t]['rps'] for r in rows):,.0f} req/s, "
    f"{st.median(rows[r][t]['cpu'] for r in rows):.1f} µs "
    f"({st.median(rows[r][t]['user'] for r in rows):.1f} user)" for t in ["nginx", "A", "B"]))
EOF
