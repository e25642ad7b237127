#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer) into build-fuzz and
# runs each for a bounded time: tools/run_fuzzers.sh [SECONDS_PER_TARGET]   (default 30).
# Seeds come from fuzz/corpus/<target> (read only); new inputs go to build-fuzz/corpus/<target>; a crash
# leaves its input as build-fuzz/crash-* and makes the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-30}
TARGETS=(fuzz_safetensors fuzz_config fuzz_tokenizer)

# -O1 -g1 (line tables): what libFuzzer's documentation builds with, and much quicker to compile than -O2 -g.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DQI_FUZZ=ON -DQI_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target "${TARGETS[@]}" -j "$(nproc)"

# The targets run side by side (each for its full time), so the whole step takes SECONDS_PER_TARGET plus
# start-up whatever the core count; each writes its own log, shown at the end.
pids=()
for target in "${TARGETS[@]}"; do
  mkdir -p "build-fuzz/corpus/$target"
  echo "== $target: ${SECONDS_PER_TARGET} s (log: build-fuzz/$target.log)" >&2
  dict=()  # the JSON dictionary helps the parsers of JSON headers and configs, not the tokenizer
  [[ $target == fuzz_tokenizer ]] || dict=(-dict=fuzz/json.dict)
  "build-fuzz/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" "${dict[@]}" -print_final_stats=1 \
    -artifact_prefix=build-fuzz/ "build-fuzz/corpus/$target" "fuzz/corpus/$target" >"build-fuzz/$target.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!TARGETS[@]}"; do
  if ! wait "${pids[$i]}"; then
    status=1
    echo "== ${TARGETS[$i]} FAILED:" >&2
    tail -40 "build-fuzz/${TARGETS[$i]}.log" >&2
  else
    echo "== ${TARGETS[$i]}: $(grep -E 'stat::number_of_executed_units' "build-fuzz/${TARGETS[$i]}.log" | tail -1)" >&2
  fi
done
exit $status
