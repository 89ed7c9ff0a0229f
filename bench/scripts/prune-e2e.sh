#!/usr/bin/env bash
# End-to-end pruning time and memory on the default model (stories15M), the figure the pruning issue asks for:
# `nirvana prune --sparsity 0.2` with a fixed calibration file of 32 x 128 tokens (sampled once from the dense model
# with seed 0, what prune generates by itself on the default model), timed by /usr/bin/time (wall seconds and peak
# RSS of the whole process, .NET start-up included) over RUNS runs (default 3), for each GEMM backend
# (NIRVANA_GEMM=openblas and managed). Prints a markdown table with medians against the PyTorch reference.
# Usage: bench/scripts/prune-e2e.sh [OUT_DIR]     (RUNS=N to change the number of runs; BACKENDS="openblas managed")
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
runs="${RUNS:-3}"
backends="${BACKENDS:-openblas managed}"
mkdir -p "$out"
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
model=$("$nirvana" assets --json -q | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])')
calibration="$out/calibration-32x128-seed0.json"
[[ -f "$calibration" ]] || "$nirvana" sample --model "$model" --samples 32 --seq-len 128 --seed 0 --output "$calibration" -q

rows=()
for gemm in $backends; do
  for run in $(seq 1 "$runs"); do
    timing="$out/time-$gemm-$run.txt"
    NIRVANA_GEMM="$gemm" /usr/bin/time -f "%e %M" -o "$timing" \
      "$nirvana" prune --model "$model" --calibration "$calibration" --sparsity 0.2 --output "$out/pruned-$gemm" --force -q \
      > "$out/stdout-$gemm-$run.txt"
    # prune's last stdout line ends with its own clock (after start-up): "..., 3.1 s"
    own=$(tail -1 "$out/stdout-$gemm-$run.txt" | sed -E 's/.* ([0-9.]+) s$/\1/')
    rows+=("$gemm $(tail -1 "$timing") $own")
    echo "done: $gemm run $run: $(tail -1 "$timing") (wall s, peak RSS KiB), prune's own clock $own s" >&2
  done
done

python3 - "$runs" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "${rows[@]}" <<'PY'
import statistics, sys
runs, cores, load = sys.argv[1], sys.argv[2], sys.argv[3]
REF_WALL, REF_RSS_GB = 9.0, 2.5          # PyTorch reference on this kind of machine (stated in the pruning issue)
by = {}
for row in sys.argv[4:]:
    gemm, wall, rss_kib, own = row.split()
    by.setdefault(gemm, []).append((float(wall), int(rss_kib) * 1024 / 1e9, float(own)))
print(f"stories15M, sparsity 0.2, calibration 32 x 128 tokens (seed 0), {runs} runs per backend, {cores} cores, "
      f"load average {load} at the end (shared machine: figures are noisy)")
print()
print("| GEMM backend | wall s (median) | wall s (min-max) | prune's own clock s (median) | peak RSS GB (median) | peak RSS GB (max) | wall vs PyTorch 9 s | RSS vs PyTorch 2.5 GB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for gemm, v in by.items():
    walls = [w for w, _, _ in v]; rss = [r for _, r, _ in v]; own = [o for _, _, o in v]
    w, r = statistics.median(walls), statistics.median(rss)
    print(f"| {gemm} | {w:.2f} | {min(walls):.2f}-{max(walls):.2f} | {statistics.median(own):.2f} | {r:.3f} | {max(rss):.3f} "
          f"| {w / REF_WALL:.2f}x ({'meets' if w <= REF_WALL / 2 else 'misses'} the 4.5 s target) "
          f"| {r / REF_RSS_GB:.2f}x ({'meets' if r <= REF_RSS_GB / 2 else 'misses'} the 1.25 GB target) |")
PY
