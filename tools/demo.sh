#!/usr/bin/env bash
# From a fresh Debian 12 machine to a PNG: installs the dependencies, builds, makes a small random-weight
# Qwen-Image in the published layout (the project cannot ship or download real weights) and generates an
# image from it. Needs no GPU (Mesa's lavapipe runs the Vulkan shaders on the CPU) and nothing from ../shared.
#   BACKEND=cpu tools/demo.sh     runs the fp32 CPU reference backend instead of Vulkan.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install_deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$JOBS" --target qwen-image-vk
TOKENIZER_JSON=$(./tools/fetch_tokenizer.sh)
MODEL=demo/tiny-random-qwen-image
if [ ! -f "$MODEL/model_index.json" ]; then
  rm -rf "$MODEL"
  build/qwen-image-vk make-model --out "$MODEL" --tokenizer-json "$TOKENIZER_JSON" --seed 1
fi
build/qwen-image-vk generate --model "$MODEL" --backend "${BACKEND:-vulkan}" \
  --prompt "A red fox sitting in fresh snow, golden hour light, 35mm photo" \
  --width 256 --height 256 --steps 8 --cfg 4 --seed 42 --output demo/output.png
echo "wrote demo/output.png"
