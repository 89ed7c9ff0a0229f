#!/usr/bin/env bash
# Peak memory per parameter and wall time of `nirvana prune` on a random BF16 checkpoint of 168 M parameters
# (12 layers, D 1024, 16 heads, 4 KV heads, F 2816, V 32000, tied; written once by make-checkpoint), calibration
# 8 x 128 random token ids (seed 0), sparsity 0.2, in these configurations:
#   default      in-process, no --memory (the all-layers schedule fits the machine)
#   budget       in-process, --memory 2.5 B/param + 250 MiB (the layer-bounded schedule is chosen)
#   nodes3       --nodes 3 (local nirvana-node processes; each node's budget picks its schedule)
#   nodes3-lb    --nodes 3 --schedule layer-bounded
# Wall time and peak RSS come from /usr/bin/time (start-up included; with nodes, time's %M is the largest of the
# coordinator and the node processes it reaps); each stage's planned and peak bytes from prune's own log lines
# ("Stage S memory: ... planned N bytes, peak RSS N bytes"), and the coordinator's from "Coordinator memory".
# Every configuration's pruned weights must be byte-identical to the default's (checked, cmp).
# Usage: bench/scripts/memory-prune.sh [OUT_DIR]   (CONFIGS="default budget nodes3 nodes3-lb", NIRVANA_GEMM as usual)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
configs="${CONFIGS:-default budget nodes3 nodes3-lb}"
mkdir -p "$out"
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
dotnet build bench/NirvanaCluster.Benchmarks -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
bench=bench/NirvanaCluster.Benchmarks/bin/Release/net10.0/NirvanaCluster.Benchmarks
model="$out/random-168m-bf16"
[[ -d "$model" ]] || "$bench" make-checkpoint --output "$model" --hidden 1024 --layers 12 --heads 16 --kv-heads 4 --ffn 2816 \
  --vocab 32000 --tied --dtype bf16 --seed 1 >&2
params=168059904
budget=$(( params * 5 / 2 + 250 * 1024 * 1024 ))
calibration="$out/calibration-8x128-random.json"
[[ -f "$calibration" ]] || python3 -c '
import json, random, sys
rng = random.Random(0)
json.dump([[rng.randrange(32000) for _ in range(128)] for _ in range(8)], open(sys.argv[1], "w"))' "$calibration"

rows=()
for config in $configs; do
  case "$config" in
    default) flags=() ;;
    budget) flags=(--memory "$budget") ;;
    nodes3) flags=(--nodes 3) ;;
    nodes3-lb) flags=(--nodes 3 --schedule layer-bounded) ;;
    *) echo "unknown configuration $config" >&2; exit 2 ;;
  esac
  log="$out/prune-$config.log"
  /usr/bin/time -f "%e %M" -o "$out/time-$config.txt" \
    "$nirvana" prune --model "$model" --calibration "$calibration" --sparsity 0.2 \
    --output "$out/pruned-$config" --force "${flags[@]}" > "$out/stdout-$config.txt" 2> "$log"
  if [[ "$config" != default && -f "$out/pruned-default/model.safetensors" ]]; then
    cmp -s "$out/pruned-default/model.safetensors" "$out/pruned-$config/model.safetensors" && same=yes || same=NO
  else same=-; fi
  stages=$(grep -oE 'Stage [^ ]+ memory: schedule [a-z-]+, planned [0-9,]+ bytes, peak RSS [0-9,]+ bytes' "$log" \
    | sed -E 's/Stage ([^ ]+) memory: schedule ([a-z-]+), planned ([0-9,]+) bytes, peak RSS ([0-9,]+) bytes/\1:\2:\3:\4/; s/,//g' | paste -sd';' -)
  coordinator=$(grep -oE 'Coordinator memory: peak RSS [0-9,]+' "$log" | grep -oE '[0-9,]+$' | tr -d , || true)
  rows+=("$config $(tail -1 "$out/time-$config.txt") $same ${coordinator:--} ${stages:--}")
  echo "done: $config: $(tail -1 "$out/time-$config.txt") (wall s, peak RSS KiB), identical to default: $same" >&2
done

python3 - "$params" "$budget" "$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "${rows[@]}" <<'PY'
import sys
params, budget, cores, load = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
MiB = 1 << 20
print(f"random BF16 checkpoint, {params:,} parameters (L 12, D 1024, H 16, Hkv 4, F 2816, V 32000, tied); calibration 8 x 128, "
      f"sparsity 0.2; {cores} cores, load average {load} at the end")
print()
print("| configuration | wall s | peak RSS (largest process) | bytes / parameter | stages: schedule, planned -> peak RSS | same bytes as default |")
print("|---|---:|---:|---:|---|---|")
walls = {}
for row in sys.argv[5:]:
    config, wall, rss_kib, same, coordinator, stages = row.split(maxsplit=5)
    rss = int(rss_kib) * 1024
    walls[config] = float(wall)
    parts = []
    for s in stages.split(";") if stages != "-" else []:
        name, schedule, planned, peak = s.split(":")
        parts.append(f"{name} {schedule} {int(planned) / MiB:.0f} -> {int(peak) / MiB:.0f} MiB")
    if coordinator != "-":
        parts.append(f"coordinator {int(coordinator) / MiB:.0f} MiB")
    print(f"| {config} | {float(wall):.1f} | {rss / MiB:.0f} MiB | {rss / params:.2f} | {'; '.join(parts)} | {same} |")
    if config == "default":
        target = 6 * params + 250 * MiB
        print(f"|  | target: at most 6 B/param + 250 MiB = {target / MiB:.0f} MiB | {'met' if rss <= target else f'missed by {rss / target - 1:.1%}'} | | | |")
    if config == "budget":
        print(f"|  | --memory {budget / MiB:.0f} MiB (2.5 B/param + 250 MiB), within 5% | {'met' if rss <= 1.05 * budget else f'missed: {rss / budget - 1:.1%} over'} | | | |")
if "default" in walls and "budget" in walls:
    r = walls["budget"] / walls["default"]
    print(f"\nlayer-bounded / all-layers wall time: {r:.2f}x (target at most 1.6x: {'met' if r <= 1.6 else 'missed'})")
PY
