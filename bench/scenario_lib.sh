# shellcheck shell=bash
# Shared by the scenario scripts (tls.sh, mirror.sh, scale.sh, syscalls.sh,
# pingora.sh): rounds, the results/facts files, extra proxy configs, h2load and
# s_time runs, the report. Sources lib.sh (ports, origin, wrk, cleanup).
# Sourced, not executed.

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-2}"
START_TS=$(date +%s)
TMP_PREFIX="${TMP_PREFIX:-strangler-scenario}"   # not strangler-bench.*: other runs clean those up
RESULTS=""
FACTS=""

# Ports of the scenario scripts: BASE+7 onwards (lib.sh has BASE+1..+6).
xport() { echo $((PORT_BASE + $1)); }

trap cleanup EXIT
trap 'exit 130' INT TERM

# The fd limit: 5,000 connections through a proxy take ~10,000 fds.
raise_nofile() {
  local hard; hard=$(ulimit -Hn)
  if [[ $hard == unlimited || $hard -ge 65536 ]]; then ulimit -n 65536; else ulimit -n "$hard"; fi
}

# scenario_setup: tools checked by the caller; temp dir, origin configs, facts.
scenario_setup() {
  [[ "${SKIP_BUILD:-0}" == 1 ]] || build_strangler
  [[ -x "$STRANGLER_BIN" ]] || die "$STRANGLER_BIN missing (unset SKIP_BUILD, or set STRANGLER_BIN)"
  check_ports_free
  raise_nofile
  make_tmp
  write_configs
  log "temp dir: $TMP"
  RESULTS="$TMP/results.tsv"; FACTS="$TMP/facts.env"
  : >"$RESULTS"; : >"$FACTS"
  fact date "$(date -u +%Y-%m-%dT%H:%MZ)"
  fact commit "$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')"
  fact cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  fact ncpu "$(nproc --all)"
  fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
  fact rounds "$ROUNDS"; fact duration "$DURATION"
  fact nginx "$(nginx -v 2>&1 | sed 's/.*: //')"
  command -v haproxy >/dev/null && fact haproxy "HAProxy $(haproxy -v | head -n1 | awk '{print $3}')"
  fact wrk "$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')"
  fact strangler "$("$STRANGLER_BIN" --version 2>/dev/null | awk '{print $2}') ($STRANGLER_BIN, built $(date -u -r "$STRANGLER_BIN" +%Y-%m-%dT%H:%MZ))"
  if [[ $PIN == 1 ]]; then
    fact pinning "load generator and origin NGINX on CPU $CLIENT_CPU, the proxy under test alone on CPU $PROXY_CPU (taskset)"
  else
    fact pinning "none (PIN=0)"
  fi
}

fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }

# record TARGET CONNS ROUND LINE [key=value ...]: one run into the results file.
record() {
  local t="$1" c="$2" r="$3" line="$4"; shift 4
  echo "$t $c $r $line $*" >>"$RESULTS"
  local rps p50 p99 non2xx serr cpu
  read -r _ _ rps p50 p99 non2xx serr cpu _ <<<"$line"
  log "round $r/$ROUNDS  $t @$c: $rps/s  p50 ${p50}µs  p99 ${p99}µs  cpu ${cpu}µs  failed $((non2xx + serr)) $*"
}

