#!/usr/bin/env bash
# Compares pruning criteria and allocations on the default model (stories15M), as in the README's table:
# for sparsity 0.2 and 0.5, every method x {global, uniform}: perplexity on held-out generated stories (seed 1234,
# never used for calibration) and on a Moby-Dick excerpt, KL to the dense model, parameters kept, prune wall time.
# Calibration: 32 x 128 tokens sampled from the dense model with seed 0 (what `prune` does on the default model).
# Usage: bench/scripts/compare-methods.sh [OUT_DIR]   (prints a markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
paths=$("$nirvana" assets --json -q | tail -1)
model=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["model"])' "$paths")
moby=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["moby_dick"])' "$paths")
head -c 120000 "$moby" > "$out/moby-dick-excerpt.txt"   # about 200 chunks of 128 tokens
"$nirvana" sample --model "$model" --samples 32 --seq-len 128 --seed 0 --output "$out/calibration.json" --force -q
"$nirvana" sample --model "$model" --samples 32 --seq-len 128 --seed 1234 --output "$out/held-out.json" --force -q

evaluate() {
  "$nirvana" evaluate --model "$1" --reference "$model" --tokens "$out/held-out.json" \
    --text "$out/moby-dick-excerpt.txt" --json -q | tail -1
}

dense=$(evaluate "$model")
rows=()
for s in 0.2 0.5; do
  for m in nirvana taylor-loss magnitude random; do
    for a in global uniform; do
      dir="$out/$m-$a-$s"
      start=$(date +%s.%N)
      "$nirvana" prune --model "$model" --calibration "$out/calibration.json" --sparsity "$s" --method "$m" \
        --allocation "$a" --gamma 3.36 --output "$dir" --force -q > /dev/null
      secs=$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$start" "$(date +%s.%N)")
      rows+=("$s|$m|$a|$secs|$(evaluate "$dir")")
      echo "done: sparsity $s, $m, $a (${secs} s)" >&2
    done
  done
done

python3 - "$dense" "${rows[@]}" <<'PY'
import json, sys
def cols(d):
    ds = d["datasets"]
    return next(x for x in ds if x["kind"] == "tokens"), next(x for x in ds if x["kind"] == "text")
dense = json.loads(sys.argv[1])
g, t = cols(dense)
print("| sparsity | method | allocation | parameters | PPL held-out stories | PPL Moby-Dick | KL stories | KL Moby-Dick | prune wall time |")
print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
print(f"| 0 | dense | - | {dense['parameters']:,} | {g['perplexity']:.2f} | {t['perplexity']:.1f} | 0 | 0 | - |")
for row in sys.argv[2:]:
    s, m, a, secs, js = row.split("|", 4)
    d = json.loads(js)
    g, t = cols(d)
    print(f"| {s} | {m} | {a} | {d['parameters']:,} | {g['perplexity']:.2f} | {t['perplexity']:.1f} | {g['kl']:.4f} | {t['kl']:.4f} | {secs} s |")
PY
