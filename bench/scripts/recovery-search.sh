#!/usr/bin/env bash
# Issue 9's figures on a random ~111 M-parameter checkpoint (D 1024, 8 layers, 16 heads, 8 KV heads, F 2816, V 8000,
# written once by the benchmark program's make-checkpoint):
#   1. a prune on 3 local nodes (--nodes 3), undisturbed and with node 1 killed (SIGKILL, NIRVANA_FAULT) just before
#      the backward of micro-batch 4, its stage re-created on a replacement node process; calibration 16 x 128 random
#      ids, micro-batch 2, sparsity 0.2;
#   2. a 3-candidate calibration search (--calibration generated --calibration-seeds 0 1 2, 8 x 128 per candidate,
#      held-out 32 x 64) in one process and on 3 local nodes (one pipeline per node, candidates side by side).
# Each pair must write the same bytes (the script compares every file's SHA-256 and fails otherwise). Prints a
# markdown table: wall time (/usr/bin/time, start-up included), peak RSS of the largest process, and for the
# killed run the coordinator's own account of the loss ("re-created on node ... X s after the loss was reported").
# Usage: bench/scripts/recovery-search.sh [OUT_DIR]   (PARTS="recovery search" picks parts)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
parts="${PARTS:-recovery search}"
mkdir -p "$out"
source bench/scripts/benchmark-model.sh

rows=()
# run NAME FAULT FLAGS...: one prune, timed; FAULT is NIRVANA_FAULT for the node processes ("" for none).
run() {
  local name="$1" fault="$2"; shift 2
  NIRVANA_FAULT="$fault" /usr/bin/time -f "%e %M" -o "$out/time-$name.txt" \
    "$nirvana" prune --model "$model" --output "$out/pruned-$name" --force "$@" > "$out/stdout-$name.txt" 2> "$out/log-$name.txt" || {
      echo "$name failed; its log: $out/log-$name.txt" >&2; tail -5 "$out/log-$name.txt" >&2; exit 1; }
  local recovered
  recovered=$(grep -oE 're-created on node [^ ]+ [0-9.]+ s after the loss was reported' "$out/log-$name.txt" | head -1 | grep -oE '[0-9.]+ s' || true)
  rows+=("$name|$(cat "$out/time-$name.txt")|${recovered:--}")
  echo "done: $name: $(cat "$out/time-$name.txt") (wall s, peak RSS KiB) ${recovered:+re-created $recovered after the loss was reported}" >&2
}
# same A B: the two outputs hold the same weights, config and scores byte for byte, and the same plan (everything in
# pruning-plan.json but the run's own account: stage names, memory peaks, idle fraction).
fingerprint() {
  (cd "$out/pruned-$1" && find . -type f \( -name '*.safetensors' -o -name config.json \) -print0 | sort -z | xargs -0 sha256sum)
  python3 -c '
import json, sys
plan = json.load(open(sys.argv[1]))
for k in ("pipeline_idle_fraction", "stages"): plan.pop(k, None)
print(json.dumps(plan, sort_keys=True))' "$out/pruned-$1/pruning-plan.json" | sha256sum | sed 's/-$/plan/'
}
same() {
  if ! diff <(fingerprint "$1") <(fingerprint "$2") >&2; then echo "$1 and $2 wrote different bytes" >&2; exit 1; fi
  echo "same bytes: $1, $2" >&2
}

prune=(--calibration "$calibration" --sparsity 0.2 --micro-batch 2)
if [[ " $parts " == *" recovery "* ]]; then
  run nodes3-undisturbed "" "${prune[@]}" --nodes 3
  run nodes3-node1-killed "local-node-1:kill@backward:4" "${prune[@]}" --nodes 3
  same nodes3-undisturbed nodes3-node1-killed
fi
search=(--calibration generated --samples 8 --seq-len 128 --calibration-seeds 0 1 2 --selection-samples 32 --sparsity 0.2 --micro-batch 2)
if [[ " $parts " == *" search "* ]]; then
  run search-in-process "" "${search[@]}"
  run search-nodes3 "" "${search[@]}" --nodes 3
  same search-in-process search-nodes3
  grep -hoE 'seed [0-9]+ chosen[^"]*' "$out/pruned-search-in-process/report.md" | head -1 >&2 || true
fi

python3 - "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "${rows[@]}" <<'PY'
import sys
cores, load = sys.argv[1], sys.argv[2]
print(f"random checkpoint D 1024, L 8, H 16, Hkv 8, F 2816, V 8000 (111 M parameters); {cores} cores, "
      f"load average {load} at the end (every process on the same cores)")
print()
print("| run | wall s | largest process peak RSS GB | stage re-created after the loss was reported |")
print("|---|---:|---:|---:|")
for row in sys.argv[3:]:
    name, time, recovered = row.split("|")
    wall, rss_kib = time.split()
    print(f"| {name} | {float(wall):.1f} | {int(rss_kib) * 1024 / 1e9:.2f} | {recovered} |")
PY
