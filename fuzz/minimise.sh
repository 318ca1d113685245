#!/usr/bin/env bash
# Usage: fuzz/minimise.sh TARGET — libFuzzer -merge=1 of fuzz/corpus-run/TARGET
# into fuzz/corpus/TARGET: the hand-made seeds (seed-*) stay, and only inputs
# that add coverage beyond them are added (named by their SHA-1).
# MERGE_FLAGS adds libFuzzer flags, e.g. -use_counters=0 (new edges only,
# not new hit counts) for a smaller corpus.
set -euo pipefail
cd "$(dirname "$0")"
t=$1
bin=$PWD/target/x86_64-unknown-linux-gnu/release/$t
rm -rf "corpus-min/$t"
mkdir -p "corpus-min/$t"
cp corpus/"$t"/seed-* "corpus-min/$t/"
nice -n 19 "$bin" -merge=1 ${MERGE_FLAGS:-} "corpus-min/$t" "corpus-run/$t" 2>&1 | grep -E "MERGE-OUTER|ERROR|panicked" || true
rm -rf "corpus/$t"
mv "corpus-min/$t" "corpus/$t"
rmdir corpus-min 2>/dev/null || true
echo "$t: $(ls "corpus/$t" | wc -l) files, $(du -sh "corpus/$t" | cut -f1)"
