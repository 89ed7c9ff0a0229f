#!/usr/bin/env bash
# Issue 12's figures on the default model (stories15M), printed as markdown:
#  1. held-out perplexity and KL at sparsity 0.2 and 0.5 for NIRVANA with gamma 3.36, with --gamma auto, with
#     --gamma auto plus --calibration-seeds 0 5 12, against taylor-loss, magnitude and random (gamma 3.36), all on a
#     held-out set that no selection step saw: 32 x 128 tokens sampled with seed 999 (selection uses its own
#     128 x 64 set drawn with seed 4242; calibration is 32 x 128 generated with seed 0, or seeds 0/5/12);
#  2. the benchmark: one `prune --sparsity 0.2` against a sweep `--sparsity 0.2 0.5` (same calibration file, held-out
#     128 x 64 from `sample --seed 4242`), wall time of the whole process each, and the sweep's own breakdown.
# Usage: bench/scripts/sweep-figures.sh [OUT_DIR]   (PART=figures|bench|both, default both)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
part="${PART:-both}"
mkdir -p "$out"
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
model=$("$nirvana" assets --json -q | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["model"])')
[[ -f "$out/held-out-999.json" ]] || "$nirvana" sample --model "$model" --samples 32 --seq-len 128 --seed 999 --output "$out/held-out-999.json" -q > /dev/null
[[ -f "$out/calibration.json" ]] || "$nirvana" sample --model "$model" --samples 32 --seq-len 128 --seed 0 --output "$out/calibration.json" -q > /dev/null
[[ -f "$out/selection-4242.json" ]] || "$nirvana" sample --model "$model" --samples 128 --seq-len 64 --seed 4242 --output "$out/selection-4242.json" -q > /dev/null
[[ -f "$out/selection-small.json" ]] || python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))[:16], open(sys.argv[2], "w"))' "$out/selection-4242.json" "$out/selection-small.json"

secs() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$1" "$(date +%s.%N)"; }

if [[ "$part" != bench ]]; then
  runs=("nirvana, gamma 3.36|nirvana|--gamma 3.36"
        "nirvana, gamma auto|nirvana|--gamma auto"
        "nirvana, gamma auto + calibration seeds 0 5 12|nirvana|--gamma auto --calibration-seeds 0 5 12"
        "taylor-loss, gamma 3.36|taylor-loss|--gamma 3.36"
        "magnitude, gamma 3.36|magnitude|--gamma 3.36"
        "random, gamma 3.36|random|--gamma 3.36")
  rows=()
  dense=$("$nirvana" evaluate --model "$model" --reference "$model" --tokens "$out/held-out-999.json" --json -q | tail -1)
  for run in "${runs[@]}"; do
    IFS='|' read -r label method flags <<< "$run"
    dir="$out/sweep-$(echo "$label" | tr -c 'a-z0-9' '-')"
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$nirvana" prune --model "$model" --calibration generated --method "$method" --sparsity 0.2 0.5 $flags --output "$dir" --force -q > /dev/null
    took=$(secs "$start")
    echo "done: $label ($took s)" >&2
    for s in 0.20 0.50; do
      rows+=("$label|$s|$took|$(python3 -c 'import json,sys; m=[m for m in json.load(open(sys.argv[1]))["models"] if abs(m["sparsity"]-float(sys.argv[2]))<1e-9][0]; print(m["gamma"], m.get("seed", "-"), m["kl"])' "$dir/sweep.json" "$s")|$("$nirvana" evaluate --model "$dir/s$s" --reference "$model" --tokens "$out/held-out-999.json" --json -q | tail -1)")
    done
  done
  python3 - "$dense" "${rows[@]}" <<'PY'
import json, sys
dense = json.loads(sys.argv[1])["datasets"][0]
print("Held-out (never seen by calibration or selection): 32 x 128 tokens sampled with seed 999. Selection KL: the sweep's own 128 x 64 set (seed 4242).")
print()
print("| sparsity | method | gamma chosen | seed | parameters | selection KL (seed 4242 set) | PPL held-out 999 | KL held-out 999 | sweep wall s |")
print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
print(f"| 0 | dense | - | - | {json.loads(sys.argv[1])['parameters']:,} | 0 | {dense['perplexity']:.2f} | 0 | - |")
rows = []
for row in sys.argv[2:]:
    label, s, took, chosen, js = row.split("|", 4)
    gamma, seed, selkl = chosen.split()
    d = json.loads(js); ds = d["datasets"][0]
    rows.append((float(s), label, gamma, seed, d["parameters"], float(selkl), ds["perplexity"], ds["kl"], took))
for r in sorted(rows, key=lambda r: r[0]):
    print(f"| {r[0]:.1f} | {r[1]} | {float(r[2]):g} | {r[3]} | {r[4]:,} | {r[5]:.4f} | {r[6]:.2f} | {r[7]:.4f} | {r[8]} |")
PY
fi

if [[ "$part" != figures ]]; then
  start=$(date +%s.%N)
  "$nirvana" prune --model "$model" --calibration "$out/calibration.json" --sparsity 0.2 --output "$out/bench-one" --force -q > /dev/null
  one=$(secs "$start")
  start=$(date +%s.%N)
  "$nirvana" prune --model "$model" --calibration "$out/calibration.json" --sparsity 0.2 0.5 --selection-tokens "$out/selection-4242.json" \
    --output "$out/bench-sweep" --force -q > /dev/null
  sweep=$(secs "$start")
  start=$(date +%s.%N)
  "$nirvana" prune --model "$model" --calibration "$out/calibration.json" --sparsity 0.2 0.5 --selection-tokens "$out/selection-small.json" \
    --output "$out/bench-sweep-small" --force -q > /dev/null
  small=$(secs "$start")
  python3 - "$one" "$sweep" "$out/bench-sweep/sweep.json" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$small" <<'PY'
import json, sys
one, sweep, path, cores, load, small = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6])
s = json.load(open(path))["seconds"]
print()
print(f"Benchmark ({cores} cores, load average {load} at the end): stories15M, calibration 32 x 128 (seed 0), wall time of the whole process")
print()
print("| run | wall s | ratio to one prune |")
print("|---|---:|---:|")
print(f"| prune --sparsity 0.2 | {one:.1f} | 1.00 |")
print(f"| prune --sparsity 0.2 0.5 (sweep, held-out 128 x 64 evaluated for dense + 2 models) | {sweep:.1f} | {sweep / one:.2f} |")
print(f"| prune --sparsity 0.2 0.5 --selection-tokens (16 x 64 held-out) | {small:.1f} | {small / one:.2f} |")
print()
ev = s['held_out_set'] + s['held_out_evaluation']
print(f"Sweep breakdown (its own clock): scoring {s['scoring']:.1f} s, reading the held-out set {s['held_out_set']:.1f} s, held-out evaluation "
      f"(dense + 2 masked models, 3 x 8,192 tokens) {s['held_out_evaluation']:.1f} s, compaction + writing {s['writing']:.1f} s; "
      f"without the held-out figures the sweep would take {sweep - ev:.1f} s = {(sweep - ev) / one:.2f}x one prune.")
PY
fi
