#!/usr/bin/env bash
# strangler benchmark — one command:
#
#     bench/run.sh                    # defaults: 10 rounds x 5 s, ~15 min plus the build
#     ROUNDS=1 DURATION=3 bench/run.sh   # quick check
#
# Installs nginx, haproxy and wrk with apt-get if missing, builds strangler in
# release, starts an NGINX origin (1 KiB JSON, keep-alive) on 127.0.0.1 and
# measures on loopback, interleaved over rounds (origin, NGINX setting the
# fields strangler sets, HAProxy, a second NGINX, NGINX, strangler, strangler
# with a shadowed route (every request, and 1 in 10); then the same at 1
# connection; even rounds run them in the reverse order; each run after a
# RUN_WARMUP at its own level, and after `sync`):
#   req/s at $CONNS connections (median, min-max), p50/p99 at $CONNS and at 1
#   connection, the proxy's CPU time per request (/proc/PID/stat), ratios;
#   the load side of each run: the origin's CPU per request, the proxy core's use;
#   requests lost while the config is rewritten (and POST /-/reload) every
#   100 ms; VmRSS with 10,000 idle keep-alive connections.
# Prints a Markdown table and writes it to bench/results/latest.md.
#
# Environment:
#   ROUNDS=10 DURATION=5 (s, at CONNS) LAT_DURATION=3 (s, at 1 connection)
#   CONNS=50 WARMUP=2 (s per target, once) RUN_WARMUP=1 (s before every run)
#   RELOAD_DURATION=10 IDLE_CONNS=10000
#   PIN=1 CLIENT_CPU=0 PROXY_CPU=1   wrk (-t1) + origin on CLIENT_CPU, proxy on PROXY_CPU
#   BENCH_PORT_BASE=28100            ports BASE+1..BASE+6 and BASE+8 on 127.0.0.1 must be free
#   BUILD=pgo                        the profile-guided build (deploy/pgo.sh, target/pgo/strangler);
#                                    BUILD=release: plain `cargo build --release` (target/release/strangler)
#   SKIP_BUILD=1                     use that binary as it is
#   KEEP_TMP=1                       keep the temp dir (configs, wrk outputs)
#   OUT=bench/results/latest.md      where the report goes
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${ROUNDS:-10}"
DURATION="${DURATION:-5}"
LAT_DURATION="${LAT_DURATION:-3}"
RUN_WARMUP="${RUN_WARMUP:-1}"
CONNS="${CONNS:-50}"
WARMUP="${WARMUP:-2}"
RELOAD_DURATION="${RELOAD_DURATION:-10}"
IDLE_CONNS="${IDLE_CONNS:-10000}"
OUT="${OUT:-$BENCH_DIR/results/latest.md}"
START_TS=$(date +%s)

trap cleanup EXIT
trap 'exit 130' INT TERM

need_tools nginx:nginx haproxy:haproxy wrk:wrk curl:curl python3:python3 taskset:util-linux ss:iproute2 pgrep:procps
[[ "${SKIP_BUILD:-0}" == 1 ]] || build_strangler
[[ -x "$STRANGLER_BIN" ]] || die "$STRANGLER_BIN missing (unset SKIP_BUILD)"
# A second NGINX proxy, the same config on a port of its own: NGINX against
# itself, measured like the others, is the noise floor of a paired ratio.
NGINX_B_PORT=$((PORT_BASE + 9))
ALL_PORTS+=("$NGINX_B_PORT")
check_ports_free
# File descriptors: 10k idle connections plus their upstream side (before the
# configs: HAProxy's maxconn is derived from it).
hard=$(ulimit -Hn)
if [[ $hard == unlimited || $hard -ge 65536 ]]; then ulimit -n 65536; else ulimit -n "$hard"; fi
if (( $(ulimit -n) < IDLE_CONNS + 512 )); then
  IDLE_CONNS=$(( $(ulimit -n) - 512 ))
  log "ulimit -n is $(ulimit -n): holding only $IDLE_CONNS idle connections"
fi
make_tmp
write_configs
log "temp dir: $TMP"

RESULTS="$TMP/results.tsv"
FACTS="$TMP/facts.env"
: >"$RESULTS"
fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }
fact date "$(date -u +%Y-%m-%dT%H:%MZ)"
fact commit "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')"
fact cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
fact ncpu "$(nproc --all)"
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
fact rounds "$ROUNDS"; fact duration "$DURATION"; fact lat_duration "$LAT_DURATION"; fact conns "$CONNS"; fact run_warmup "$RUN_WARMUP"
fact wrk "$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
fact nginx "$(nginx -v 2>&1 | sed 's/.*: //')"
fact haproxy "HAProxy $(haproxy -v | head -n1 | awk '{print $3}')"
fact strangler "$("$STRANGLER_BIN" --version 2>/dev/null | awk '{print $2}')"
if [[ $PIN == 1 ]]; then
  fact pinning "wrk -t1 and the origin NGINX on CPU $CLIENT_CPU, the proxy under test alone on CPU $PROXY_CPU (taskset)"
