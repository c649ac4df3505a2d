#!/usr/bin/env bash
# TLS termination, strangler against NGINX, paired by round — one command:
#
#     bench/tls.sh                          # ~2.5 min (3 rounds); writes bench/results/tls.md
#     ROUNDS=1 DURATION=3 HS_DURATION=2 bench/tls.sh   # quick check
#
# One ECDSA P-256 self-signed certificate (openssl, in the temp dir) for both:
#   NGINX:     listen ... ssl http2; ssl_protocols TLSv1.3; ssl_conf_command
#              Ciphersuites TLS_AES_128_GCM_SHA256; a shared session cache
#              with tickets off (stateful resumption, as rustls' default)
#   strangler: tls: { cert: cert.pem, key: key.pem } (rustls, ring, its defaults)
# The clients (s_time, wrk, h2load: all OpenSSL) run with an OPENSSL_CONF that
# offers only TLS 1.3 and TLS_AES_128_GCM_SHA256, so both servers negotiate it;
# what s_client negotiates with each (default client and the bench's) is reported.
# Per round, each kind on both proxies back to back (which goes first alternates): full handshakes/s (s_time -new), resumed (s_time -reuse),
# req/s over HTTP/1.1 (wrk, $CONNS connections; and h2load --h1 -c$CONNS -m1, a second
# HTTP/1.1 client) and over HTTP/2 (h2load -c$CONNS -m$STREAMS). Both keep at most
# 64 idle upstream connections (keepalive 64 / max_idle: 64), under HTTP/2's
# $CONNS x $STREAMS requests in flight: so the HTTP/2 load also runs against a
# second pair whose cap covers it (keepalive / max_idle: $COVER), and each
# HTTP/2 run counts the upstream connections opened (the origin's accepts).
# And one client with one request in flight: wrk -c1 (HTTP/1.1), h2load -c1 -m1 (HTTP/2).
#
# Environment: ROUNDS=3 DURATION=5 (s, wrk and h2load) HS_DURATION=3 (s, s_time)
#   CONNS=50 STREAMS=10 COVER=CONNS*STREAMS BENCH_PORT_BASE=28100 STRANGLER_BIN SKIP_BUILD=1 PIN=1 KEEP_TMP=1
#   OUT=bench/results/tls.md TLS_KINDS (a subset of: new reuse h1 h2 h2-cover h1-h2load
#   h1-one h2-one; all by default), e.g. TLS_KINDS="h1-one h2-one" ROUNDS=10 for the
#   one-connection pairs alone
set -euo pipefail
# shellcheck source=bench/scenario_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scenario_lib.sh"

HS_DURATION="${HS_DURATION:-3}"
CONNS="${CONNS:-50}"
STREAMS="${STREAMS:-10}"
COVER="${COVER:-$((CONNS * STREAMS))}"
NGINX_TLS_PORT=$(xport 7)
STRANGLER_TLS_PORT=$(xport 8)
NGINX_COVER_PORT=$(xport 9)
STRANGLER_COVER_PORT=$(xport 10)
COVER_ADMIN_PORT=$(xport 11)
ALL_PORTS+=("$NGINX_TLS_PORT" "$STRANGLER_TLS_PORT" "$NGINX_COVER_PORT" "$STRANGLER_COVER_PORT" "$COVER_ADMIN_PORT")

need_tools nginx:nginx wrk:wrk h2load:nghttp2-client openssl:openssl curl:curl python3:python3 taskset:util-linux ss:iproute2 pgrep:procps
scenario_setup
fact hs_duration "$HS_DURATION"; fact conns "$CONNS"; fact streams "$STREAMS"; fact cover "$COVER"
fact h2load "$(h2load --version | awk '{print $2}')"
fact openssl "$(openssl version | awk '{print $1, $2}')"

# --- certificate, configs -------------------------------------------------------
mkdir -p "$TMP/tls" "$TMP/strangler-tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 || die "openssl could not make a certificate"
cp "$TMP/tls/cert.pem" "$TMP/tls/key.pem" "$TMP/strangler-tls/"
fact cert "$(openssl x509 -in "$TMP/tls/cert.pem" -noout -text | awk '/Public Key Algorithm|ASN1 OID|Signature Algorithm/ {sub(/^ +/, ""); print}' | sort -u | paste -sd';' | sed 's/;/; /g')"
cat >"$TMP/tls/client.cnf" <<'EOF'
openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
EOF
CLIENT_ENV=("OPENSSL_CONF=$TMP/tls/client.cnf")
NGINX_TLS="\
    ssl_certificate $TMP/tls/cert.pem;
    ssl_certificate_key $TMP/tls/key.pem;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
    ssl_session_cache shared:TLS:10m;
    ssl_session_tickets off;
    http2_max_concurrent_streams 100;"
