#!/usr/bin/env bash
# A Llama-3.2-3B-shaped random BF16 checkpoint (28 layers, D 3072, 24 heads, 8 KV heads, F 8192, V 128256, tied:
# 3.2 B parameters, 6.4 GB) pruned on this machine across 3 local node processes (--nodes 3) with a short
# calibration batch (4 x 64 random token ids, micro-batch 2), sparsity 0.2. Reports wall time and each process's
# peak RSS: every stage's from prune's "Stage S memory" lines (the node reports its own VmHWM), the coordinator's
# from "Coordinator memory", with the planned bytes beside them.
# Usage: bench/scripts/llama3b-nodes.sh [OUT_DIR]   (FLAGS="--nodes 3" to change the placement, e.g. FLAGS="--memory 9Gi")
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
flags="${FLAGS:---nodes 3}"
mkdir -p "$out"
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
dotnet build bench/NirvanaCluster.Benchmarks -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
bench=bench/NirvanaCluster.Benchmarks/bin/Release/net10.0/NirvanaCluster.Benchmarks
model="$out/random-llama-3.2-3b-bf16"
[[ -d "$model" ]] || "$bench" make-checkpoint --output "$model" --hidden 3072 --layers 28 --heads 24 --kv-heads 8 --ffn 8192 \
  --vocab 128256 --tied --dtype bf16 --seed 1 >&2
calibration="$out/calibration-4x64-random.json"
[[ -f "$calibration" ]] || python3 -c '
import json, random, sys
rng = random.Random(0)
json.dump([[rng.randrange(128256) for _ in range(64)] for _ in range(4)], open(sys.argv[1], "w"))' "$calibration"
"$nirvana" prune --model "$model" --sparsity 0.2 --samples 4 --seq-len 64 --micro-batch 2 --dry-run $flags || true
log="$out/prune.log"
# shellcheck disable=SC2086
/usr/bin/time -f "%e %M" -o "$out/time.txt" "$nirvana" prune --model "$model" --calibration "$calibration" --sparsity 0.2 \
  --micro-batch 2 --output "$out/pruned" --force $flags > "$out/stdout.txt" 2> "$log" || { tail -20 "$log" >&2; exit 1; }
read -r wall rss_kib < "$out/time.txt"
echo "wall $wall s; largest process peak RSS $(( rss_kib / 1024 )) MiB (/usr/bin/time); $(tail -1 "$out/stdout.txt")"
grep -E 'Stage [^ ]+: layers|Stage [^ ]+ memory:|Coordinator memory' "$log" | sed -E 's/^.*\] //'