# A 1-worker-style NGINX reverse proxy, as bench/run.sh's, with options:
# nginx_proxy_conf NAME LISTEN_PORT ORIGIN_PORT WORKERS LISTEN_OPTS EXTRA_SERVER_DIRECTIVES [KEEPALIVE]
# Writes $TMP/NAME.conf. KEEPALIVE: idle upstream connections kept per worker (64).
nginx_proxy_conf() {
  local name="$1" port="$2" oport="$3" workers="$4" lopts="$5" extra="$6" ka="${7:-64}"
  cat >"$TMP/$name.conf" <<EOF
worker_processes $workers;
worker_rlimit_nofile 65536;
pid $TMP/$name.pid;
error_log $TMP/logs/$name.err warn;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $TMP/${name}_body;
  proxy_temp_path $TMP/${name}_proxy_temp;
  upstream origin {
    server 127.0.0.1:$oport;
    keepalive $ka;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$port $lopts backlog=4096;
$extra
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
EOF
}

# strangler_simple_conf DIR PORT ADMIN_PORT ORIGIN_PORT WORKERS MAX_IDLE(or "default") [TLS_LINE]
# One upstream, one catch-all route; max_idle "default" leaves it out (the shipped
# default). The admin API gets its own port (its default, 9901, may be taken).
strangler_simple_conf() {
  local dir="$1" port="$2" aport="$3" oport="$4" workers="$5" idle="$6" tls="${7:-}"
  mkdir -p "$dir"
  {
    echo "# strangler scenario config"
    echo "listen: 127.0.0.1:$port"
    echo "workers: $workers"
    echo "admin: { listen: 127.0.0.1:$aport }"
    [[ -n $tls ]] && echo "$tls"
    echo "upstreams:"
    echo "  origin:"
    echo "    url: http://127.0.0.1:$oport"
    [[ $idle != default ]] && echo "    max_idle: $idle"
    echo "routes:"
    echo "  - name: plain"
    echo "    match: { path_prefix: / }"
    echo "    upstream: origin"
  } >"$dir/routes.yaml"
}

# After X_PID=$(start_bg NAME CPU cmd...); PIDS+=("$X_PID"): wait_up NAME URL.
wait_up() { # wait_up NAME URL [curl options]
  local name="$1" url="$2" i; shift 2
  for ((i = 0; i < 200; i++)); do
    curl -s -o /dev/null -m 1 "$@" "$url" && return 0
    sleep 0.1
  done
  die "$name did not start: $(tail -n 20 "$TMP/logs/$name.out" "$TMP/logs/$name.err" 2>/dev/null)"
}

# unpin_tree PID: let a process, its threads and its children run on every CPU.
unpin_tree() {
  local p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    taskset -a -cp "0-$(($(nproc --all) - 1))" "$p" >/dev/null 2>&1 || true
  done
}
pin_tree() { # pin_tree PID CPU
  local p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    taskset -a -cp "$2" "$p" >/dev/null 2>&1 || true
  done
}

# run_h2load LABEL CONNS STREAMS SECS URL [PID] [h2load options]: h2load -t1 (CLIENT_ENV applies).
# Prints the run_wrk line: requests duration rps p50 p99 non2xx sockerr cpu user sys
run_h2load() {
  local label="$1" conns="$2" m="$3" secs="$4" url="$5" pid="${6:-}" out lf u0=0 s0=0 u1=0 s1=0 opts=("${@:7}")
  out="$TMP/logs/h2load-$label-c$conns-$(date +%s%N).txt"; lf="$out.log"
  settle
  [[ -n $pid ]] && read -r u0 s0 < <(cpu_ticks "$pid")
  pin "$CLIENT_CPU" env "${CLIENT_ENV[@]}" h2load -t1 -c"$conns" -m"$m" -D"$secs" -T10 -N10 "${opts[@]}" --log-file="$lf" "$url" >"$out" 2>&1 \
    || log "h2load exited non-zero for $label: $(tail -n 3 "$out")"
  [[ -n $pid ]] && read -r u1 s1 < <(cpu_ticks "$pid")
  local p50 p99
  read -r p50 p99 < <(awk '{print $3}' "$lf" 2>/dev/null | sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) { print 0, 0; exit } i = int(NR * 0.5); if (i < 1) i = 1; j = int(NR * 0.99); if (j < 1) j = 1; print v[i], v[j] }')
  rm -f "$lf"
  awk -v ut=$((u1 - u0)) -v st=$((s1 - s0)) -v hz="$CLK_TCK" -v haspid="${pid:+1}" -v p50="$p50" -v p99="$p99" '
    /^finished in/ { d = $3; sub(/s,$/, "", d); if (d ~ /ms/) { sub(/ms/, "", d); d /= 1000 } }
    /^requests:/ { done = $6; errored = $12; timeout = $14 }
    /^status codes:/ { non2xx = $5 + $7 + $9 }
    END {
      k = (haspid && done > 0) ? 1e6 / hz / done : 0
      printf "%d %.2f %.0f %d %d %d %d %.2f %.2f %.2f\n", done, d, (d > 0 ? done / d : 0), p50, p99, non2xx, errored + timeout, (ut + st) * k, ut * k, st * k
    }' "$out"
}

