// Runs a GGUF file in llama.cpp through node-llama-cpp and prints what the project's tests compare with its engine.
//
//   node llamacpp.mjs JOB.json            (node-llama-cpp is found in $NIRVANA_NODE_LLAMA_CPP, a folder holding
//                                          node_modules/node-llama-cpp, default $NIRVANA_CACHE/node-llama-cpp)
//
// JOB.json: {"model": "m.gguf", "sequences": [[ids]], "texts": ["..."], "generate": {"prompt": [ids], "tokens": N}}
// Prints one JSON line: {"logprobs": [[log p(ids[t+1] | ids[..t]) for t in 0..n-2]], "tokens": [[ids of each text]],
// "generate": {"tokens": [...], "seconds": s, "tokens_per_second": r, "tokens_per_cpu_second": c}}.
// Exactness settings: F32 KV cache and no flash attention (the defaults, F16 KV and flash attention, add ~2e-2 of
// noise to log-probabilities); one sequence at a time; probabilities are llama.cpp's softmax of the raw logits
// (no sampling options apply), renormalized in double precision.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const cache = process.env.NIRVANA_CACHE ?? path.join(os.homedir(), ".cache", "nirvana");
const root = process.env.NIRVANA_NODE_LLAMA_CPP ?? path.join(cache, "node-llama-cpp");
const entry = path.join(root, "node_modules", "node-llama-cpp", "dist", "index.js");
if (!fs.existsSync(entry)) {
  console.error(`node-llama-cpp is not installed: ${entry} is missing (.ci/run installs it)`);
  process.exit(2);
}
const { getLlama, LlamaLogLevel } = await import(pathToFileURL(entry).href);

const llama = await getLlama({
  gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false,
  logLevel: LlamaLogLevel.error, logger: (level, message) => process.stderr.write(message),
});
const model = await llama.loadModel({ modelPath: job.model, gpuLayers: 0 });
const out = {};

if (job.texts) out.tokens = job.texts.map((text) => Array.from(model.tokenize(text, false)));

const longest = Math.max(0, ...(job.sequences ?? []).map((s) => s.length), job.generate ? job.generate.prompt.length + job.generate.tokens : 0);
if (longest > 0) {
  const context = await model.createContext({
    contextSize: Math.max(64, longest), batchSize: Math.max(64, longest), sequences: 1, flashAttention: false,
    experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", threads: job.threads ?? 1,
  });
  const sequence = context.getSequence();
  if (job.sequences) {
    out.logprobs = [];
    for (const ids of job.sequences) {
      await sequence.clearHistory();
      const input = ids.map((id, t) => (t < ids.length - 1 ? [id, { generateNext: { probabilities: true } }] : id));
      const results = await sequence.controlledEvaluate(input);
      const row = [];
      for (let t = 0; t + 1 < ids.length; t++) {
        const probabilities = results[t]?.next?.probabilities;
        if (!probabilities) throw new Error(`no probabilities at position ${t}`);
        // The addon normalizes with a float32 sum over the whole vocabulary, which is off by up to ~1e-3 (relative)
        // for a flat distribution over 150k tokens; every entry shares that divisor, so renormalizing in double
        // recovers llama.cpp's own log-softmax of its logits.
        let sum = 0;
        for (const value of probabilities.values()) sum += value;
        row.push(Math.log(probabilities.get(ids[t + 1]) ?? 0) - Math.log(sum));
      }
      out.logprobs.push(row);
    }
  }
  if (job.generate) {
    await sequence.clearHistory();
    const tokens = [];
    const started = process.hrtime.bigint();
    let first = null, cpuFirst = null;
    for await (const token of sequence.evaluate(job.generate.prompt, { temperature: 0 })) {
      if (first === null) { first = process.hrtime.bigint(); cpuFirst = process.cpuUsage(); }
      tokens.push(token);
      if (tokens.length >= job.generate.tokens) break;
    }
    const ended = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpuFirst);
    // Generation speed counts the tokens after the first, whose time includes evaluating the prompt. CPU seconds
    // (user + system of this process, one llama.cpp thread) are the figure that survives a busy machine.
    const seconds = Number(ended - first) / 1e9;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    out.generate = { tokens, prompt_seconds: Number(first - started) / 1e9, seconds, tokens_per_second: (tokens.length - 1) / seconds,
      cpu_seconds: cpuSeconds, tokens_per_cpu_second: (tokens.length - 1) / cpuSeconds };
  }
  await context.dispose();
}
await model.dispose();
process.stdout.write(JSON.stringify(out) + "\n");
