#!/usr/bin/env bash
# Prune wall time of a random checkpoint larger than stories15M (D 1024, 8 layers, 16 heads, 8 KV heads, F 2816,
# V 8000: ~110 M parameters, written once by the benchmark program's make-checkpoint) in process and with 1, 2 and 3
# local nirvana-node processes (--nodes N, loopback), calibration 16 x 128 random token ids (seed 0), micro-batches of
# 2 sequences, sparsity 0.2. Prints a markdown table: wall time (/usr/bin/time, start-up included), prune's own clock,
# the largest peak RSS of one process (time's %M covers the coordinator and the node processes it reaps: the max of
# them, not their sum), and the pipeline idle fraction from prune's log line
# "Objective ...; pipeline idle fraction X %".
# Usage: bench/scripts/cluster-prune.sh [OUT_DIR]   (CONFIGS="in-process 1 2 3" picks configurations: node counts)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
configs="${CONFIGS:-in-process 1 2 3}"
mkdir -p "$out"
source bench/scripts/benchmark-model.sh

rows=()
for config in $configs; do
  if [[ "$config" == in-process ]]; then flags=(); else flags=(--nodes "$config"); fi
  log="$out/prune-$config.log"
  /usr/bin/time -f "%e %M" -o "$out/time-$config.txt" \
    "$nirvana" prune --model "$model" --calibration "$calibration" --sparsity 0.2 --micro-batch 2 \
    --output "$out/pruned-$config" --force "${flags[@]}" > "$out/stdout-$config.txt" 2> "$log"
  own=$(tail -1 "$out/stdout-$config.txt" | sed -E 's/.* ([0-9.]+) s$/\1/')
  idle=$(grep -oE 'pipeline idle fraction [0-9.,]+ ?%' "$log" | tail -1 | grep -oE '[0-9.,]+' | tr , .)
  rows+=("$config $(tail -1 "$out/time-$config.txt") $own ${idle:-?}")
  echo "done: $config: $(tail -1 "$out/time-$config.txt") (wall s, peak RSS KiB), own clock $own s, idle ${idle:-?} %" >&2
done

python3 - "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "${rows[@]}" <<'PY'
import sys
cores, load = sys.argv[1], sys.argv[2]
print(f"random checkpoint D 1024, L 8, H 16, Hkv 8, F 2816, V 8000; calibration 16 x 128 random ids, micro-batch 2, "
      f"sparsity 0.2; {cores} cores, load average {load} at the end (shared machine: figures are noisy)")
print()
print("| configuration | wall s | prune's own clock s | largest process peak RSS GB | pipeline idle fraction |")
print("|---|---:|---:|---:|---:|")
for row in sys.argv[3:]:
    config, wall, rss_kib, own, idle = row.split()
    name = "in-process" if config == "in-process" else f"--nodes {config}"
    print(f"| {name} | {float(wall):.1f} | {own} | {int(rss_kib) * 1024 / 1e9:.2f} | {idle} % |")
PY