else
  fact pinning "none (PIN=0)"
fi

log "starting origin, NGINX, HAProxy, strangler (ports $ORIGIN_PORT-$ADMIN_PORT)"
start_origin
start_nginx_proxy
start_nginx_same
sed "s|listen 127.0.0.1:$NGINX_PORT |listen 127.0.0.1:$NGINX_B_PORT |; s|^pid .*|pid $TMP/nginx-b.pid;|" \
  "$TMP/nginx-proxy.conf" >"$TMP/nginx-b.conf"
grep -q "listen 127.0.0.1:$NGINX_B_PORT " "$TMP/nginx-b.conf" || die "could not move the second NGINX to port $NGINX_B_PORT"
NGINX_B_PID=$(start_bg nginx-b "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nginx-b.err" -c "$TMP/nginx-b.conf" -g 'daemon off;')
PIDS+=("$NGINX_B_PID")
wait_http "http://127.0.0.1:$NGINX_B_PORT/" || die "the second NGINX did not start: $(cat "$TMP/logs/nginx-b.out" "$TMP/logs/nginx-b.err" 2>/dev/null)"
start_haproxy
start_strangler

declare -A URL=(
  [origin]="http://127.0.0.1:$ORIGIN_PORT/api/item"
  [nginx]="http://127.0.0.1:$NGINX_PORT/api/item"
  [nginx-same]="http://127.0.0.1:$NGINX_SAME_PORT/api/item"
  [nginx-b]="http://127.0.0.1:$NGINX_B_PORT/api/item"
  [haproxy]="http://127.0.0.1:$HAPROXY_PORT/api/item"
  [strangler]="http://127.0.0.1:$STRANGLER_PORT/api/item"
  [strangler-shadow]="http://127.0.0.1:$STRANGLER_PORT/shadowed/item"
  [strangler-sampled]="http://127.0.0.1:$STRANGLER_PORT/sampled/item"
)
declare -A PID_OF=(
  [origin]="$ORIGIN_PID" [nginx]="$NGINX_PID" [nginx-same]="$NGINX_SAME_PID" [nginx-b]="$NGINX_B_PID" [haproxy]="$HAPROXY_PID"
  [strangler]="$STRANGLER_PID" [strangler-shadow]="$STRANGLER_PID" [strangler-sampled]="$STRANGLER_PID"
)
# strangler runs next to NGINX, the pair the done-when compares, so that the
# machine's drift (runs of a slower or faster machine lasting tens of seconds)
# moves both alike; nginx-b, the second NGINX, runs next to it on the other
# side, as far from it as strangler, so its ratio is the noise of that pairing.
HI_TARGETS=(origin nginx-same haproxy nginx-b nginx strangler strangler-shadow strangler-sampled)
LO_TARGETS=(origin nginx-same haproxy nginx-b nginx strangler)

# core_ticks CPU: "busy total" jiffies of one core, from /proc/stat.
core_ticks() {
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}
# load_side FN ARGS...: run_wrk's line plus the load side of that run: the
# origin NGINX's CPU per request (µs) and the share of the proxy's core not idle (%).
# wrk and the origin share the other core: when it is the limit, the proxy's
# core idles, and what a proxy costs its origin per request decides req/s.
load_side() {
  local ou0 os0 ou1 os1 b0 t0 b1 t1 line
  read -r ou0 os0 < <(cpu_ticks "$ORIGIN_PID"); read -r b0 t0 < <(core_ticks "$PROXY_CPU")
  line=$("$@")
  read -r ou1 os1 < <(cpu_ticks "$ORIGIN_PID"); read -r b1 t1 < <(core_ticks "$PROXY_CPU")
  awk -v line="$line" -v o=$((ou1 + os1 - ou0 - os0)) -v hz="$CLK_TCK" -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {
    split(line, f, " "); n = f[1] + 0
    printf "%s %.2f %.1f\n", line, (n > 0 ? o * 1e6 / hz / n : 0), (t > 0 ? b * 100 / t : 0) }'
}

for t in "${HI_TARGETS[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${URL[$t]}")
  [[ $code == 200 ]] || die "$t answers $code on ${URL[$t]}, not 200"
done

