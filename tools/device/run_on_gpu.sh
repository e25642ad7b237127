#!/usr/bin/env bash
# Runs the GPU checks on a lent NVIDIA machine that has a driver but no Vulkan loader (see
# /work/.library/device/README.md): unpacks the carried Debian loader packages, then runs the parity tests,
# the fixture parity, a full-size random-weight generation and the kernel benchmark on the GPU.
# Carried: .gl/ (Debian .debs) and .device-final/ (binaries built here, fixtures, tokenizer).
#   tools/device/run_on_gpu.sh [setup|tests|ops|generate|bench|bench-matmul]...   (default: tests generate bench)
# setup only unpacks the loader (for commands of your own after it).
# bench-matmul times only matmul and attention (every variant) and the tensor-core ceiling kernels, and logs the
# driver's pipeline statistics.
set -uo pipefail
CARRY=${CARRY:-.device-final}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
for f in .gl/libvulkan1_*.deb .gl/libglvnd0_*.deb .gl/libegl1_*.deb .gl/libgl1_*.deb .gl/libglx0_*.deb .gl/libgles2_*.deb .gl/libopengl0_*.deb; do
  dpkg -x "$f" /
done
# Libraries the binaries link that the machine's image may lack go beside it, not over its own.
mkdir -p /opt/qi
for f in .gl/libutf8proc2_*.deb .gl/libpng16-16_*.deb .gl/libpcre2-8-0_*.deb .gl/vulkan-validationlayers_*.deb; do
  dpkg -x "$f" /opt/qi
done
ldconfig
export LD_LIBRARY_PATH=/opt/qi/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export VK_LAYER_PATH=/opt/qi/usr/share/vulkan/explicit_layer.d
if [ ! -e /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export QI_SHARED_DIR=$PWD/$CARRY/shared
BIN=$CARRY/bin
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
steps=${*:-tests generate bench}
for step in $steps; do
  case $step in
    tests)
      for t in test_vulkan test_ops test_model test_e2e; do
        echo "== $t"
        "$BIN/$t" --gtest_brief=1 >"$OUT/$t.log" 2>&1
        echo "$t exit $?"; grep -E "PASSED|FAILED|all [0-9]+ stages" "$OUT/$t.log" | tail -5
      done ;;
    setup) ;;
    ops)
      echo "== test_ops"
      "$BIN/test_ops" --gtest_brief=1 >"$OUT/test_ops.log" 2>&1
      echo "test_ops exit $?"; grep -E "PASSED|FAILED" "$OUT/test_ops.log" | tail -8 ;;
    bench-matmul)
      echo "== bench kernels --only matmul,attention,ceiling (pipeline statistics in $OUT/pipeline_stats.log)"
      QI_PIPELINE_STATS=1 QI_LOG=info "$BIN/qwen-image-vk" bench kernels --only matmul,attention,ceiling --json "$OUT/bench_matmul.json" \
        --anchors "$QI_SHARED_DIR/reference/anchors.json" 2>"$OUT/pipeline_stats.log" | tee "$OUT/bench_matmul.log"
      grep -E "pipeline .*(matmul|attention)" "$OUT/pipeline_stats.log" | cut -c1-400 | head -40 ;;
    generate)
      echo "== full-size random weights, 1328x1328, 2 steps, cfg 4"
      "$BIN/qwen-image-vk" generate --random-weights 7 --tokenizer "$CARRY/tokenizer" --prompt "A red fox in fresh snow" \
        --width 1328 --height 1328 --steps 2 --cfg 4 --seed 1 --output "$OUT/full_size_random.png" 2>&1 | tee "$OUT/generate.log" | tail -14 ;;
    bench)
      echo "== bench kernels"
      "$BIN/qwen-image-vk" bench kernels --json "$OUT/bench_kernels.json" --anchors "$QI_SHARED_DIR/reference/anchors.json" 2>&1 | tee "$OUT/bench_kernels.log" | tail -30 ;;
  esac
done
