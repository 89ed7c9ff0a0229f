#!/usr/bin/env bash
# `nirvana prune` against a plain PyTorch CPU implementation of the same prune (bench/pytorch/nirvana_prune.py:
# full-batch forward, autograd backward of NIRVANA's objective, unit scores, allocation, compaction, writing), on
# stories15M with the same 32 x 128 calibration token file (sampled once from the dense model, seed 0), sparsity 0.2,
# gamma 3.36, measured in the same run, alternating the two programs RUNS times (default 3). Both are timed from the
# shell (/usr/bin/time: process start-up, imports, loading and writing included). Prints medians, their ratio, and
# how far the two plans agree (kept KV groups and neurons per layer: the implementations sum in different orders, so
# a unit at the threshold may fall either way).
# Needs Debian's python3-torch (apt-get install python3-torch).
# Usage: bench/scripts/pytorch-compare.sh [OUT_DIR]   (RUNS=N; PYTHON=interpreter with torch; NIRVANA_GEMM as usual)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
runs="${RUNS:-3}"
mkdir -p "$out"
# Debian's torch lives in the system interpreter (a pyenv python3 on PATH would not see it).
torch_python="${PYTHON:-/usr/bin/python3}"
"$torch_python" -c 'import torch' 2>/dev/null || { echo "$torch_python has no torch: apt-get install python3-torch (or PYTHON=...)" >&2; exit 1; }
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
model=$("$nirvana" assets --json -q | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])')
calibration="$out/calibration-32x128-seed0.json"
[[ -f "$calibration" ]] || "$nirvana" sample --model "$model" --samples 32 --seq-len 128 --seed 0 --output "$calibration" -q

rows=()
for run in $(seq 1 "$runs"); do
  /usr/bin/time -f "%e %M" -o "$out/time-nirvana-$run.txt" \
    "$nirvana" prune --model "$model" --calibration "$calibration" --sparsity 0.2 --gamma 3.36 --output "$out/pruned-nirvana" --force -q \
    > /dev/null
  /usr/bin/time -f "%e %M" -o "$out/time-torch-$run.txt" \
    "$torch_python" bench/pytorch/nirvana_prune.py "$model" "$calibration" "$out/pruned-torch" --sparsity 0.2 --gamma 3.36 > "$out/torch-$run.json"
  rows+=("nirvana $(tail -1 "$out/time-nirvana-$run.txt")" "torch $(tail -1 "$out/time-torch-$run.txt")")
  echo "run $run: nirvana $(tail -1 "$out/time-nirvana-$run.txt"), torch $(tail -1 "$out/time-torch-$run.txt") (wall s, peak RSS KiB)" >&2
done

python3 - "$out" "$runs" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "${rows[@]}" <<'PY'
import json, statistics, sys
out, runs, cores, load = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
by = {}
for row in sys.argv[5:]:
    name, wall, rss = row.split()
    by.setdefault(name, []).append((float(wall), int(rss) * 1024))
torch_info = json.load(open(f"{out}/torch-{runs}.json"))
print(f"stories15M, sparsity 0.2, gamma 3.36, calibration 32 x 128 (seed 0); {runs} alternating runs each, {cores} cores, "
      f"load average {load} at the end; PyTorch {torch_info['torch']} with {torch_info['threads']} threads")
print()
print("| program | wall s (median) | wall s (min-max) | peak RSS MB (median) |")
print("|---|---:|---:|---:|")
med = {}
for name, label in (("nirvana", "nirvana prune"), ("torch", "PyTorch (bench/pytorch/nirvana_prune.py)")):
    walls = [w for w, _ in by[name]]; rss = [r for _, r in by[name]]
    med[name] = statistics.median(walls)
    print(f"| {label} | {med[name]:.2f} | {min(walls):.2f}-{max(walls):.2f} | {statistics.median(rss) / 1e6:.0f} |")
ratio = med["nirvana"] / med["torch"]
print(f"\nnirvana / PyTorch wall time: {ratio:.2f}x (target at most 0.5x: {'met' if ratio <= 0.5 else 'missed'})")
print(f"PyTorch phases (last run, s): {torch_info['seconds']}")
ours = json.load(open(f"{out}/pruned-nirvana/pruning-plan.json"))["layers"]
theirs = json.load(open(f"{out}/pruned-torch/plan.json"))["layers"]
same_groups = sum(a["kept_kv_groups"] == b["kept_kv_groups"] for a, b in zip(ours, theirs))
kept = sum(len(set(a["kept_mlp_neurons"]) & set(b["kept_mlp_neurons"])) for a, b in zip(ours, theirs))
total = sum(len(a["kept_mlp_neurons"]) for a in ours)
print(f"plans agree: kept KV groups identical in {same_groups} of {len(ours)} layers; {kept} of {total} kept neurons in common "
      f"({kept / total:.2%}); budgets: PyTorch prunes {torch_info['attention_units_to_prune']} groups and {torch_info['mlp_neurons_to_prune']} neurons")
PY
