#!/usr/bin/env bash
# Builds the fuzz targets and runs each one for a short while (default 20 s,
# FUZZ_SECONDS=N to change) over the committed corpus in fuzz/corpus/.
# Exits non-zero if a target fails to build or any input crashes; the
# crashing input is left in fuzz/artifacts/<target>/. See docs/fuzzing.md.
#
# Works with the stable toolchain: with `--sanitizer none` every flag
# cargo-fuzz passes to rustc is a stable -C flag (no RUSTC_BOOTSTRAP needed).
# Everything runs under `nice -n 19` and on one core (one libFuzzer process,
# cargo -j1): the fuzz run must not disturb anything else on the machine.
set -euo pipefail
cd "$(dirname "$0")"
export PATH=$HOME/.cargo/bin:$PATH
export CARGO_TERM_COLOR=never
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
secs=${FUZZ_SECONDS:-20}
flags=(-O -a -s none) # optimised, debug assertions and overflow checks on, no sanitizer

# libfuzzer-sys compiles libFuzzer (C++) in its build script.
if ! command -v c++ >/dev/null; then
    echo "fuzz/ci.sh: installing g++ for libFuzzer"
    if [[ $(id -u) == 0 ]]; then apt-get install -y g++; else sudo apt-get install -y g++; fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/ci.sh: installing cargo-fuzz"
    nice -n 19 cargo install --locked cargo-fuzz
fi

nice -n 19 cargo fuzz build "${flags[@]}"

failed=()
for t in $(cargo fuzz list); do
    # New inputs go to a scratch directory: the committed corpus stays as it is.
    scratch=$(mktemp -d)
    echo "=== fuzz $t (${secs} s)"
    if nice -n 19 cargo fuzz run "${flags[@]}" "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 25; then
        echo "=== fuzz $t: ok"
    else
        echo "=== fuzz $t: FAILED; crashing input in fuzz/artifacts/$t/"
        failed+=("$t")
    fi
    rm -rf "$scratch"
done
if ((${#failed[@]})); then
    echo "fuzz targets FAILED: ${failed[*]}"
    exit 1
fi
echo "all fuzz targets passed"
