#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, build, run every test, then
# the reliability checks (docs/reliability.md):
#   1. the Release build and every test (ctest);
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan, -DQI_SANITIZE=ON) running every
#      test binary (QI_ASAN_AREAS) on the CPU backend and lavapipe (leak detection on where no Vulkan driver
#      is loaded; see below);
#   3. each libFuzzer target for QI_FUZZ_SECONDS seconds (tools/run_fuzzers.sh).
# Tests that need the shared fixtures look in ../shared (or $QI_SHARED_DIR); the Vulkan tests use Mesa's
# lavapipe when there is no GPU, with the validation layers on (synchronization validation included).
# QI_SKIP_ASAN=1 / QI_SKIP_FUZZ=1 leave out step 2 / 3 (for quick local runs; CI runs everything).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's wall time goes to stderr ("== took: ..."), so a slow CI run shows where the time went.
stage_start=$SECONDS
took() {
  echo "== took: $1 $((SECONDS - stage_start)) s (total $SECONDS s)" >&2
  stage_start=$SECONDS
}
./tools/install_deps.sh
took "dependencies"
JOBS=${JOBS:-$(nproc)}
# Ninja for new build trees (an existing tree keeps the generator it was made with): on the 2-core CI machine
# it built the sanitizer tree in 365 s against 394 s with make (2026-11-23).
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
took "Release build"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900
took "ctest"

# The sanitizer run covers every test area, the numeric parity suites (ops, model, e2e) included: with the
# -O1 -g1 build they add about 2.5 minutes on the 2-core CI machine (measured 2026-11-22: build 1 min,
# test_ops 19 s, test_model 18 s, test_e2e 52 s under ASan).
# The default order is longest first (2-core machine, 2026-11-23: cli 105 s, e2e 67, model 52, vulkan 41,
# ops 28, text 14, io 4, core and pipeline under 1), so that the areas run JOBS at a time finish together:
# each test binary keeps about one core busy.
QI_ASAN_AREAS=${QI_ASAN_AREAS:-"cli e2e model vulkan ops text io core pipeline"}
if [[ ${QI_SKIP_ASAN:-0} != 1 ]]; then
  # -O1 -g1: the optimisation level AddressSanitizer recommends, and line tables only (file:line in reports);
  # src/model/mmdit.cpp compiles in 11 s instead of 45 s with RelWithDebInfo's -O2 -g.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DQI_SANITIZE=ON >/dev/null
  targets=()
  for area in $QI_ASAN_AREAS; do targets+=("test_$area"); done
  cmake --build build-asan -j "$JOBS" --target "${targets[@]}" qwen-image-vk
  took "ASan+UBSan build"
  # Leak detection is on for the areas that never load a Vulkan driver (core, io, text, pipeline). lavapipe
  # (and the validation layer) keep process-lifetime allocations and are dlclose'd by the loader at vkDestroyInstance, so their leaks
  # are reported with "<unknown module>" frames that no suppression can match, and LeakSanitizer's slow
  # unwinder (which would see the loader's frames) deadlocks in the driver's threads. The Vulkan areas run
  # with ASan's memory-error checks and UBSan but without leak detection.
  # Up to JOBS areas run at once, each writing build-asan/<area>.log; a failed area's log is shown at the end.
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_asan_area() {
    local area=$1 leaks=1
    [[ $area == vulkan || $area == cli || $area == ops || $area == model || $area == e2e ]] && leaks=0
    echo "== ASan+UBSan: test_$area (detect_leaks=$leaks)" >&2
    ASAN_OPTIONS=detect_leaks=$leaks:halt_on_error=1 QI_VALIDATION=1 "build-asan/tests/test_$area" --gtest_brief=1 \
      >"build-asan/$area.log" 2>&1
  }
  # Finished areas are found by polling: bash's `wait -n` does not report a job that ended before it was
  # called, and `wait PID` does, with its status.
  declare -A area_of=()
  failed=()
  reap_finished() {
    local pid
    for pid in "${!area_of[@]}"; do
      kill -0 "$pid" 2>/dev/null && continue
      if wait "$pid"; then
        echo "== ASan+UBSan: test_${area_of[$pid]} passed" >&2
      else
        failed+=("${area_of[$pid]}")
        echo "== ASan+UBSan: test_${area_of[$pid]} FAILED" >&2
      fi
      unset "area_of[$pid]"
    done
  }
  for area in $QI_ASAN_AREAS; do
    while ((${#area_of[@]} >= JOBS)); do
      sleep 1
      reap_finished
    done
    run_asan_area "$area" &
    area_of[$!]=$area
  done
  while ((${#area_of[@]} > 0)); do
    sleep 1
    reap_finished
  done
  for area in "${failed[@]}"; do
    echo "== log of test_$area (build-asan/$area.log):" >&2
    cat "build-asan/$area.log" >&2
  done
  ((${#failed[@]} == 0)) || exit 1
  took "ASan+UBSan tests"
fi

if [[ ${QI_SKIP_FUZZ:-0} != 1 ]]; then
  ./tools/run_fuzzers.sh "${QI_FUZZ_SECONDS:-30}"
  took "fuzzers"
fi
