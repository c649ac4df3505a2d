#!/usr/bin/env bash
# The release build, profile-guided: what to run in production.
#
#     deploy/pgo.sh                                   # -> target/pgo/strangler (~10 min on 2 cores)
#     deploy/pgo.sh --no-default-features --features fleet   # the proxy alone, as the image builds it
#
# Four steps, with the toolchain's own LLVM tools (`rustup component add
# llvm-tools`, done here if missing):
#   1. an instrumented build (`-Cprofile-generate`) in target/pgo/gen;
#   2. a training run: `examples/pgo_train/` drives it through HTTP/1.1 at
#      1, 50 and 500 connections, uploads, a shadowed route, h2c, HTTPS
#      (HTTP/1.1, h2, fresh handshakes) and refused requests, against
#      in-process origins on 127.0.0.1 (~115,000 requests, every answer checked);
#   3. the counts merged (llvm-profdata) into target/pgo/strangler.profdata;
#   4. the release build again with `-Cprofile-use`: the compiler lays out and
#      inlines the request path by what ran. The same source and behaviour
#      as `cargo build --release`; fewer instructions and far fewer
#      instruction-cache misses per request (README, "Performance").
# Arguments are passed to both cargo builds of the proxy (features).
# Environment: JOBS=2 (cargo -j), PROFDATA (see below).
# `--target` is given so that RUSTFLAGS reach the proxy's crates only, not
# build scripts or proc-macros. Exits non-zero if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT="$ROOT/target/pgo"
HOST=$(rustc -vV | sed -n 's/^host: //p')
# The toolchain's own (its LLVM reads the profiles rustc writes); PROFDATA=
# another llvm-profdata of the same LLVM version, for a toolchain without rustup.
PROFDATA="${PROFDATA:-$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata}"
JOBS="${JOBS:-2}"

step() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

if [[ ! -x $PROFDATA ]]; then
  command -v rustup >/dev/null || {
    echo "no llvm-profdata at $PROFDATA, and no rustup to add it (llvm-tools); set PROFDATA" >&2
    exit 1
  }
  step "installing the toolchain's llvm-tools (llvm-profdata)"
  rustup component add llvm-tools
fi
[[ -x $PROFDATA ]] || { echo "no llvm-profdata at $PROFDATA" >&2; exit 1; }

rm -rf "$OUT/profiles"
mkdir -p "$OUT/profiles"

step "1/4 instrumented build (target/pgo/gen)"
RUSTFLAGS="-Cprofile-generate=$OUT/profiles" \
  cargo build --release --locked -j"$JOBS" -p strangler --bin strangler \
  --target "$HOST" --target-dir "$OUT/gen" "$@"

step "2/4 training run (examples/pgo_train/)"
cargo build --release --locked -j"$JOBS" --example pgo_train
LLVM_PROFILE_FILE="$OUT/profiles/strangler-%p-%m.profraw" \
  "$ROOT/target/release/examples/pgo_train" "$OUT/gen/$HOST/release/strangler"

step "3/4 merging the profiles"
shopt -s nullglob
raw=("$OUT"/profiles/*.profraw)
(( ${#raw[@]} > 0 )) || { echo "the training run wrote no profile" >&2; exit 1; }
"$PROFDATA" merge -o "$OUT/strangler.profdata" "${raw[@]}"

step "4/4 optimised build (target/pgo/use)"
RUSTFLAGS="-Cprofile-use=$OUT/strangler.profdata" \
  cargo build --release --locked -j"$JOBS" -p strangler --bin strangler \
  --target "$HOST" --target-dir "$OUT/use" "$@"
cp "$OUT/use/$HOST/release/strangler" "$OUT/strangler"
"$OUT/strangler" --version >/dev/null
step "done: target/pgo/strangler"
