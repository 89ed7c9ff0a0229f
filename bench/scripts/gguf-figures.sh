#!/usr/bin/env bash
# GGUF export figures on the default model (stories15M), dense and pruned with NIRVANA at 0.2 and 0.5: for F32, F16
# and Q8_0, the file size, llama.cpp's perplexity on held-out stories (16 x 128 tokens sampled from the dense model with
# `nirvana sample --seed 1234`; every position scored by llama.cpp itself through node-llama-cpp, F32 KV cache) and
# llama.cpp's greedy generation speed (256 tokens after "Once upon a time", one thread, median of RUNS runs), as wall-clock
# tokens/s and as tokens per CPU-second of the process (the figure that holds on a busy machine).
# Usage: bench/scripts/gguf-figures.sh [OUT_DIR]     (RUNS=N, default 3; needs node-llama-cpp as .ci/run installs it)
# Models, exports and perplexities are kept in OUT_DIR: running again with the same OUT_DIR re-times generation only.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-$(mktemp -d)}"
runs="${RUNS:-3}"
mkdir -p "$out"
dotnet build src/Coordinator -c Release -v q --nologo >/dev/null
nirvana=src/Coordinator/bin/Release/net10.0/nirvana
model=$("$nirvana" assets --json -q | tail -1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).model))')
held="$out/held-out-16x128-seed1234.json"
[[ -f "$held" ]] || "$nirvana" sample --model "$model" --samples 16 --seq-len 128 --seed 1234 --output "$held" -q
for s in 0.2 0.5; do
  dir="$out/p${s#0.}"
  [[ -f "$dir/config.json" ]] || "$nirvana" prune --sparsity "$s" --output "$dir" --force -q >/dev/null
done
prompt=$("$nirvana" tokenize --text "Once upon a time" -q | tail -1 | tr ' ' ',')

echo "| model | parameters | engine perplexity (F32 checkpoint) | GGUF | file size | llama.cpp perplexity (held-out stories) | generation tokens/s (1 thread, wall) | tokens per CPU-second |"
echo "|---|---:|---:|---|---:|---:|---:|---:|"
for m in dense p2 p5; do
  dir=$([[ $m == dense ]] && echo "$model" || echo "$out/$m")
  engine=$("$nirvana" perplexity --model "$dir" --tokens "$held" --json -q | tail -1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).perplexity.toFixed(3)))')
  params=$(node -e '
    const fs=require("fs"); const c=JSON.parse(fs.readFileSync(process.argv[1]+"/config.json"));
    const L=c.num_hidden_layers, D=c.hidden_size, V=c.vocab_size, H=c.num_attention_heads, Dh=c.head_dim??D/H, G=H/(c.num_key_value_heads??H);
    let p=V*D*(c.tie_word_embeddings?1:2)+D;
    for(let i=0;i<L;i++){const h=c.modified_head_num?.[i]??H, f=c.modified_intermediate_dimension?.[i]??c.intermediate_size;
      p+=2*D+h*Dh*D*2+2*(h/G)*Dh*D+3*f*D;}
    console.log(p.toLocaleString("en-US"));' "$dir")
  for t in f32 f16 q8_0; do
    gguf="$out/$m-$t.gguf"
    [[ -f "$gguf" ]] || "$nirvana" export --model "$dir" --dtype "$t" --output "$gguf" -q >/dev/null
    job="$out/job-$m-$t.json"
    node -e 'const fs=require("fs"); const [gguf, held, prompt, job]=process.argv.slice(1);
      fs.writeFileSync(job, JSON.stringify({model: gguf, sequences: JSON.parse(fs.readFileSync(held)), threads: 1}));
      fs.writeFileSync(job+".gen", JSON.stringify({model: gguf, threads: 1, generate: {prompt: prompt.split(",").map(Number), tokens: 256}}));' \
      "$gguf" "$held" "$prompt" "$job"
    # Perplexity does not depend on the machine's load: kept in OUT_DIR, so a rerun there times generation only.
    [[ -f "$job.ppl" ]] || node tests/llamacpp/llamacpp.mjs "$job" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
      const r=JSON.parse(s).logprobs.flat(); console.log(Math.exp(-r.reduce((a,b)=>a+b,0)/r.length).toFixed(3))})' > "$job.ppl"
    ppl=$(cat "$job.ppl")
    speeds=(); cpu=()
    for run in $(seq 1 "$runs"); do
      node tests/llamacpp/llamacpp.mjs "$job.gen" > "$job.gen.out"
      speeds+=("$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).generate.tokens_per_second.toFixed(0))' "$job.gen.out")")
      cpu+=("$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).generate.tokens_per_cpu_second.toFixed(0))' "$job.gen.out")")
    done
    median=$(printf '%s\n' "${speeds[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    cpumedian=$(printf '%s\n' "${cpu[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    size=$(stat -c %s "$gguf" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log((s/1e6).toFixed(1)+" MB"))')
    echo "| $m | $params | $engine | $t | $size | $ppl | $median (runs: ${speeds[*]}) | $cpumedian (runs: ${cpu[*]}) |"
  done
done
echo "(load average: $(cut -d' ' -f1-3 /proc/loadavg); llama.cpp via node-llama-cpp 3.21.1, CPU prebuilt)"
