# Sourced by cluster-prune.sh and recovery-search.sh (with $out set, in the repository root): builds the programs and
# makes, once per OUT_DIR, the cluster benchmarks' random ~111 M-parameter checkpoint (D 1024, 8 layers, 16 heads,
# 8 KV heads, F 2816, V 8000) and its calibration file of 16 x 128 random token ids (seed 0).
# Sets: nirvana, bench, model, calibration.
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
dotnet build bench/NirvanaCluster.Benchmarks -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
bench=bench/NirvanaCluster.Benchmarks/bin/Release/net10.0/NirvanaCluster.Benchmarks
model="$out/random-d1024-l8"
[[ -d "$model" ]] || "$bench" make-checkpoint --output "$model" --hidden 1024 --layers 8 --heads 16 --kv-heads 8 --ffn 2816 --vocab 8000 --seed 1 >&2
calibration="$out/calibration-16x128-random.json"
[[ -f "$calibration" ]] || python3 -c '
import json, random, sys
rng = random.Random(0)
json.dump([[rng.randrange(8000) for _ in range(128)] for _ in range(16)], open(sys.argv[1], "w"))' "$calibration"
