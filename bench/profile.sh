#!/usr/bin/env bash
# Profile strangler's request path under a short wrk load — one command:
#
#     bench/profile.sh            # writes bench/results/profile.md
#
# Starts the NGINX origin and strangler (`workers: 1`, RUST_LOG=warn, pinned
# like bench/run.sh), drives GET /api/item with wrk (-t1, $CONNS connections),
# and samples the strangler process with `perf record` (cycles when the CPU
# exposes hardware counters, else the cpu-clock software event; frame-pointer
# call graphs for the flat profile, plus a short DWARF call-graph recording to
# attribute allocations to their Rust callers). Falls back to
# `valgrind --tool=callgrind` when perf cannot record (PROFILER=callgrind forces it).
#
# With callgrind it reports the user-space instructions per request of
# strangler, NGINX and HAProxy (counted over one wrk run each, startup left
# out): unlike time, a count the machine's load does not move. NGINX is counted
# twice over HTTP/1.1: with the proxy config of bench/run.sh, and as "NGINX,
# same fields", that config also setting the fields strangler sets by default
# (X-Request-Id both ways, X-Forwarded-For/Proto/Host).
#
#     PROFILER=callgrind OUT=/tmp/plain.md bench/profile.sh
#     PROFILER=callgrind TARGET_PATH=/shadowed/item OUT=/tmp/shadowed.md bench/profile.sh
#
# PROTO=h2c does the same over HTTP/2 with prior knowledge, cleartext (callgrind
# only): the client is `h2load -t1 -c10 -m10 -n N`, a fixed number of requests
# (H2_WARMUP, then H2_REQUESTS counted), and instructions per request = the
# dump's total / h2load's succeeded requests. strangler and HAProxy detect the
# HTTP/2 preface on their plain port; NGINX 1.22 gets `listen ... http2` on a
# port of its own (BENCH_PORT_BASE+7). Writes bench/results/profile-h2.md.
#
#     PROTO=h2c bench/profile.sh
#
# Environment: PROFILE_DURATION=10 (s) CONNS=50 FREQ=1999 PROFILER=auto|perf|callgrind
#              TARGET_PATH=/api/item (/shadowed/item: the route with a shadow)
#              COMPARE=1 (callgrind: NGINX and HAProxy too; /api/item only)
#              PROTO=h1|h2c  H2_WARMUP=2000 H2_REQUESTS=20000 H2_CONNS=10 H2_STREAMS=10 (h2c)
#              SKIP_BUILD=1 KEEP_TMP=1 BENCH_PORT_BASE=28100 PIN=1
#              OUT=bench/results/profile.md (h2c: bench/results/profile-h2.md)
set -euo pipefail

# The command as given (the variables set for it), for the callgrind reports.
CMDLINE=""
for v in PROTO PROFILER COMPARE TARGET_PATH H2_WARMUP H2_REQUESTS H2_CONNS H2_STREAMS \
  SKIP_BUILD STRANGLER_BIN BENCH_PORT_BASE PIN KEEP_TMP TMP_PREFIX OUT; do
  if [[ -n ${!v+x} ]]; then CMDLINE+="$v=${!v} "; fi
done
CMDLINE+="$0"

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROFILE_DURATION="${PROFILE_DURATION:-10}"
CONNS="${CONNS:-50}"
FREQ="${FREQ:-1999}"
PROFILER="${PROFILER:-auto}"
PROTO="${PROTO:-h1}"
case $PROTO in
  h1) OUT="${OUT:-$BENCH_DIR/results/profile.md}" ;;
  h2c)
    # HTTP/2 is counted with callgrind only (the perf profile drives wrk, HTTP/1.1).
    [[ $PROFILER == perf ]] && die "PROTO=h2c: callgrind only (the perf profile is HTTP/1.1)"
    PROFILER=callgrind
    H2_WARMUP="${H2_WARMUP:-2000}" H2_REQUESTS="${H2_REQUESTS:-20000}"
    H2_CONNS="${H2_CONNS:-10}" H2_STREAMS="${H2_STREAMS:-10}"
    NGINX_H2C_PORT=$((PORT_BASE + 7))   # NGINX 1.22: h2c with prior knowledge needs its own `listen ... http2`
    ALL_PORTS+=("$NGINX_H2C_PORT")
    OUT="${OUT:-$BENCH_DIR/results/profile-h2.md}" ;;
  *) die "PROTO=$PROTO: h1 or h2c" ;;
esac

trap cleanup EXIT
trap 'exit 130' INT TERM

need_tools nginx:nginx wrk:wrk curl:curl python3:python3 ss:iproute2 pgrep:procps
if [[ $PROFILER != callgrind ]]; then need_tools perf:linux-perf; fi
if [[ $PROTO == h2c ]]; then need_tools h2load:nghttp2-client; fi
[[ "${SKIP_BUILD:-0}" == 1 ]] || build_strangler
[[ -x "$STRANGLER_BIN" ]] || die "$STRANGLER_BIN missing (unset SKIP_BUILD)"
check_ports_free
hard=$(ulimit -Hn); [[ $hard == unlimited || $hard -ge 65536 ]] && ulimit -n 65536 || ulimit -n "$hard"
make_tmp
write_configs

TARGET_PATH="${TARGET_PATH:-/api/item}"
URL="http://127.0.0.1:$STRANGLER_PORT$TARGET_PATH"
COMMIT="$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO_DIR" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')"