# run_stime LABEL new|reuse SECS HOST:PORT PATH [PID]: openssl s_time, one client,
# each connection a full (new) or resumed (reuse) handshake plus one HTTP/1.0 GET.
# Prints the run_wrk line (requests = connections; p50/p99 0) and "reused=N".
run_stime() {
  local label="$1" mode="$2" secs="$3" hp="$4" path="$5" pid="${6:-}" out u0=0 s0=0 u1=0 s1=0 t0 t1
  out="$TMP/logs/stime-$label-$mode-$(date +%s%N).txt"
  settle
  [[ -n $pid ]] && read -r u0 s0 < <(cpu_ticks "$pid")
  t0=$(date +%s%N)
  pin "$CLIENT_CPU" env "${CLIENT_ENV[@]}" timeout $((secs + 20)) openssl s_time -connect "$hp" "-$mode" -time "$secs" -www "$path" >"$out" 2>&1 \
    || log "s_time exited non-zero for $label $mode: $(grep -v '^[*r]*$' "$out" | tail -n 3)"
  t1=$(date +%s%N)
  [[ -n $pid ]] && read -r u1 s1 < <(cpu_ticks "$pid")
  local n r
  n=$(grep -E '^[*rt3]+$' "$out" | tr -cd '*rt3' | wc -c)
  r=$(grep -E '^[*rt3]+$' "$out" | tr -cd 'r' | wc -c)
  awk -v n="$n" -v r="$r" -v ns=$((t1 - t0)) -v ut=$((u1 - u0)) -v st=$((s1 - s0)) -v hz="$CLK_TCK" -v haspid="${pid:+1}" 'BEGIN {
    d = ns / 1e9; k = (haspid && n > 0) ? 1e6 / hz / n : 0
    printf "%d %.2f %.0f 0 0 0 0 %.2f %.2f %.2f reused=%d\n", n, d, (d > 0 ? n / d : 0), (ut + st) * k, ut * k, st * k, r }'
}

# origin_conns FN ARGS...: a load function's line plus "upconns=N", the connections
# the origin accepted meanwhile (load one proxy at a time). stub_status counts its
# own connection: the second read's is taken off.
origin_conns() {
  local a0 a1 line
  read -r _ a0 _ _ < <(stub_status "$ORIGIN_PORT")
  line=$("$@")
  read -r _ a1 _ _ < <(stub_status "$ORIGIN_PORT")
  echo "$line upconns=$((a1 - a0 - 1))"
}

# client_cpu FN ARGS...: run a load function (run_wrk, run_h2load, run_stime), print its
# line plus "client=X": the load generator's own CPU (user+sys, from bash's `time`)
# per request/connection. The load core is shared with the origin; this tells
# whether a proxy makes its client work harder (e.g. more, smaller TLS records).
client_cpu() {
  local tf="$TMP/.time.$BASHPID" line TIMEFORMAT='%3U %3S'
  { time "$@" >"$tf.line"; } 2>"$tf"
  line=$(cat "$tf.line")
  awk -v line="$line" '{ u = $1; s = $2 } END {
    split(line, f, " "); n = f[1] + 0
    printf "%s client=%.2f\n", line, (n > 0 ? (u + s) * 1e6 / n : 0) }' < <(tail -n 1 "$tf")
  rm -f "$tf" "$tf.line"
}

# finish_report NAME: the summarizer's Markdown into bench/results/NAME.md (OUT overrides).
finish_report() {
  local name="$1" out="${OUT:-$BENCH_DIR/results/$1.md}"
  fact elapsed "$(( $(date +%s) - START_TS ))"
  grep -q '^loadavg_end=' "$FACTS" || fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
  mkdir -p "$(dirname "$out")"
  python3 "$BENCH_DIR/scenarios.py" "$name" "$RESULTS" "$FACTS" >"$TMP/$name.md"
  cp "$TMP/$name.md" "$out"
  cp "$RESULTS" "${out%.md}-raw.tsv"
  echo; cat "$out"
  log "written: $out (raw runs: ${out%.md}-raw.tsv)"
}
