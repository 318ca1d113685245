#!/usr/bin/env bash
# Usage: fuzz/run_one.sh TARGET SECONDS — one long libFuzzer run of TARGET on
# one core under nice, growing fuzz/corpus-run/TARGET (seeded from
# fuzz/corpus/TARGET); the log is fuzz/runs/TARGET/fuzz-0.log.
set -euo pipefail
cd "$(dirname "$0")"
t=$1 secs=$2
bin=$PWD/target/x86_64-unknown-linux-gnu/release/$t
mkdir -p "corpus-run/$t" "runs/$t" "artifacts/$t"
cp -n corpus/"$t"/* "corpus-run/$t/"
dict=()
[[ -f dict/$t.dict ]] && dict=(-dict="$PWD/dict/$t.dict")
cd "runs/$t"
exec nice -n 19 "$bin" "$PWD/../../corpus-run/$t" "${dict[@]}" -max_total_time="$secs" -jobs=1 -workers=1 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$PWD/../../artifacts/$t/"