nginx_proxy_conf nginx-tls "$NGINX_TLS_PORT" "$ORIGIN_PORT" 1 "ssl http2" "$NGINX_TLS"
nginx_proxy_conf nginx-cover "$NGINX_COVER_PORT" "$ORIGIN_PORT" 1 "ssl http2" "${NGINX_TLS//shared:TLS:/shared:TLSC:}" "$COVER"
strangler_simple_conf "$TMP/strangler-tls" "$STRANGLER_TLS_PORT" "$ADMIN_PORT" "$ORIGIN_PORT" 1 64 "tls: { cert: cert.pem, key: key.pem }"
strangler_simple_conf "$TMP/strangler-cover" "$STRANGLER_COVER_PORT" "$COVER_ADMIN_PORT" "$ORIGIN_PORT" 1 "$COVER" "tls: { cert: cert.pem, key: key.pem }"
cp "$TMP/tls/cert.pem" "$TMP/tls/key.pem" "$TMP/strangler-cover/"

# start_pair NAME NGINX_PORT STRANGLER_PORT: NGINX ($TMP/nginx-NAME.conf) and strangler
# ($TMP/strangler-NAME/), each up; their pids in NGINX_PID and STRANGLER_PID.
start_pair() {
  NGINX_PID=$(start_bg "nginx-$1" "$PROXY_CPU" nginx -p "$TMP" -e "$TMP/logs/nginx-$1.err" -c "$TMP/nginx-$1.conf" -g 'daemon off;')
  PIDS+=("$NGINX_PID")
  wait_up "nginx-$1" "https://127.0.0.1:$2/" -k
  STRANGLER_PID=$(start_bg "strangler-$1" "$PROXY_CPU" env RUST_LOG=warn "$STRANGLER_BIN" run --config "$TMP/strangler-$1/routes.yaml")
  PIDS+=("$STRANGLER_PID")
  wait_up "strangler-$1" "https://127.0.0.1:$3/" -k
}

start_origin
start_pair tls "$NGINX_TLS_PORT" "$STRANGLER_TLS_PORT"
NGINX_TLS_PID=$NGINX_PID STRANGLER_TLS_PID=$STRANGLER_PID
start_pair cover "$NGINX_COVER_PORT" "$STRANGLER_COVER_PORT"
NGINX_COVER_PID=$NGINX_PID STRANGLER_COVER_PID=$STRANGLER_PID

declare -A PORT_OF=([nginx]="$NGINX_TLS_PORT" [strangler]="$STRANGLER_TLS_PORT")
declare -A PID_OF=([nginx]="$NGINX_TLS_PID" [strangler]="$STRANGLER_TLS_PID")
declare -A COVER_PORT_OF=([nginx]="$NGINX_COVER_PORT" [strangler]="$STRANGLER_COVER_PORT")
declare -A COVER_PID_OF=([nginx]="$NGINX_COVER_PID" [strangler]="$STRANGLER_COVER_PID")

# What each negotiates: with OpenSSL's default client offer, and with the bench's.
negotiated() { # negotiated PORT [env...]
  local port="$1"; shift
  echo | env "$@" openssl s_client -connect "127.0.0.1:$port" -alpn h2,http/1.1 2>/dev/null | tr -d '\000' | awk '
    /^New, / { sub(/^New, /, ""); p = $0 } /^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); k = $0 }
    /^ALPN protocol:/ { a = $3 } /^Peer signature type:/ { s = $4 }
    END { printf "%s, key exchange %s, signature %s, ALPN %s", p, k, s, a }'
}
for t in nginx strangler; do
  fact "neg_default_$t" "$(negotiated "${PORT_OF[$t]}")"
  fact "neg_bench_$t" "$(negotiated "${PORT_OF[$t]}" "${CLIENT_ENV[@]}")"
  fact "h2load_$t" "$(env "${CLIENT_ENV[@]}" h2load -n1 -c1 "https://127.0.0.1:${PORT_OF[$t]}/api/item" 2>&1 | awk -F': ' '/^(TLS Protocol|Cipher|Server Temp Key|Application protocol)/ {printf "%s%s", sep, $2; sep = ", "}')"
  u="https://127.0.0.1:${PORT_OF[$t]}/api/item"
  code=$(curl -sk -o /dev/null -w '%{http_code} %{http_version}' "$u")
  [[ $code == "200 2" ]] || die "$t answers '$code' on $u, not '200 2' (HTTP/2 over TLS)"
  log "$t: $(grep "^neg_bench_$t=" "$FACTS" | cut -d= -f2-)"
