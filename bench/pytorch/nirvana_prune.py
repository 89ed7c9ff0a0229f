#!/usr/bin/env python3
"""A plain PyTorch CPU implementation of NIRVANA's prune (shared/NIRVANA.md), the comparison for `nirvana prune`.

What a PyTorch user would write for a Hugging Face Llama checkpoint folder, without the transformers package:
read the safetensors file, build the model as torch modules with autograd, run the whole calibration batch forward
at once, differentiate f = mean over (b, v) of max over t of logits (section 1) with autograd, score every unit by
|dW * W| (section 2), allocate the two global pools with gamma and the rounding rules (section 3), compact the
weights (section 4) and write the pruned folder (config.json with per-layer sizes + model.safetensors).

Usage: nirvana_prune.py MODEL_DIR CALIBRATION.json OUTPUT_DIR [--sparsity 0.2] [--gamma 3.36] [--threads N]
Prints one JSON line: wall seconds per phase, kept units, and the peak RSS of the process.
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

START = time.perf_counter()
import torch  # noqa: E402  (imported after the clock starts: its import is part of the job)

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = t
    return tensors


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.contiguous()
        blob = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


class Llama(torch.nn.Module):
    """Hugging Face Llama forward: RMSNorm, rotate-half rotary, GQA causal attention, SwiGLU, tied or separate head."""

    def __init__(self, config, weights):
        super().__init__()
        self.c = config
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.float()) for k, v in weights.items()})
        d, h = config["hidden_size"], config["num_attention_heads"]
        self.dh = config.get("head_dim") or d // h
        theta = config.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / theta ** (torch.arange(0, self.dh, 2, dtype=torch.float64) / self.dh)

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def norm(self, x, weight):
        eps = self.c.get("rms_norm_eps", 1e-6)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    def rope(self, x, cos, sin):
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def forward(self, ids):
        c, dh = self.c, self.dh
        b, t = ids.shape
        h, hkv = c["num_attention_heads"], c["num_key_value_heads"]
        angles = torch.outer(torch.arange(t, dtype=torch.float64), self.inv_freq)
        cos = torch.cat((angles.cos(), angles.cos()), -1).float()
        sin = torch.cat((angles.sin(), angles.sin()), -1).float()
        mask = torch.full((t, t), float("-inf")).triu(1)
        x = torch.nn.functional.embedding(ids, self.w("model.embed_tokens.weight"))
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            y = self.norm(x, self.w(p + "input_layernorm.weight"))
            q = (y @ self.w(p + "self_attn.q_proj.weight").T).view(b, t, h, dh).transpose(1, 2)
            k = (y @ self.w(p + "self_attn.k_proj.weight").T).view(b, t, hkv, dh).transpose(1, 2)
            v = (y @ self.w(p + "self_attn.v_proj.weight").T).view(b, t, hkv, dh).transpose(1, 2)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            k = k.repeat_interleave(h // hkv, dim=1)
            v = v.repeat_interleave(h // hkv, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + mask, dim=-1)
            o = (att @ v).transpose(1, 2).reshape(b, t, h * dh)
            x = x + o @ self.w(p + "self_attn.o_proj.weight").T
            y = self.norm(x, self.w(p + "post_attention_layernorm.weight"))
            gate = y @ self.w(p + "mlp.gate_proj.weight").T
            up = y @ self.w(p + "mlp.up_proj.weight").T
            x = x + (torch.nn.functional.silu(gate) * up) @ self.w(p + "mlp.down_proj.weight").T
        x = self.norm(x, self.w("model.norm.weight"))
        head = self.w("model.embed_tokens.weight") if c.get("tie_word_embeddings") and "lm_head__weight" not in self.p else self.w("lm_head.weight")
        return x @ head.T  # [B, T, V]: the whole batch's logits at once


def scores(model, config):
    """Unit saliencies (NIRVANA.md section 2): sums of |dW * W| over each neuron's and each KV group's rows/columns."""
    d, h, hkv, dh = config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"], model.dh
    g = h // hkv
    attn, mlp = [], []
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s = {n: (model.w(p + n).grad * model.w(p + n)).abs().double() for n in
             ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
              "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]}
        mlp.append(s["mlp.gate_proj.weight"].sum(1) + s["mlp.up_proj.weight"].sum(1) + s["mlp.down_proj.weight"].sum(0))
        a = (s["self_attn.q_proj.weight"].sum(1).view(hkv, g * dh).sum(1)
             + s["self_attn.k_proj.weight"].sum(1).view(hkv, dh).sum(1)
             + s["self_attn.v_proj.weight"].sum(1).view(hkv, dh).sum(1)
             + s["self_attn.o_proj.weight"].sum(0).view(hkv, g * dh).sum(1))
        attn.append(a)
    return attn, mlp


def allocate(attn, mlp, config, dh, sparsity, gamma):
    """Two global pools with gamma, thresholds, the multiple-of-8 and keep-one-group rules (section 3)."""
    layers = len(attn)
    hkv, f, g = config["num_key_value_heads"], config["intermediate_size"], config["num_attention_heads"] // config["num_key_value_heads"]
    a = 2.0 * dh * (g + 1)
    budget = sparsity * (a * hkv * layers + 3 * f * layers)
    r = hkv * layers / (gamma * f * layers)
    n_attn_f = budget / (a + 3 / r)
    n_attn, n_mlp = math.floor(n_attn_f), math.floor(n_attn_f / r)
    theta_attn = torch.cat(attn).sort().values[n_attn - 1].item() if n_attn > 0 else 0.0
    theta_mlp = torch.cat(mlp).sort().values[n_mlp - 1].item() if n_mlp > 0 else 0.0
    plan = []
    for sa, sm in zip(attn, mlp):
        groups = [i for i in range(len(sa)) if not sa[i].item() <= theta_attn] or [len(sa) - 1]
        keep = [i for i in range(len(sm)) if not sm[i].item() <= theta_mlp]
        k = min(len(sm), max(8, (len(keep) + 7) // 8 * 8))
        spare = sorted((i for i in range(len(sm)) if sm[i].item() <= theta_mlp), key=lambda i: (-sm[i].item(), i))
        plan.append((groups, sorted(keep + spare[:k - len(keep)])))
    return plan, n_attn, n_mlp


def compact(weights, plan, config, dh):
    """Delete the removed groups' q/k/v rows and o_proj columns, the removed neurons' gate/up rows and down columns."""
    g = config["num_attention_heads"] // config["num_key_value_heads"]
    out = dict(weights)
    for i, (groups, neurons) in enumerate(plan):
        p = f"model.layers.{i}."
        q_rows = torch.tensor([r for grp in groups for r in range(grp * g * dh, (grp + 1) * g * dh)])
        kv_rows = torch.tensor([r for grp in groups for r in range(grp * dh, (grp + 1) * dh)])
        n = torch.tensor(neurons)
        out[p + "self_attn.q_proj.weight"] = weights[p + "self_attn.q_proj.weight"][q_rows]
        out[p + "self_attn.k_proj.weight"] = weights[p + "self_attn.k_proj.weight"][kv_rows]
        out[p + "self_attn.v_proj.weight"] = weights[p + "self_attn.v_proj.weight"][kv_rows]
        out[p + "self_attn.o_proj.weight"] = weights[p + "self_attn.o_proj.weight"][:, q_rows]
        out[p + "mlp.gate_proj.weight"] = weights[p + "mlp.gate_proj.weight"][n]
        out[p + "mlp.up_proj.weight"] = weights[p + "mlp.up_proj.weight"][n]
        out[p + "mlp.down_proj.weight"] = weights[p + "mlp.down_proj.weight"][:, n]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("calibration")
    ap.add_argument("output")
    ap.add_argument("--sparsity", type=float, default=0.2)
    ap.add_argument("--gamma", type=float, default=3.36)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    clock = {"import": time.perf_counter() - START}

    t0 = time.perf_counter()
    config = json.load(open(os.path.join(args.model, "config.json")))
    weights = read_safetensors(os.path.join(args.model, "model.safetensors"))
    model = Llama(config, weights)
    ids = torch.tensor(json.load(open(args.calibration)), dtype=torch.long)
    clock["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    logits = model(ids)                                     # full-batch forward
    objective = logits.max(dim=1).values.mean()             # mean over (b, v) of max over t
    objective.backward()                                    # autograd backward of the objective
    clock["forward_backward"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with torch.no_grad():
        attn, mlp = scores(model, config)
        plan, n_attn, n_mlp = allocate(attn, mlp, config, model.dh, args.sparsity, args.gamma)
        pruned = compact({k: v for k, v in weights.items()}, plan, config, model.dh)
    clock["score_allocate_compact"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    os.makedirs(args.output, exist_ok=True)
    cfg = dict(config)
    g = config["num_attention_heads"] // config["num_key_value_heads"]
    cfg.update(pruned=True, pruned_attn=True, modified_head_num=[len(a) * g for a, _ in plan],
               modified_intermediate_dimension=[len(n) for _, n in plan], layer_num_key_value_heads=[len(a) for a, _ in plan])
    json.dump(cfg, open(os.path.join(args.output, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(args.output, "model.safetensors"), pruned)
    json.dump({"layers": [{"layer": i, "kept_kv_groups": a, "kept_mlp_neurons": n} for i, (a, n) in enumerate(plan)]},
              open(os.path.join(args.output, "plan.json"), "w"))
    clock["write"] = time.perf_counter() - t0

    print(json.dumps({
        "torch": torch.__version__, "threads": torch.get_num_threads(), "objective": objective.item(),
        "attention_units_to_prune": n_attn, "mlp_neurons_to_prune": n_mlp,
        "seconds": {k: round(v, 3) for k, v in clock.items()}, "total_seconds": round(time.perf_counter() - START, 3),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    sys.exit(main())
