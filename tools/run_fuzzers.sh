#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer) into build-fuzz and
# runs each for a bounded time: tools/run_fuzzers.sh [SECONDS_PER_TARGET]   (default 60).
# Seeds come from fuzz/corpus/<target> (read only); new inputs go to build-fuzz/corpus/<target>; a crash
# leaves its input as build-fuzz/crash-* and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
TARGETS=(fuzz_safetensors fuzz_config fuzz_tokenizer)

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQI_FUZZ=ON -DQI_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target "${TARGETS[@]}" -j "$(nproc)"

for target in "${TARGETS[@]}"; do
  mkdir -p "build-fuzz/corpus/$target"
  echo "== $target: ${SECONDS_PER_TARGET} s" >&2
  dict=()  # the JSON dictionary helps the parsers of JSON headers and configs, not the tokenizer
  [[ $target == fuzz_tokenizer ]] || dict=(-dict=fuzz/json.dict)
  "build-fuzz/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" "${dict[@]}" -print_final_stats=1 \
    -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$target" "fuzz/corpus/$target"
done