done

log "warm-up: ${WARMUP}s per target"
for t in nginx strangler; do
  run_wrk "warm-$t" "$CONNS" "$WARMUP" "https://127.0.0.1:${PORT_OF[$t]}/api/item" >/dev/null
  run_h2load "warm-$t-cover" "$CONNS" "$STREAMS" "$WARMUP" "https://127.0.0.1:${COVER_PORT_OF[$t]}/api/item" >/dev/null
done

# measure KIND TARGET ROUND: one run of one kind of load against one proxy.
measure() {
  local k="$1" t="$2" r="$3" p=${PORT_OF[$2]} pid=${PID_OF[$2]}
  case $k in
    new | reuse) record "$t/$k" 1 "$r" "$(client_cpu run_stime "$t" "$k" "$HS_DURATION" "127.0.0.1:$p" /api/item "$pid")" ;;
    h1) record "$t/h1" "$CONNS" "$r" "$(client_cpu run_wrk "$t-h1" "$CONNS" "$DURATION" "https://127.0.0.1:$p/api/item" "$pid")" ;;
    h2) record "$t/h2" "$CONNS" "$r" "$(origin_conns client_cpu run_h2load "$t-h2" "$CONNS" "$STREAMS" "$DURATION" "https://127.0.0.1:$p/api/item" "$pid")" ;;
    h2-cover) record "$t/h2-cover" "$CONNS" "$r" "$(origin_conns client_cpu run_h2load "$t-h2cover" "$CONNS" "$STREAMS" "$DURATION" "https://127.0.0.1:${COVER_PORT_OF[$t]}/api/item" "${COVER_PID_OF[$t]}")" ;;
    # The same HTTP/1.1 load from another client (no SNI for an IP address, unlike wrk).
    h1-h2load) record "$t/h1-h2load" "$CONNS" "$r" "$(client_cpu run_h2load "$t-h1h2load" "$CONNS" 1 "$DURATION" "https://127.0.0.1:$p/api/item" "$pid" --h1)" ;;
    # One client, one request in flight (a browser tab's latency, not a throughput): over HTTP/1.1 and HTTP/2.
    h1-one) record "$t/h1-one" 1 "$r" "$(client_cpu run_wrk "$t-h1one" 1 "$DURATION" "https://127.0.0.1:$p/api/item" "$pid")" ;;
    h2-one) record "$t/h2-one" 1 "$r" "$(client_cpu run_h2load "$t-h2one" 1 1 "$DURATION" "https://127.0.0.1:$p/api/item" "$pid")" ;;
  esac
}
read -ra KINDS <<<"${TLS_KINDS:-new reuse h1 h2 h2-cover h1-h2load h1-one h2-one}"
for ((r = 1; r <= ROUNDS; r++)); do
  # Each kind of load runs on both proxies back to back (the machine has
  # slower and faster spells lasting tens of seconds: the two runs of a pair
  # should share one), the proxy that goes first alternating from one kind
  # to the next and between rounds.
  for i in "${!KINDS[@]}"; do
    if (( (r + i) % 2 )); then order=(nginx strangler); else order=(strangler nginx); fi
    for t in "${order[@]}"; do measure "${KINDS[$i]}" "$t" "$r"; done
  done
done
for t in nginx strangler; do
  alive "${PID_OF[$t]}" || log "WARNING: $t exited during the run: $(tail -n 5 "$TMP/logs/$t-tls.out")"
  fact "log_$t" "$(grep -ciE 'error|warn|panic' "$TMP/logs/$t-tls.out" "$TMP/logs/$t-tls.err" 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}')"
done
for t in nginx-cover strangler-cover; do
  pid=$([[ $t == nginx-cover ]] && echo "$NGINX_COVER_PID" || echo "$STRANGLER_COVER_PID")
  alive "$pid" || log "WARNING: $t exited during the run: $(tail -n 5 "$TMP/logs/$t.out")"
done
fact strangler_log_tail "$(grep -iE 'error|warn|panic' "$TMP/logs/strangler-tls.out" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
finish_report tls