shadow_requests() { # requests seen by the shadow NGINX server (stub_status)
  curl -s "http://127.0.0.1:$SHADOW_PORT/-/nginx-status" | awk '/^ *[0-9]+ +[0-9]+ +[0-9]+/ {print $3}'
}

log "warm-up: ${WARMUP}s per target"
for t in "${HI_TARGETS[@]}"; do run_wrk "warm-$t" "$CONNS" "$WARMUP" "${URL[$t]}" >/dev/null; done

shadow_copies=0
for ((r = 1; r <= ROUNDS; r++)); do
  mapfile -t hi < <(round_order "$r" "${HI_TARGETS[@]}")
  mapfile -t lo < <(round_order "$r" "${LO_TARGETS[@]}")
  for t in "${hi[@]}"; do
    (( RUN_WARMUP > 0 )) && run_wrk "lw-$t" "$CONNS" "$RUN_WARMUP" "${URL[$t]}" >/dev/null
    [[ $t == strangler-shadow ]] && s0=$(shadow_requests)
    line=$(load_side run_wrk "$t" "$CONNS" "$DURATION" "${URL[$t]}" "${PID_OF[$t]}")
    [[ $t == strangler-shadow ]] && shadow_copies=$((shadow_copies + $(shadow_requests) - s0 - 1))
    echo "$t $CONNS $r $line" >>"$RESULTS"
    read -r req _ rps p50 p99 non2xx serr cpu _ <<<"$line"
    log "round $r/$ROUNDS  $t @$CONNS: $rps req/s  p50 ${p50}µs  p99 ${p99}µs  cpu ${cpu}µs/req  failed $((non2xx + serr))"
  done
  for t in "${lo[@]}"; do
    (( RUN_WARMUP > 0 )) && run_wrk "lw-$t" 1 "$RUN_WARMUP" "${URL[$t]}" >/dev/null
    line=$(load_side run_wrk "$t" 1 "$LAT_DURATION" "${URL[$t]}" "${PID_OF[$t]}")
    echo "$t 1 $r $line" >>"$RESULTS"
    read -r req _ rps p50 p99 non2xx serr cpu _ <<<"$line"
    log "round $r/$ROUNDS  $t @1: $rps req/s  p50 ${p50}µs  p99 ${p99}µs"
  done
done
fact shadow_copies "$shadow_copies"

# --- reload every 100 ms under load --------------------------------------------
log "reload: rewriting the config every 100 ms for ${RELOAD_DURATION}s under load"
ADMIN="http://127.0.0.1:$ADMIN_PORT"
config_version() {
  curl -s -m 1 "$ADMIN/-/config" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])' 2>/dev/null || echo none
}
post_code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' -X POST "$ADMIN/-/reload" || true)
if [[ $post_code == 2* ]]; then post_ok=1; post_note="POST /-/reload available"; else
  post_ok=0; post_note="POST /-/reload not available (HTTP ${post_code:-none}); file rewrites only"; fi
log "$post_note"
base=$(run_wrk reload-baseline "$CONNS" "$RELOAD_DURATION" "${URL[strangler]}" "$STRANGLER_PID")
read -r _ _ base_rps _ base_p99 base_non2xx base_serr base_cpu _ <<<"$base"
v0=$(config_version)
reload_loop() {
  local i=0 next
  while :; do
    if (( i % 2 == 0 )); then next=B; else next=A; fi
    cp "$TMP/strangler/routes.$next" "$TMP/strangler/.routes.tmp"
    mv "$TMP/strangler/.routes.tmp" "$TMP/strangler/routes.yaml"   # editor-style atomic replace
    if [[ $post_ok == 1 ]]; then
      curl -s -o /dev/null -m 1 -w '%{http_code}\n' -X POST "$ADMIN/-/reload" >>"$TMP/reload-posts.txt" || echo fail >>"$TMP/reload-posts.txt"
    fi
    echo "$i" >"$TMP/reload-count.txt"
    i=$((i + 1))
    sleep 0.1
  done
}
: >"$TMP/reload-posts.txt"
reload_loop &
RELOAD_PID=$!
PIDS+=("$RELOAD_PID")
# The loop (cp, mv, curl) runs beside wrk, not on the proxy's core.
[[ $PIN == 1 ]] && taskset -pc "$CLIENT_CPU" "$RELOAD_PID" >/dev/null
line=$(run_wrk reload "$CONNS" "$RELOAD_DURATION" "${URL[strangler]}" "$STRANGLER_PID")
kill "$RELOAD_PID" 2>/dev/null || true
wait "$RELOAD_PID" 2>/dev/null || true
cp "$TMP/strangler/routes.A" "$TMP/strangler/routes.yaml"
read -r req _ rps p50 p99 non2xx serr cpu _ <<<"$line"
rewrites=$(( $(cat "$TMP/reload-count.txt" 2>/dev/null || echo -1) + 1 ))
v1=$(config_version)
posts_ok=$(grep -c '^2' "$TMP/reload-posts.txt" || true)
posts_all=$(grep -c . "$TMP/reload-posts.txt" || true)
lost=$((non2xx + serr))
verdict=$([[ $lost == 0 ]] && echo "**0 lost** (requirement: 0)" || echo "**$lost LOST** (requirement: 0)")
if [[ $v0 == none ]]; then
  applied="GET /-/config not available, so whether the file watcher applied the rewrites is unknown"
