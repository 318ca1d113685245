#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, builds once
# (release), runs the unit, property, simulator and real-kernel tests, the
# lab harness self-test and the lab scenarios on real systemd machines, and
# checks that nothing was left behind.
#   bash tests/run.sh            everything
#   HBD_SEEDS=N                  simulator seeds per cluster size (default 700)
#   HBD_LONG=1                   the long runs too (30-minute nemesis, 32 simulated nodes under faults)
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=$HOME/.cargo/bin:$PATH
export CARGO_TERM_COLOR=never

bash tests/deps.sh || { echo "installing dependencies failed"; exit 1; }

failed=()
step() { # NAME CMD...
    local name=$1
    shift
    echo
    echo "=== $name"
    local t0=$SECONDS
    if "$@"; then
        echo "=== $name: ok ($((SECONDS - t0)) s)"
    else
        echo "=== $name: FAILED ($((SECONDS - t0)) s)"
        failed+=("$name")
    fi
}

step "format" cargo fmt --check
step "clippy" cargo clippy --release --all-targets -- -D warnings
step "build" cargo build --release --bins --examples
export HBD_BIN=$PWD/target/release
# Unit, property, simulator (2,100 seeds over 2, 3 and 5 nodes), D-Bus,
# netlink and systemd-machine tests.
step "cargo test" cargo test --release --no-fail-fast -- --test-threads=2
# HBD_LONG=1: also the simulator's long profiles (32 nodes under faults).
if [[ ${HBD_LONG:-0} == 1 ]]; then
    step "simulator, long profiles" cargo test --release --test sim_scale -- --ignored
fi
# Coverage-guided fuzzing, 10 s per target over the committed corpora (the
# build is most of this step; a longer run: FUZZ_SECONDS=N bash fuzz/ci.sh).
step "fuzz (10 s per target)" env CARGO_BUILD_JOBS=2 FUZZ_SECONDS=10 bash fuzz/ci.sh
step "lab self-test" bash tests/lab/selftest.sh
# README command 1, as a user runs it.
step "demo (README command 1)" bash tests/lab/demo.sh
step "lab scenarios" bash tests/lab/scenarios.sh
step "lab supervision" bash tests/lab/supervision.sh
step "lab checks" bash tests/lab/checks.sh
step "lab scale (1,000 VIP groups, 1,000 unit groups)" bash tests/lab/scale.sh
# Rolling upgrade from the previous release (v0.2.0, built from this
# repository's history and cached in /var/cache/hbd-tests/), and from it to a
# build whose frames carry a field no release knows.
step "lab upgrade" bash tests/lab/upgrade.sh
step "lab monitoring" bash tests/lab/monitoring.sh
step "lab cockpit" bash tests/lab/cockpit.sh
step "lab nemesis (3 min)" bash tests/lab/nemesis.sh
step "lab hardening" bash tests/lab/hardening.sh
# The Heartbeat set-ups of docs/recipes/, imported from tests/seeds/.
step "lab recipes" bash tests/lab/recipes.sh
step "debian package" bash tests/deb/run.sh
step "benchmark (quick)" bash bench/run.sh --quick
step "nothing left behind" bash -c 'source tests/lab/lab.sh && lab_check_clean && [[ -z $(ip netns list) ]]'

echo
if ((${#failed[@]})); then
    echo "FAILED steps: ${failed[*]}"
    exit 1
fi
echo "all steps passed"
