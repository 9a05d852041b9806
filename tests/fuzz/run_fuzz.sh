#!/bin/sh
# Build the .fct reader fuzz target (clang, libFuzzer, address + undefined
# sanitizers) and run it for a bounded time, default 60 seconds, starting
# from seeds written by the writer. Exits non-zero on a crash, leak,
# sanitizer report or build failure; the crashing input is left in
# build/fuzz/ as crash-*.
#
#   sh tests/fuzz/run_fuzz.sh [SECONDS]
#
# Needs clang with its runtime (Debian: clang-14, libclang-rt-14-dev).
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/build/fuzz"
cc=${CLANG:-clang}
src="$root/weights/format.c $root/weights/f16.c $root/linalg/base.c"
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra"
flags="$flags -Wno-unused-parameter"

mkdir -p "$out/corpus" "$out/seeds"

# Seed corpus, written by the writer.
$cc $flags -DFUZZ_SEED_MAIN -o "$out/gen_seeds" \
    "$root/tests/fuzz/fuzz_weights.c" $src -lz -lm
rm -f "$out"/seeds/*
"$out/gen_seeds" "$out/seeds"

# The fuzzer.
$cc $flags -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -o "$out/fuzz_weights" "$root/tests/fuzz/fuzz_weights.c" $src -lz -lm

echo "fuzzing the .fct reader for $secs s (corpus in $out/corpus)"
"$out/fuzz_weights" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" "$out/seeds"
