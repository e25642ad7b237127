#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install dependencies, build, run every test.
# Tests that need the shared fixtures look in ../shared (or $QI_SHARED_DIR); the Vulkan tests use Mesa's
# lavapipe when there is no GPU, with the validation layers on.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install_deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 900