else
  applied="config version $v0 → $v1 over the run"
fi
if [[ $post_ok == 1 ]]; then posts="POST /-/reload: $posts_ok of $posts_all answered 2xx"; else posts="$post_note"; fi
summary="$rewrites config rewrites (two valid versions alternating, write-to-temp + rename) in ${RELOAD_DURATION} s under $CONNS connections: $req requests, $rps req/s, p99 ${p99} µs, CPU ${cpu} µs/request (the same run just before, without rewrites: $base_rps req/s, p99 ${base_p99} µs, CPU ${base_cpu} µs/request, $((base_non2xx + base_serr)) failed); non-2xx $non2xx, socket errors $serr → $verdict. $posts; $applied."
fact reload_summary "$summary"
log "reload: $summary"

# --- RSS with idle keep-alive connections ----------------------------------------
measure_rss() { # measure_rss KEY PID PORT N [--request]
  local key="$1" pid="$2" port="$3" n="$4" req="${5:-}" before after held ready="$TMP/idle-$1.ready" opid
  sleep 1
  before=$(rss_kib "$pid")
  opid=$(start_bg "idle-$key" "$CLIENT_CPU" python3 "$BENCH_DIR/idle_conns.py" --port "$port" \
    -n "$n" $req --ready-file "$ready" --hold 90)
  PIDS+=("$opid")
  for _ in $(seq 900); do [[ -e $ready ]] && break; alive "$opid" || break; sleep 0.1; done
  [[ -e $ready ]] || { log "idle opener for $key did not get ready: $(cat "$TMP/logs/idle-$key.out")"; kill "$opid" 2>/dev/null || true; return; }
  sleep 1
  after=$(rss_kib "$pid")
  held=$(ss -Htn state established "dport = :$port" | wc -l)
  kill "$opid" 2>/dev/null || true
  for _ in $(seq 50); do alive "$opid" || break; sleep 0.1; done
  fact "rss_${key}_before" "$before"; fact "rss_${key}_after" "$after"; fact "rss_${key}_held" "$held"
  log "RSS $key: ${before} KiB → ${after} KiB with $held idle connections ($(cat "$TMP/logs/idle-$key.out"))"
}
log "memory: $IDLE_CONNS idle keep-alive connections each to strangler, NGINX, HAProxy"
fact idle_conns "$IDLE_CONNS"
# First connections that never send a request (what a connection itself costs),
# then connections that made one request each.
measure_rss strangler_norequest "$STRANGLER_PID" "$STRANGLER_PORT" "$IDLE_CONNS"
measure_rss strangler "$STRANGLER_PID" "$STRANGLER_PORT" "$IDLE_CONNS" --request
measure_rss nginx "$NGINX_PID" "$NGINX_PORT" "$IDLE_CONNS" --request
hap_n=$IDLE_CONNS
(( hap_n > HAPROXY_MAXCONN - 100 )) && hap_n=$((HAPROXY_MAXCONN - 100))
measure_rss haproxy "$HAPROXY_PID" "$HAPROXY_PORT" "$hap_n" --request
note="Connections held = ESTABLISHED client sockets at the sample (ss). NGINX's RSS is master + worker summed."
(( hap_n < IDLE_CONNS )) && note="$note HAProxy got $hap_n connections: its maxconn is capped at $HAPROXY_MAXCONN by the fd limit ($(ulimit -n)), as it reserves 2 fds per connection."
fact rss_note "$note"

fact elapsed "$(( $(date +%s) - START_TS ))"
mkdir -p "$(dirname "$OUT")"
python3 "$BENCH_DIR/summarize.py" "$RESULTS" "$FACTS" >"$TMP/latest.md"
cp "$TMP/latest.md" "$OUT"
# The raw runs beside the report, named after it (latest.md: latest-raw.tsv),
# so that a run written elsewhere does not overwrite the latest run's.
RAW_OUT="${OUT%.md}-raw.tsv"
cp "$RESULTS" "$RAW_OUT"
echo
cat "$OUT"
log "written: $OUT (raw runs: $RAW_OUT)"