# --- which profiler -----------------------------------------------------------------
EVENT=""
if [[ $PROFILER != callgrind ]]; then
  probe=$(perf stat -e instructions true 2>&1 || true)
  if grep -q 'not supported\|Error' <<<"$probe"; then
    EVENT=cpu-clock
    log "perf: no hardware counters here (perf stat -e instructions: not supported); sampling cpu-clock"
  elif perf stat -e instructions true >/dev/null 2>&1; then
    EVENT=cycles
  fi
  if [[ -z $EVENT ]] || ! perf record -q -e "${EVENT}" -o "$TMP/probe.data" -- true >/dev/null 2>&1; then
    [[ $PROFILER == perf ]] && die "perf cannot record here (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null))"
    log "perf cannot record here: falling back to callgrind"
    PROFILER=callgrind
  else
    PROFILER=perf
  fi
fi

start_origin

if [[ $PROFILER == callgrind ]]; then
  need_tools valgrind:valgrind
  # The other proxies are measured the same way on the plain route only: on
  # /shadowed they would just proxy it, with nothing to compare.
  [[ $TARGET_PATH == /api/item ]] && COMPARE="${COMPARE:-1}" || COMPARE=0
  [[ $COMPARE == 1 ]] && need_tools haproxy:haproxy
  # cg_load LABEL URL warm|count: one load run, printed as run_wrk's line
  # (requests duration rps p50 p99 non2xx sockerr ...). h1: wrk -t1 -c10, 2 s to
  # warm up, PROFILE_DURATION s to count. h2c: h2load -t1 over H2_CONNS
  # connections of H2_STREAMS concurrent streams, H2_WARMUP or H2_REQUESTS
  # requests; "requests" are h2load's succeeded ones, sockerr its failed +
  # errored + timed out (no latencies: 0 0).
  cg_load() {
    local label="$1" url="$2" phase="$3" n out
    if [[ $PROTO == h1 ]]; then
      if [[ $phase == warm ]]; then run_wrk "$label" 10 2 "$url"; else run_wrk "$label" 10 "$PROFILE_DURATION" "$url"; fi
      return
    fi
    if [[ $phase == warm ]]; then n=$H2_WARMUP; else n=$H2_REQUESTS; fi
    out="$TMP/logs/h2load-$label.txt"
    pin "$CLIENT_CPU" timeout 1200 h2load -t1 -c"$H2_CONNS" -m"$H2_STREAMS" -n"$n" "$url" >"$out" 2>&1 \
      || log "h2load exited non-zero for $label: $(tail -n 3 "$out")"
    awk '
      /^finished in/ { d = $3; sub(/,$/, "", d)
        if (d ~ /us$/) { sub(/us$/, "", d); d /= 1e6 } else if (d ~ /ms$/) { sub(/ms$/, "", d); d /= 1e3 } else sub(/s$/, "", d) }
      /^requests:/ { ok = $8; bad = $10 + $12 + $14 }
      /^status codes:/ { s2 = $3 }
      END { printf "%d %.2f %.0f 0 0 %d %d\n", ok, d, (d > 0 ? ok / d : 0), ok - s2, bad }' "$out"
  }
  # cg_run NAME URL LOAD_URL cmd...: run cmd under callgrind, wait until URL
  # answers, warm it up, count the instructions of one load run on LOAD_URL only
  # (counters zeroed before, dumped after: startup and shutdown left out).
  # Sets CG_REQ, CG_RPS, CG_NON2XX, CG_ERR, CG_IR, CG_I1, CG_D1, and CG_UPCONN:
  # the connections the origin accepted meanwhile (its stub_status; the second
  # reading's own connection taken off).
  cg_run() {
    local name="$1" url="$2" load_url="$3" pid line a0 a1
    shift 3
    pid=$(start_bg "cg-$name" "$PROXY_CPU" env RUST_LOG=warn valgrind --tool=callgrind \
      --cache-sim=yes --callgrind-out-file="$TMP/callgrind.$name.out" "$@")
    PIDS+=("$pid")
    wait_http "$url" 120 || die "$name under valgrind did not start: $(tail "$TMP/logs/cg-$name.out")"
    cg_load "cg-$name-warm" "$load_url" warm >/dev/null
    # h2load closes its connections as it exits: let the proxy (slowed by
    # valgrind) finish the warm-up's before the zero, and the counted run's
    # before the dump, so that the count has exactly one run's connections.
    if [[ $PROTO == h2c ]]; then sleep 2; fi
    read -r _ a0 _ < <(stub_status "$ORIGIN_PORT")
    callgrind_control -z "$pid" >/dev/null || die "callgrind_control could not zero $name's counters"
    line=$(cg_load "cg-$name" "$load_url" count)
    if [[ $PROTO == h2c ]]; then sleep 2; fi
    callgrind_control -d "$pid" >/dev/null || die "callgrind_control could not dump $name's counters"
    read -r _ a1 _ < <(stub_status "$ORIGIN_PORT")
    CG_UPCONN=$((a1 - a0 - 1))
    kill -TERM "$pid"
    for _ in $(seq 300); do alive "$pid" || break; sleep 0.1; done
    read -r CG_REQ _ CG_RPS _ _ CG_NON2XX CG_ERR _ <<<"$line"
    ((CG_NON2XX + CG_ERR == 0)) || log "$name: $CG_NON2XX non-2xx answers, $CG_ERR failed requests in the counted run"
    # The dump's event totals, by name: Ir, and the simulated L1 misses
    # (instruction; data read + write).
    read -r CG_IR CG_I1 CG_D1 < <(awk '
      /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i }
      /^summary:/ { print $col["Ir"], $col["I1mr"], $col["D1mr"] + $col["D1mw"] }' \
      "$TMP/callgrind.$name.out.1")
    # Clock reads: the calls into libc's clock_gettime and gettimeofday, every
    # caller's edge summed (NGINX reads the clock once per event-loop turn).
    CG_CLOCK=$(callgrind_annotate --tree=calling --threshold=100 "$TMP/callgrind.$name.out.1" 2>/dev/null | awk '
      / > .*:(__)?(clock_gettime|gettimeofday)[@ ].*\([0-9,]+x\)/ {
        n = $0; sub(/.*\(/, "", n); sub(/x\).*/, "", n); gsub(",", "", n); s += n }
      END { print s + 0 }')
  }
  per_req() { ((${1:-0} > 0)) && echo $((${2:-0} / $1)) || echo "n/a"; }
  clock_per_req() { awk -v n="${CG_REQ:-0}" -v c="${CG_CLOCK:-0}" 'BEGIN { if (n > 0) printf "%.2f", c / n; else print "n/a" }'; }
  row() { echo "| $1 | $CG_REQ | $(per_req "$CG_REQ" "$CG_IR") | $(per_req "$CG_REQ" "$CG_I1") | $(per_req "$CG_REQ" "$CG_D1") | $(clock_per_req) |"; }
  rows=()
  declare -A IR_PER_REQ=()
  add_row() { # add_row LABEL: the last cg_run's row of the report (not in a subshell: h2c keeps IR_PER_REQ)
    if [[ $PROTO == h1 ]]; then rows+=("$(row "$1")"); return; fi
    IR_PER_REQ[$1]=$(per_req "$CG_REQ" "$CG_IR")
    rows+=("| $1 | $CG_REQ | $((CG_NON2XX + CG_ERR)) | $CG_RPS | $CG_UPCONN | ${IR_PER_REQ[$1]} | $(per_req "$CG_REQ" "$CG_I1") | $(per_req "$CG_REQ" "$CG_D1") |")
  }
  ratio() { # ratio A B: A / B to 2 decimals, or n/a
    awk -v a="${IR_PER_REQ[$1]:-n/a}" -v b="${IR_PER_REQ[$2]:-n/a}" \
      'BEGIN { if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && b > 0) printf "%.2f", a / b; else print "n/a" }'
  }
  if [[ $PROTO == h1 ]]; then
    LOAD_DESC="wrk -c10 for ${PROFILE_DURATION}s"
    NGINX_URL="http://127.0.0.1:$NGINX_PORT$TARGET_PATH" NGINX_CONF="$TMP/nginx-proxy.conf"
    # "NGINX, same fields" (lib.sh's nginx_same_conf), on NGINX's own port here:
    # measured one after the other.
    NGINX_SAME_CONF="$TMP/nginx-proxy-same.conf"
    nginx_same_conf "$NGINX_CONF" "$NGINX_SAME_CONF"
  else
    LOAD_DESC="h2load -c$H2_CONNS -m$H2_STREAMS, $H2_WARMUP requests to warm up, $H2_REQUESTS counted"
    NGINX_URL="http://127.0.0.1:$NGINX_H2C_PORT$TARGET_PATH" NGINX_CONF="$TMP/nginx-proxy-h2c.conf"
    # The proxy config of bench/run.sh plus one plain HTTP/2 port.
    sed "s|^\( *listen 127.0.0.1:$NGINX_PORT backlog=4096;\)\$|&\n    listen 127.0.0.1:$NGINX_H2C_PORT http2;|" \
      "$TMP/nginx-proxy.conf" >"$NGINX_CONF"
    grep -q "listen 127.0.0.1:$NGINX_H2C_PORT http2;" "$NGINX_CONF" || die "could not add the http2 listen to $NGINX_CONF"
  fi
  log "callgrind: strangler under valgrind (~50x slower), $LOAD_DESC"
  cg_run strangler "$URL" "$URL" "$STRANGLER_BIN" run --config "$TMP/strangler/routes.yaml"
  req=$CG_REQ rps=$CG_RPS CG_IR_STRANGLER=$CG_IR
  add_row strangler
  if [[ $COMPARE == 1 ]]; then
    log "callgrind: NGINX as the proxy (one process: master_process off)"
    cg_run nginx "http://127.0.0.1:$NGINX_PORT$TARGET_PATH" "$NGINX_URL" \
      nginx -p "$TMP" -e "$TMP/logs/cg-nginx.err" -c "$NGINX_CONF" -g 'daemon off; master_process off;'
    add_row NGINX
    if [[ $PROTO == h1 ]]; then
      log "callgrind: NGINX, same fields (X-Request-Id, X-Forwarded-For/Proto/Host as strangler sets them)"
      cg_run nginx-same "http://127.0.0.1:$NGINX_PORT$TARGET_PATH" "$NGINX_URL" \
        nginx -p "$TMP" -e "$TMP/logs/cg-nginx-same.err" -c "$NGINX_SAME_CONF" -g 'daemon off; master_process off;'
      add_row "NGINX, same fields"
      # Of that, OpenSSL's RAND_bytes (inclusive), behind $request_id. awk reads
      # to the end: an early exit would end the pipe and, under pipefail, the script.
      SAME_RAND=$(callgrind_annotate --inclusive=yes --show=Ir --threshold=100 --auto=no \
        "$TMP/callgrind.nginx-same.out.1" 2>/dev/null | awk -v n="$CG_REQ" '
          !done && /:RAND_bytes \[/ { ir = $1; gsub(/,/, "", ir); if (n > 0) printf "%.0f", ir / n; done = 1 }')
    fi
    log "callgrind: HAProxy as the proxy"
    cg_run haproxy "http://127.0.0.1:$HAPROXY_PORT$TARGET_PATH" "http://127.0.0.1:$HAPROXY_PORT$TARGET_PATH" \
      haproxy -db -f "$TMP/haproxy.cfg"
    add_row HAProxy
  fi
  mkdir -p "$(dirname "$OUT")"
  if [[ $PROTO == h1 ]]; then
    {
      echo "# strangler request-path profile (callgrind)"
      echo
      echo "Commit \`$COMMIT\`, $(date -u +%Y-%m-%dT%H:%MZ). Each proxy under valgrind, alone on CPU $PROXY_CPU: a 2 s warm-up, then its counters zeroed, wrk -t1 -c10 ${PROFILE_DURATION}s on GET $TARGET_PATH, its counters dumped. strangler: $req requests ($rps req/s, slowed by valgrind)."
      echo
      echo "Command: \`$CMDLINE\`"
      echo
      echo "**User-space instructions per request** (the kernel's work is not counted: the perf profile shows the same syscalls per request for strangler and NGINX):"
      echo
      echo "| proxy | requests | instructions / request | L1i misses / request | L1d misses / request | clock reads / request |"
      echo "|---|---:|---:|---:|---:|---:|"
      printf '%s\n' "${rows[@]}"
      echo
      if [[ $COMPARE == 1 ]]; then
        echo "**NGINX** $(nginx -v 2>&1 | sed 's|^.*/||'): the proxy config of \`bench/run.sh\` (one process: \`master_process off\`; \`keepalive 64\`), which sets X-Forwarded-For only (\`\$proxy_add_x_forwarded_for\`): the baseline. **NGINX, same fields**: that config, its \`location /\` doing per request the header work strangler does by default (no \`trusted_proxies\`): X-Request-Id, the client's when it is 1-128 visible ASCII (a \`map\`), else NGINX's \`\$request_id\` (32 hex digits from OpenSSL's \`RAND_bytes\`, not a v4 UUID as strangler's), sent upstream (\`proxy_set_header\`) and returned on the answer (\`add_header ... always\`); X-Forwarded-For set to the peer (\`\$remote_addr\`: the client's is not trusted), X-Forwarded-Proto \`\$scheme\`, X-Forwarded-Host the client's Host (\`\$http_host\`); the client's Forwarded and X-Real-IP dropped (NGINX drops the hop-by-hop fields itself). RAND_bytes alone is ${SAME_RAND:-n/a} of its instructions per request (strangler draws its ids from a per-thread wyrand generator, not a cryptographic one). Neither NGINX row keeps per-route metrics: strangler's count includes its request counter and latency histogram and its circuit breaker's accounting. No access log anywhere (NGINX \`access_log off\`, strangler RUST_LOG=warn)."
        echo
      fi
      echo "L1 misses are valgrind's simulation ($(grep -a -m2 '^desc: [ID]1 cache' "$TMP/callgrind.strangler.out.1" | sed 's/^desc: //' | paste -sd';' | sed 's/;/; /')), not the CPU's counters: a guide to how much code and data a request touches, not a time."
      echo
      echo "strangler's instructions by function, inclusive (a dump taken mid-run gives callgrind_annotate no usable self costs: it puts them all on the bottom frame):"
      echo
      echo '```'
      # sed reads to the end: `head` would end the pipe early and, under
      # pipefail, the script with it.
      callgrind_annotate --inclusive=yes --show=Ir "$TMP/callgrind.strangler.out.1" 2>/dev/null | sed -n 18,90p
      echo '```'
    } >"$OUT"
  else
    {
      echo "# strangler request-path profile, HTTP/2 cleartext (callgrind)"
      echo
      echo "Commit \`$COMMIT\`, $(date -u +%Y-%m-%dT%H:%MZ); strangler binary \`$STRANGLER_BIN\` (sha256 \`$(sha256sum "$STRANGLER_BIN" | cut -c1-12)\`)."
      echo
      echo "Command: \`$CMDLINE\`"
      echo
      echo "**Method.** GET $TARGET_PATH over HTTP/2 with prior knowledge, cleartext (h2c), to each proxy in turn; each forwards over HTTP/1.1 keep-alive to the NGINX origin (1 KiB JSON), as in \`bench/run.sh\`. Each proxy runs under \`valgrind --tool=callgrind --cache-sim=yes\`, alone on CPU $PROXY_CPU (h2load and the origin on CPU $CLIENT_CPU):"
      echo
      echo "1. warm-up: \`h2load -t1 -c$H2_CONNS -m$H2_STREAMS -n$H2_WARMUP http://127.0.0.1:PORT$TARGET_PATH\`, then 2 s for the proxy to finish with h2load's connections;"
      echo "2. counters zeroed (\`callgrind_control -z\`);"
      echo "3. counted run: \`h2load -t1 -c$H2_CONNS -m$H2_STREAMS -n$H2_REQUESTS http://127.0.0.1:PORT$TARGET_PATH\` ($H2_CONNS new connections, $H2_STREAMS concurrent streams each), then 2 s, so their closes are counted too;"
      echo "4. counters dumped (\`callgrind_control -d\`): **instructions per request = the dump's total Ir / h2load's succeeded requests** (the connections' setup and teardown included, spread over the run's requests; startup and shutdown left out)."
      echo
      echo "strangler: \`workers: 1\`, RUST_LOG=warn (no access log), \`max_idle: 64\`; it detects the HTTP/2 preface on its plain listener. NGINX $(nginx -v 2>&1 | sed 's|^.*/||'): the proxy config of \`bench/run.sh\` (\`keepalive 64\`, one process: \`master_process off\`) plus \`listen 127.0.0.1:PORT http2;\` on a port of its own (NGINX cannot take h2c with prior knowledge and HTTP/1.1 on one port). HAProxy: the config of \`bench/run.sh\` unchanged; its HTTP frontend detects the HTTP/2 preface on the plain \`bind\` (as strangler does)."
      echo
      echo "**User-space instructions per h2c request** (the kernel's work is not counted):"
      echo
      echo "| proxy | requests (h2load succeeded) | failed or non-2xx | req/s under valgrind | new upstream connections | instructions / request | L1i misses / request | L1d misses / request |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|"
      printf '%s\n' "${rows[@]}"
      echo
      if [[ $COMPARE == 1 ]]; then
        echo "strangler / NGINX: **$(ratio strangler NGINX)**; strangler / HAProxy: **$(ratio strangler HAProxy)** (instructions per request)."
        echo
      fi
      echo "New upstream connections: what the origin accepted between the zero and the dump (its stub_status); 0 means every request went over connections the proxy already had. The user-space work of opening and closing them is in the proxy's count: with $((H2_CONNS * H2_STREAMS)) streams in flight and at most 64 idle connections kept (\`keepalive 64\`, \`max_idle: 64\`), a proxy may open and close some."
      echo
      echo "L1 misses are valgrind's simulation ($(grep -a -m2 '^desc: [ID]1 cache' "$TMP/callgrind.strangler.out.1" | sed 's/^desc: //' | paste -sd';' | sed 's/;/; /')), not the CPU's counters: a guide to how much code and data a request touches, not a time."
      echo
      # Self costs: callgrind_annotate (3.19) adds the cost of a call whose count
      # is 0 (made before the zero, its frame still on the stack: main, the
      # runtime's loop) to the caller's *self* cost, so all of it lands on the
      # bottom frame; counted as the call it is once its count is 1. Entries are
      # summed by function name (code inlined from several source files is
      # listed once per file).
      sed 's/^calls=0 /calls=1 /' "$TMP/callgrind.strangler.out.1" >"$TMP/callgrind.strangler.self"
      callgrind_annotate --show=Ir --threshold=100 --auto=no "$TMP/callgrind.strangler.self" 2>/dev/null | awk '
        /file:function/ { on = 1; next }
        on && match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +/) {
          ir = $1; gsub(/,/, "", ir)
          fn = substr($0, RLENGTH + 1); sub(/ \[[^]]*\]$/, "", fn); sub(/^[^:]*:/, "", fn)
          gsub(/::h[0-9a-f]{16}/, "", fn); cost[fn] += ir
        }
        END { for (f in cost) printf "%d\t%s\n", cost[f], f }' | sort -t"$(printf '\t')" -k1,1nr >"$TMP/strangler-self.tsv"
      echo "**strangler's instructions per request by crate** (self costs, below):"
      echo
      echo "| group | instructions / request | % |"
      echo "|---|---:|---:|"
      # The crate of a function: the first path segment of its name, generic
      # wrappers (`<T as Trait>`, `core::ptr::drop_in_place<T>`, slices) peeled off.
      awk -F'\t' '
        {
          f = $2
          while (sub(/^(<|\[|&mut |&|\*const |\*mut |dyn |core::ptr::drop_in_place<)/, "", f)) {}
          split(f, a, "::"); c = a[1]
          if (c ~ /^_*(mem(cpy|move|set|cmp)|bcmp)/) k = "libc memcpy / memmove / memset / memcmp"
          else if (c ~ /^(_?mi_|_int_|__libc_(malloc|free|realloc|calloc)$|(malloc|free|realloc|calloc|cfree)$|__rust_)/) k = "allocator (mimalloc, __rust_alloc)"
          else if (c == "h2") k = "h2 (HTTP/2 frames, HPACK, streams)"
          else if (c ~ /^hyper(_util)?$/) k = "hyper"
          else if (c == "http") k = "http (HeaderMap, Uri, …)"
          else if (c == "httparse") k = "httparse"
          else if (c == "bytes") k = "bytes"
          else if (c ~ /^tokio/) k = "tokio"
          else if (c ~ /^strangler/) k = "strangler (src/ and wire/)"
          else if (c ~ /^(core|alloc|std)$/) k = "Rust core / alloc / std"
          else k = "other (libc, syscall wrappers, other crates)"
          sum[k] += $1
        }
        END { for (k in sum) printf "%d\t%s\n", sum[k], k }' "$TMP/strangler-self.tsv" | sort -t"$(printf '\t')" -k1,1nr |
        awk -F'\t' -v n="$req" -v total="$CG_IR_STRANGLER" '
          { printf "| %s | %.0f | %.1f |\n", $2, (n > 0 ? $1 / n : 0), (total > 0 ? 100 * $1 / total : 0) }'
      echo
      echo "A function counts for the crate its name starts with (\`<h2::proto::streams::streams::OpaqueStreamRef as core::ops::drop::Drop>::drop\` is h2's, \`hyper::proto::h2::server::H2Stream::poll2\` hyper's); code inlined into it counts for it."
      echo
      echo "**strangler's top 15 functions by self cost** (\`callgrind_annotate\` of the counted dump, exclusive Ir divided by its $req requests):"
      echo
      echo "| # | instructions / request | % of total | function |"
      echo "|---:|---:|---:|---|"
      awk -F'\t' -v n="$req" -v total="$CG_IR_STRANGLER" 'NR <= 15 {
          f = $2; gsub(/\|/, "\\|", f)
          printf "| %d | %.0f | %.2f | `%s` |\n", NR, (n > 0 ? $1 / n : 0), (total > 0 ? 100 * $1 / total : 0), f
        }' "$TMP/strangler-self.tsv"
    } >"$OUT"
  fi
  cat "$OUT"
  exit 0
fi

start_strangler
log "warm-up 2s"
run_wrk warm "$CONNS" 2 "$URL" >/dev/null

# Load for the whole recording: wrk runs PROFILE_DURATION + 6 s (both recordings + margin).
WRK_SECS=$((PROFILE_DURATION + 7))
pin "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WRK_SECS}s" --latency -s "$BENCH_DIR/report.lua" "$URL" >"$TMP/logs/wrk-profile.txt" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
sleep 1
read -r u0 s0 < <(cpu_ticks "$STRANGLER_PID")
log "perf record -e $EVENT -F $FREQ -g for ${PROFILE_DURATION}s (pid $STRANGLER_PID)"
perf record -q -e "$EVENT" -F "$FREQ" -g -p "$STRANGLER_PID" -o "$TMP/perf.data" -- sleep "$PROFILE_DURATION" >/dev/null 2>&1
read -r u1 s1 < <(cpu_ticks "$STRANGLER_PID")
log "perf record --call-graph dwarf for 3s (allocation callers)"
perf record -q -e "$EVENT" -F 999 --call-graph dwarf,16384 -p "$STRANGLER_PID" -o "$TMP/perf-dwarf.data" -- sleep 4 >/dev/null 2>&1 || true
wait "$WRK_PID" || true
read -r REQS RPS < <(awk '/^BENCH / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  printf "%d %.0f\n", v["requests"], v["requests"] / (v["duration_us"] / 1e6) }' "$TMP/logs/wrk-profile.txt")
CPU_US=$(awk -v t=$((u1 + s1 - u0 - s0)) -v hz="$CLK_TCK" -v rps="$RPS" -v d="$PROFILE_DURATION" 'BEGIN { if (rps > 0) printf "%.1f", t / hz * 1e6 / (rps * d); else print "?" }')

# Syscalls per request, strangler vs NGINX (same pinning, same load), from the
# raw_syscalls / syscalls tracepoints over a 3 s window inside a 5 s wrk run.
perf list tracepoint >"$TMP/perf-list.txt" 2>/dev/null || true
SYSCALLS="read write writev readv recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl futex sched_yield accept4 close"
origin_requests() {
  curl -s "http://127.0.0.1:$ORIGIN_PORT/-/nginx-status" | awk '/^ *[0-9]+ +[0-9]+ +[0-9]+/ {print $3}'
}
syscall_counts() { # syscall_counts KEY PID URL
  local key="$1" pid="$2" url="$3" ev="" sc pids r0 r1 ppid
  for sc in $SYSCALLS; do
    grep -q "syscalls:sys_enter_$sc " "$TMP/perf-list.txt" && ev+="syscalls:sys_enter_$sc,"
  done
  [[ -n $ev ]] || { log "no syscall tracepoints: skipping syscall counts"; return; }
  pids=$(echo "$pid" $(pgrep -P "$pid" || true) | tr ' ' ',')   # NGINX: master + worker
  # perf counts for 6 s; a 3 s wrk run sits wholly inside, so every request's
  # syscalls are counted; the origin's stub_status counts the requests exactly.
  perf stat -x, -e "${ev%,}" -p "$pids" -o "$TMP/sys-$key.csv" -- sleep 6 >/dev/null 2>&1 &
  ppid=$!
  PIDS+=("$ppid")
  sleep 1.5
  r0=$(origin_requests)
  pin "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d3s -s "$BENCH_DIR/report.lua" "$url" >"$TMP/logs/wrk-sys-$key.txt" 2>&1 || true
  r1=$(origin_requests)
  wait "$ppid" || true
  echo $((r1 - r0 - 1)) >"$TMP/sys-$key.reqs"
}
if grep -q "syscalls:sys_enter_writev " "$TMP/perf-list.txt"; then
  log "syscalls per request: strangler, then NGINX"
  syscall_counts strangler "$STRANGLER_PID" "$URL"
  syscall_counts strangler-shadow "$STRANGLER_PID" "http://127.0.0.1:$STRANGLER_PORT/shadowed/item"
  start_nginx_proxy
  syscall_counts nginx "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT/api/item"
fi

# The shadowed route (sample 1.0, copy to a second NGINX): where the extra CPU goes.
SHADOW_URL="http://127.0.0.1:$STRANGLER_PORT/shadowed/item"
SHADOW_SECS=$(( PROFILE_DURATION < 5 ? PROFILE_DURATION : 5 ))
log "shadowed route: perf record -g for ${SHADOW_SECS}s"
pin "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$((SHADOW_SECS + 2))s" -s "$BENCH_DIR/report.lua" "$SHADOW_URL" >"$TMP/logs/wrk-shadow.txt" 2>&1 &
WRK_PID=$!
PIDS+=("$WRK_PID")
sleep 1
read -r u0 s0 < <(cpu_ticks "$STRANGLER_PID")
perf record -q -e "$EVENT" -F "$FREQ" -g -p "$STRANGLER_PID" -o "$TMP/perf-shadow.data" -- sleep "$SHADOW_SECS" >/dev/null 2>&1 || true
read -r u1 s1 < <(cpu_ticks "$STRANGLER_PID")
wait "$WRK_PID" || true
SH_RPS=$(awk '/^BENCH / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
  printf "%.0f\n", v["requests"] / (v["duration_us"] / 1e6) }' "$TMP/logs/wrk-shadow.txt")
SH_CPU=$(awk -v t=$((u1 + s1 - u0 - s0)) -v hz="$CLK_TCK" -v rps="$SH_RPS" -v d="$SHADOW_SECS" 'BEGIN { if (rps > 0) printf "%.1f", t / hz * 1e6 / (rps * d); else print "?" }')
echo "$SH_RPS $SH_CPU $SHADOW_SECS" >"$TMP/shadow-load.txt"

log "perf report (this can take a minute)"
REPORT_OPTS=(--stdio --no-inline --no-children -g none --percent-limit 0)
perf report -i "$TMP/perf.data" "${REPORT_OPTS[@]}" --sort symbol 2>/dev/null | grep -v '^#' | grep -v '^$' >"$TMP/self.txt" || true
perf report -i "$TMP/perf.data" "${REPORT_OPTS[@]}" --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' >"$TMP/dso.txt" || true
perf report -i "$TMP/perf-shadow.data" "${REPORT_OPTS[@]}" --sort symbol 2>/dev/null | grep -v '^#' | grep -v '^$' >"$TMP/self-shadow.txt" || true
perf report -i "$TMP/perf.data" "${REPORT_OPTS[@]}" --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' >"$TMP/comm.txt" || true
# Allocation callers from the DWARF recording: who calls malloc/free/realloc (caller-based graph).
ALLOC_SYMS="malloc,free,cfree@GLIBC_2.2.5,realloc,calloc,_int_malloc,_int_free,cfree,__libc_malloc,__libc_free,__libc_realloc,_int_realloc,malloc_consolidate,unlink_chunk.constprop.0,__rust_alloc,__rust_dealloc,__rust_realloc,mi_free,_mi_page_malloc_zero,mi_theap_malloc_aligned,_mi_malloc_generic,mi_theap_umalloc"
if [[ -s $TMP/perf-dwarf.data ]]; then
  timeout 300 perf report -i "$TMP/perf-dwarf.data" --stdio --no-inline --no-children --sort symbol \
    --percent-limit 0.3 --symbols "$ALLOC_SYMS" -g callee,0.15,function,percent --max-stack 9 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -n 250 >"$TMP/alloc-callers.txt" || true
  timeout 300 perf report -i "$TMP/perf-dwarf.data" --stdio --no-inline --children --sort symbol \
    -g none --percent-limit 0.1 2>/dev/null | grep -v '^#' | grep -v '^$' >"$TMP/inclusive.txt" || true
fi

mkdir -p "$(dirname "$OUT")"
python3 - "$TMP" "$OUT" "$EVENT" "$FREQ" "$PROFILE_DURATION" "$CONNS" "$REQS" "$RPS" "$CPU_US" "$COMMIT" <<'PY'
import re, sys, datetime
tmp, out, event, freq, dur, conns, reqs, rps, cpu_us, commit = sys.argv[1:]

def rows(name):
    res = []
    try:
        for line in open(f"{tmp}/{name}"):
            m = re.match(r"\s*([\d.]+)%\s+(.*)$", line.rstrip())
            if m:
                res.append((float(m.group(1)), m.group(2).strip()))
    except FileNotFoundError:
        pass
    return res

def clean(sym):
    sym = re.sub(r"(\s+-)+\s*$", "", sym).strip()
    sym = re.sub(r"^\[[.k]\]\s+", "", sym)
    sym = re.sub(r"::h[0-9a-f]{16}$", "", sym)
    return sym

selfs = [(p, clean(s), s.startswith("[k]")) for p, s in rows("self.txt")]
selfs_sh = [(p, clean(s), s.startswith("[k]")) for p, s in rows("self-shadow.txt")]
groups = {
    "allocator (malloc/free/realloc and friends)": r"^(malloc|free|realloc|calloc|cfree|_int_malloc|_int_free|_int_realloc|__libc_(malloc|free|realloc|calloc)|malloc_consolidate|unlink_chunk.*|tcache_.*|__rust_(alloc|dealloc|realloc|alloc_zeroed)|alloc::alloc::.*|<alloc::alloc::Global.*|_?mi_.*|mi_.*)$",
    "memcpy/memmove/memset": r"^(__)?(memcpy|memmove|memset|memcmp|bcmp)(_\w+)?$",
    "kernel (syscalls, TCP loopback, scheduler)": None,
    "hyper": r"hyper(_util)?::",
    "tokio": r"tokio::",
    "http / HeaderMap": r"\bhttp::",
    "tracing / tracing-subscriber": r"tracing(_subscriber|_core)?::",
    "serde_json / serde": r"serde(_json)?::",
    "flate2 / miniz (gzip)": r"(flate2|miniz_oxide)::",
    "strangler": r"strangler::",
}
def group_totals(selfs):
    totals = {}
    for name, rx in groups.items():
        if rx is None:
            totals[name] = sum(p for p, s, k in selfs if k)
        else:
            totals[name] = sum(p for p, s, k in selfs if not k and re.search(rx, s))
    return totals
totals = group_totals(selfs)

o = []
w = o.append
w("# strangler request-path profile\n")
w(f"Commit `{commit}`, {datetime.datetime.utcnow():%Y-%m-%dT%H:%MZ}. `bench/profile.sh`: strangler `workers: 1`, "
  f"RUST_LOG=warn, GET /api/item → NGINX origin (1 KiB JSON), wrk -t1 -c{conns}; "
  f"`perf record -e {event} -F {freq} -g` on the strangler pid for {dur} s.  ")
w(f"Load during the profile: {int(rps):,} req/s; strangler CPU {cpu_us} µs per request (utime+stime / requests).\n")
w("## Where the time goes (self time, grouped)\n")
w("| group | self % |")
w("|---|---:|")
for name, v in sorted(totals.items(), key=lambda kv: -kv[1]):
    w(f"| {name} | {v:.1f} |")
w("\nGroups overlap only where a symbol matches two patterns (rare); the rest is libc, std and other crates.\n")
w("## Threads\n")
w("| thread | % of samples |")
w("|---|---:|")
for p, s in rows("comm.txt")[:6]:
    w(f"| {s} | {p:.1f} |")
w("\n## Shared objects\n")
w("| object | % |")
w("|---|---:|")
for p, s in rows("dso.txt")[:8]:
    w(f"| {s} | {p:.1f} |")
w("\n## Top 40 functions by self time\n")
if selfs and selfs[0][1] == "_raw_spin_unlock_irqrestore":
    w("The top kernel symbol is the wake-up at the end of a loopback send: `writev` → `tcp_sendmsg` → "
      "`__dev_queue_xmit` → softirq → `tcp_v4_rcv` (the receiver's TCP input runs in the sender's context on "
      "loopback) → `sock_def_readable` → wake the peer (wrk or the origin on the other CPU); in a VM the "
      "cross-CPU wake-up is charged to the interrupt re-enable. Every proxy pays it per write; fewer writes "
      "(and fewer wake-ups) is the only lever.\n")
w("| # | self % | function |")
w("|---:|---:|---|")
for i, (p, s, k) in enumerate(selfs[:40], 1):
    s = s.replace("|", "\\|")
    w(f"| {i} | {p:.2f} | `{s}`{' (kernel)' if k else ''} |")
def tidy(l):
    l = re.sub(r"::h[0-9a-f]{16}", "", l)
    l = re.sub(r"(\s+-){2}\s*$", "", l)
    return l.rstrip()

def syscalls(key):
    try:
        reqs = float(open(f"{tmp}/sys-{key}.reqs").read().strip() or 0)
        counts = {}
        for line in open(f"{tmp}/sys-{key}.csv"):
            f = line.strip().split(",")
            if len(f) > 2 and f[2].startswith("syscalls:sys_enter_") and f[0].isdigit():
                counts[f[2].removeprefix("syscalls:sys_enter_")] = int(f[0])
        return reqs, counts
    except (FileNotFoundError, ValueError):
        return 0, {}
sr, sc = syscalls("strangler")
nr, nc = syscalls("nginx")
hr, hc = syscalls("strangler-shadow")
if sr and nr:
    hr = hr or 1
    w("\n## Syscalls per request (strangler vs NGINX proxy, same load)\n")
    w("| syscall | strangler | NGINX | strangler, shadowed route |")
    w("|---|---:|---:|---:|")
    names = sorted(set(sc) | set(nc) | set(hc), key=lambda n: -(sc.get(n, 0) / sr))
    for n in names:
        a, b, c = sc.get(n, 0) / sr, nc.get(n, 0) / nr, hc.get(n, 0) / hr
        if a >= 0.005 or b >= 0.005 or c >= 0.005:
            w(f"| {n} | {a:.2f} | {b:.2f} | {c:.2f} |")
    w(f"| **total** | **{sum(sc.values()) / sr:.2f}** | **{sum(nc.values()) / nr:.2f}** | **{sum(hc.values()) / hr:.2f}** |")
    w(f"\nCounted over a whole 3 s wrk run (-c{conns}): strangler {sr:,.0f} requests, NGINX {nr:,.0f} (from the origin's stub_status). "
      "The rest of the 6 s perf window is idle (a few epoll_wait).")
if selfs_sh:
    try:
        sh_rps, sh_cpu, sh_secs = open(f"{tmp}/shadow-load.txt").read().split()
    except (FileNotFoundError, ValueError):
        sh_rps, sh_cpu, sh_secs = "0", "?", "?"
    tot_sh = group_totals(selfs_sh)
    w("\n## Shadowed route (`shadow: {sample: 1.0}`)\n")
    w(f"GET /shadowed/item, same load, `perf record -g` {sh_secs} s: {int(sh_rps):,} req/s, strangler CPU {sh_cpu} µs "
      f"per request (plain route above: {cpu_us} µs).\n")
    w("| group | self % (shadowed) | self % (plain) |")
    w("|---|---:|---:|")
    for name, v in sorted(tot_sh.items(), key=lambda kv: -kv[1]):
        w(f"| {name} | {v:.1f} | {totals.get(name, 0):.1f} |")
    w("\n| # | self % | function |")
    w("|---:|---:|---|")
    for i, (p, s, k) in enumerate([x for x in selfs_sh if not x[2]][:30], 1):
        s = s.replace("|", "\\|")
        w(f"| {i} | {p:.2f} | `{s}` |")
    w("\n(user-space functions only; the kernel's share is in the group table)")
try:
    inc = open(f"{tmp}/inclusive.txt").read().strip()
except FileNotFoundError:
    inc = ""
def pct(l):
    m = re.match(r"\s*([\d.]+)%", l)
    return float(m.group(1)) if m else 0.0
if inc:
    lines = [tidy(l).strip() for l in inc.splitlines()]
    w("\n## Inclusive time (children), DWARF call graphs, 4 s\n")
    w("The request path below the runtime plumbing (entries above 75%, thread start and the tokio worker loop, left out); "
      "columns: children %, self %.\n")
    w("```")
    w("\n".join(l for l in lines if 1.0 <= pct(l) < 75.0)[:6000])
    w("```")
    own = [l for l in lines if "strangler::" in l or "hyper_util::client" in l or "Upstream" in l]
    if own:
        w("\n### strangler's own functions and the upstream client, inclusive\n")
        w("```")
        w("\n".join(own[:40]))
        w("```")
try:
    ac = open(f"{tmp}/alloc-callers.txt").read().strip()
except FileNotFoundError:
    ac = ""
if ac:
    w("\n## Who allocates: callers of the allocator (DWARF call graphs, 4 s)\n")
    w("Percentages are of all samples; under each allocator symbol, its immediate callers first, then their callers (at most 9 frames).\n")
    w("```")
    w("\n".join(tidy(l) for l in ac.splitlines()[:220]))
    w("```")
open(out, "w").write("\n".join(o) + "\n")
print("\n".join(o[:60]))
PY
log "written: $OUT"
