#!/usr/bin/env bash
# Every scenario of the benchmark, one after the other, into one report:
#
#     bench/all.sh                          # ~15 min (+ pingora's first build); writes bench/results/all.md
#     bench/all.sh tls mirror               # some of them
#     MAIN=1 bench/all.sh                   # bench/run.sh first (~15 min more), its report included
#     ROUNDS=1 DURATION=3 HS_DURATION=2 SC_DURATION=2 bench/all.sh   # quick check, ~4 min
#
# Scenarios: tls (bench/tls.sh), mirror, scale, syscalls, pingora; each writes
# bench/results/NAME.md (and NAME-raw.tsv), and all.md puts them together. A
# scenario that fails is reported as such with the end of its log; the others
# still run. The environment (ROUNDS, DURATION, BENCH_PORT_BASE, STRANGLER_BIN,
# SKIP_BUILD, PIN, ...) is passed to every script; strangler is built once, first,
# unless SKIP_BUILD=1. ALL_OUT=bench/results/all.md: where the combined report goes.
set -uo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
RESULTS_DIR="$BENCH_DIR/results"
ALL_OUT="${ALL_OUT:-$RESULTS_DIR/all.md}"
if [[ $# -gt 0 ]]; then SCENARIOS=("$@"); else SCENARIOS=(tls mirror scale syscalls pingora); fi
[[ ${MAIN:-0} == 1 ]] && SCENARIOS=(run "${SCENARIOS[@]}")
LOGS="$(mktemp -d /tmp/strangler-all.XXXXXX)"
START=$(date +%s)
mkdir -p "$RESULTS_DIR"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  bash -c 'source "$1/lib.sh" && build_strangler' _ "$BENCH_DIR" || { log "the strangler build failed"; exit 1; }
fi
export SKIP_BUILD=1

declare -A RC
for s in "${SCENARIOS[@]}"; do
  [[ -x $BENCH_DIR/$s.sh ]] || { log "no executable bench/$s.sh"; echo "no executable bench/$s.sh" >"$LOGS/$s.log"; RC[$s]=127; continue; }
  if [[ $s == run ]]; then out="$RESULTS_DIR/latest.md"; else out="$RESULTS_DIR/$s.md"; fi
  log "=== $s → $out (log: $LOGS/$s.log)"
  t0=$(date +%s)
  OUT="$out" "$BENCH_DIR/$s.sh" 2>&1 | tee "$LOGS/$s.log" >&2
  RC[$s]=${PIPESTATUS[0]}
  log "=== $s: exit ${RC[$s]} after $(( $(date +%s) - t0 )) s"
done

{
  echo "# strangler benchmark: all scenarios"
  echo
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on commit \`$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)\`; \`bench/all.sh ${SCENARIOS[*]}\`;"
  echo "environment: $(env | grep -E '^(ROUNDS|DURATION|HS_DURATION|SC_DURATION|LAT_DURATION|SCALE_LEVELS|SC_LEVELS|LEVEL_WARMUP|CONNS|PIN|BENCH_PORT_BASE|STRANGLER_BIN)=' | sort | paste -sd' ' || true)."
  echo "Total wall time: $(( $(date +%s) - START )) s. Each section below is also in bench/results/NAME.md."
  echo
  for s in "${SCENARIOS[@]}"; do
    if [[ $s == run ]]; then f="$RESULTS_DIR/latest.md"; else f="$RESULTS_DIR/$s.md"; fi
    if [[ ${RC[$s]} == 0 && -f $f && $(stat -c %Y "$f") -ge $START ]]; then
      sed -e 's/^# /## /' "$f"
    else
      echo "## $s: FAILED (exit ${RC[$s]})"
      echo
      echo '```'
      tail -n 15 "$LOGS/$s.log" 2>/dev/null
      echo '```'
    fi
    echo
  done
} >"$ALL_OUT"
log "written: $ALL_OUT (logs in $LOGS)"
for s in "${SCENARIOS[@]}"; do [[ ${RC[$s]} == 0 ]] || exit 1; done
