#!/usr/bin/env bash
# Ferroplane's whole test suite, set-up included. This is the README's test command and the
# only thing .ci/run calls.
#
#   scripts/test.sh            # everything
#   STAGES="unit miri" scripts/test.sh   # a subset of: setup lint unit miri loom fuzz benchsmoke
#   FUZZ_SECONDS=60            # length of the bounded fuzz run (default 60)
#
# As root, tests that need root (veth, namespaces, AF_XDP, TAP) run for real, and a skip among
# them is a failure (FERROPLANE_REQUIRE_PRIVILEGED=1). Without root they skip with a reason.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)
STAGES="${STAGES:-setup lint unit miri loom fuzz benchsmoke}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
LOG_DIR="${LOG_DIR:-$ROOT_DIR/target/test-logs}"
mkdir -p "$LOG_DIR"
export CARGO_TERM_COLOR=never
export RUST_BACKTRACE=1
if [ "$(id -u)" -eq 0 ]; then
    export FERROPLANE_REQUIRE_PRIVILEGED="${FERROPLANE_REQUIRE_PRIVILEGED:-1}"
    echo "test: running as root: privileged tests (veth, netns, AF_XDP, TAP) run for real"
else
    echo "test: not root: privileged tests (veth, netns, AF_XDP, TAP) will skip with a reason"
fi
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

failed_stages=()
suite_start=$(date +%s)

# run_stage NAME COMMAND...: runs one stage, logs it, and times it.
run_stage() {
    local name=$1; shift
    local start; start=$(date +%s)
    echo "::: stage $name: $*"
    "$@" 2>&1 | tee "$LOG_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "::: stage $name: exit $rc after $(( $(date +%s) - start ))s"
    [ "$rc" -eq 0 ] || failed_stages+=("$name")
    return 0
}
want() { [[ " $STAGES " == *" $1 "* ]]; }

if want setup; then run_stage setup bash scripts/setup.sh; fi

if want lint; then
    run_stage fmt cargo fmt --all -- --check
    run_stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
    run_stage doc env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
fi

if want unit; then
    run_stage unit cargo test --workspace --locked --no-fail-fast
fi

if want miri; then
    # Miri runs the single-threaded (and small multi-threaded) tests of the crates that own
    # unsafe memory handling, over heap memory.
    run_stage miri env MIRIFLAGS="-Zmiri-disable-isolation" \
        cargo +nightly miri test --locked -p ferroplane-ring -p ferroplane-mempool
    # The exact-match table's unsafe (aligned key store, SIMD signature compare); its RSS tests
    # are too slow under Miri and hold no unsafe.
    run_stage miri-classify env MIRIFLAGS="-Zmiri-disable-isolation" \
        cargo +nightly miri test --locked -p ferroplane-classify --lib hash::tests
fi

if want loom; then
    run_stage loom env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$ROOT_DIR/target/loom" \
        cargo test --locked --release -p ferroplane-ring --test loom
fi

if want fuzz; then
    fuzz_run() {
        (cd net/fuzz && cargo +nightly fuzz build parse) || return 1
        local seeds; seeds=$(mktemp -d)
        # Work on a copy so the committed corpus only grows when someone chooses to.
        cp -r net/fuzz/corpus/parse/. "$seeds"/ 2>/dev/null || true
        (cd net/fuzz && cargo +nightly fuzz run parse "$seeds" -- -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048)
        local rc=$?
        rm -rf "$seeds"
        return $rc
    }
    if [ -d net/fuzz ]; then run_stage fuzz fuzz_run; fi
fi

if want benchsmoke; then
    # The README's demo in its short mode, then the benchmark suite in its quick mode: they prove
    # the scripts work (a few seconds per case) and assert no speed. Release builds here trade
    # run-time speed for build time (no LTO, parallel codegen), since nothing is measured.
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
    run_stage demo env DEMO_SKIP_SETUP=1 DEMO_SECONDS=3 DEMO_OUT="$ROOT_DIR/target/demo" \
        bash scripts/demo.sh
    run_stage bench env BENCH_OUT="$ROOT_DIR/target/bench-smoke" bash scripts/bench.sh --quick
    unset CARGO_PROFILE_RELEASE_LTO CARGO_PROFILE_RELEASE_CODEGEN_UNITS
fi

# One closing line over every cargo test run of this suite.
passed=0; failed=0; ignored=0
for f in "$LOG_DIR"/*.log; do
    while read -r p fl ig; do
        passed=$((passed + p)); failed=$((failed + fl)); ignored=$((ignored + ig))
    done < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$f")
done
echo "::: suite took $(( $(date +%s) - suite_start ))s"
if [ ${#failed_stages[@]} -gt 0 ]; then
    echo "::: FAILED stages: ${failed_stages[*]}"
    [ "$failed" -gt 0 ] || failed=${#failed_stages[@]}
fi
echo "tests: $passed passed, $failed failed, $ignored skipped"
[ ${#failed_stages[@]} -eq 0 ]
