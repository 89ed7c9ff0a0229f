#!/usr/bin/env python3
"""
Independent reference for the Llama-family forward pass (Llama, Qwen2, Mistral), in pure Python 3.11.

It is the test oracle for the C# engine: it writes a small random Hugging Face checkpoint, reads it back from disk
the way any loader would, runs the forward pass of transformers' LlamaForCausalLM / Qwen2ForCausalLM /
MistralForCausalLM in double precision, and writes the expected logits and loss.

    python3 tests/reference/llama_reference.py make --variant NAME --seed S --out DIR
    python3 tests/reference/llama_reference.py selftest
    python3 tests/reference/llama_reference.py list

Standard library only (no numpy): tensors are Python lists, matrices are lists of rows, and Linear weights are
stored as Hugging Face does, [out, in], so y = x W^T + b.

Legend used in shape comments: T positions, D hidden width, H query heads, Hkv KV heads, G = H / Hkv,
Dh head width, F MLP width, V vocabulary, L layers. A pruned model has its own H_i, Hkv_i, F_i per layer.
"""

import argparse
import json
import math
import os
import random
import struct
import sys
import time

# ---------------------------------------------------------------------------------------------------------------
# Small linear-algebra helpers on lists of floats


def matvec(W, x):
    """W [out][in], x [in] -> [out]: the product W x (one row of x W^T)."""
    assert len(W[0]) == len(x), f"matvec: weight has {len(W[0])} columns, input has {len(x)}"
    return [math.fsum(w * v for w, v in zip(row, x)) for row in W]


def linear(x, W, b=None):
    """Hugging Face nn.Linear on one vector: x [in], W [out][in], b [out] or None -> x W^T + b [out]."""
    y = matvec(W, x)
    if b is not None:
        y = [yi + bi for yi, bi in zip(y, b)]
    return y


def rms_norm(x, weight, eps):
    """LlamaRMSNorm: x * 1/sqrt(mean(x^2) + eps) * weight. x, weight [D]."""
    inv_rms = 1.0 / math.sqrt(math.fsum(v * v for v in x) / len(x) + eps)
    return [v * inv_rms * w for v, w in zip(x, weight)]


def silu(v):
    """SiLU (swish): v * sigmoid(v), written to avoid overflow of exp for large |v|."""
    if v >= 0:
        return v / (1.0 + math.exp(-v))
    e = math.exp(v)
    return v * e / (1.0 + e)


def softmax(scores):
    """Numerically stable softmax of a list."""
    m = max(scores)
    exps = [math.exp(s - m) for s in scores]
    total = math.fsum(exps)
    return [e / total for e in exps]


def log_softmax(scores):
    m = max(scores)
    log_total = m + math.log(math.fsum(math.exp(s - m) for s in scores))
    return [s - log_total for s in scores]


def rotate_half(x):
    """transformers' rotate_half: [x1, x2] -> [-x2, x1], halves split at Dh/2 (not interleaved pairs)."""
    half = len(x) // 2
    return [-v for v in x[half:]] + x[:half]


def reshape_rows(flat, rows, cols):
    """Flat row-major list -> list of `rows` rows of `cols` values."""
    assert len(flat) == rows * cols, f"reshape: {len(flat)} values do not make [{rows}, {cols}]"
    return [flat[r * cols:(r + 1) * cols] for r in range(rows)]


# ---------------------------------------------------------------------------------------------------------------
# Storage dtypes: the bytes written are the values computed with (decoded back), so rounding is no error source


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f32_from_bits(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def bf16_bits(x):
    """float -> bfloat16 bits: round to float32, then keep the top 16 bits rounding to nearest, ties to even
    (the rule torch / c10 use). NaN stays a (quiet) NaN."""
    bits = f32_bits(x)
    if (bits & 0x7F800000) == 0x7F800000 and (bits & 0x007FFFFF) != 0:
        return ((bits >> 16) | 0x0040) & 0xFFFF
    rounding_bias = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding_bias) >> 16) & 0xFFFF


def bf16_value(bits16):
    return f32_from_bits(bits16 << 16)


DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2}


def encode_values(values, dtype):
    """Flat list of floats -> little-endian bytes in the safetensors dtype."""
    if dtype == "F32":
        return struct.pack(f"<{len(values)}f", *values)
    if dtype == "F16":
        # Round through float32 first, as a float32 model saved in half precision would be.
        return struct.pack(f"<{len(values)}e", *(f32_from_bits(f32_bits(v)) for v in values))
    if dtype == "BF16":
        return struct.pack(f"<{len(values)}H", *(bf16_bits(v) for v in values))
    raise ValueError(f"unsupported dtype '{dtype}' (expected F32, F16 or BF16)")


def decode_values(raw, dtype):
    """Little-endian bytes in the safetensors dtype -> flat list of floats."""
    n = len(raw) // DTYPE_SIZES[dtype]
    if dtype == "F32":
        return list(struct.unpack(f"<{n}f", raw))
    if dtype == "F16":
        return list(struct.unpack(f"<{n}e", raw))
    if dtype == "BF16":
        return [bf16_value(b) for b in struct.unpack(f"<{n}H", raw)]
    raise ValueError(f"unsupported dtype '{dtype}' (expected F32, F16 or BF16)")


# ---------------------------------------------------------------------------------------------------------------
# safetensors: 8-byte LE header length, JSON header (padded with spaces to a multiple of 8), raw LE data


def write_safetensors(path, tensors, dtype):
    """tensors: {name: (shape, flat values)}. Data is laid out in name order, as the safetensors library does for
    tensors of one dtype; data_offsets are relative to the first byte after the header."""
    header = {"__metadata__": {"format": "pt"}}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        assert math.prod(shape) == len(values), f"{name}: shape {shape} does not match {len(values)} values"
        raw = encode_values(values, dtype)
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in chunks:
            f.write(raw)
    return offset  # bytes of tensor data


def read_safetensors(path):
    """-> {name: (shape, flat values)}, values decoded from the bytes on disk."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len].decode("utf-8"))
    data = blob[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        shape = info["shape"]
        expected_bytes = math.prod(shape) * DTYPE_SIZES[info["dtype"]]
        assert end - begin == expected_bytes, f"{path}: tensor '{name}' spans {end - begin} bytes, " \
                                              f"shape {shape} {info['dtype']} needs {expected_bytes}"
        tensors[name] = (shape, decode_values(data[begin:end], info["dtype"]))
    return tensors


def read_checkpoint(directory):
    """Reads model.safetensors, or every shard listed in model.safetensors.index.json."""
    index_path = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.exists(index_path):
        return read_safetensors(os.path.join(directory, "model.safetensors"))
    with open(index_path) as f:
        weight_map = json.load(f)["weight_map"]
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        for name, tensor in read_safetensors(os.path.join(directory, shard)).items():
            assert weight_map.get(name) == shard, f"{shard}: tensor '{name}' not mapped to this shard in the index"
            tensors[name] = tensor
    missing = set(weight_map) - set(tensors)
    assert not missing, f"index names tensors no shard holds: {sorted(missing)}"
    return tensors


# ---------------------------------------------------------------------------------------------------------------
# Model shape, read from config.json with Hugging Face's defaults and the pruned per-layer fields


class Shape:
    """Everything the forward pass needs to know from config.json."""

    def __init__(self, config):
        self.model_type = config["model_type"]
        self.D = config["hidden_size"]
        self.L = config["num_hidden_layers"]
        self.H = config["num_attention_heads"]
        self.Hkv = config.get("num_key_value_heads") or self.H
        self.F = config["intermediate_size"]
        self.V = config["vocab_size"]
        self.Dh = config.get("head_dim") or self.D // self.H  # transformers: head_dim, else D // H
        self.G = self.H // self.Hkv  # query heads per KV head
        self.eps = config["rms_norm_eps"]
        self.tied = config.get("tie_word_embeddings", False)
        # Qwen2 always has q/k/v biases and no o_proj bias; Llama's attention_bias puts a bias on q, k, v AND o.
        if self.model_type == "qwen2":
            self.bias_names = ("q_proj", "k_proj", "v_proj")
        elif config.get("attention_bias", False):
            self.bias_names = ("q_proj", "k_proj", "v_proj", "o_proj")
        else:
            self.bias_names = ()
        # Per-layer sizes of a pruned model (absent lists mean the dense sizes).
        self.layer_H = config.get("modified_head_num") or [self.H] * self.L
        self.layer_Hkv = config.get("layer_num_key_value_heads") or [h // self.G for h in self.layer_H]
        self.layer_F = config.get("modified_intermediate_dimension") or [self.F] * self.L
        for i in range(self.L):
            assert self.layer_H[i] == self.layer_Hkv[i] * self.G, \
                f"layer {i}: {self.layer_H[i]} query heads is not {self.layer_Hkv[i]} KV heads * G={self.G}"
        assert self.Dh % 2 == 0, f"head_dim must be even for rotary embedding (got {self.Dh})"
        self.inv_freq = rope_inv_freq(config["rope_theta"], self.Dh, config.get("rope_scaling"))


def tensor_shapes(s):
    """Every tensor of the checkpoint, in a fixed order (the order random weights are drawn in): (name, shape)."""
    out = [("model.embed_tokens.weight", [s.V, s.D])]
    for i in range(s.L):
        p = f"model.layers.{i}."
        q_width, kv_width, f_width = s.layer_H[i] * s.Dh, s.layer_Hkv[i] * s.Dh, s.layer_F[i]
        out += [
            (p + "input_layernorm.weight", [s.D]),
            (p + "self_attn.q_proj.weight", [q_width, s.D]),
            (p + "self_attn.k_proj.weight", [kv_width, s.D]),
            (p + "self_attn.v_proj.weight", [kv_width, s.D]),
            (p + "self_attn.o_proj.weight", [s.D, q_width]),
        ]
        bias_widths = {"q_proj": q_width, "k_proj": kv_width, "v_proj": kv_width, "o_proj": s.D}
        out += [(p + f"self_attn.{proj}.bias", [bias_widths[proj]]) for proj in s.bias_names]
        out += [
            (p + "post_attention_layernorm.weight", [s.D]),
            (p + "mlp.gate_proj.weight", [f_width, s.D]),
            (p + "mlp.up_proj.weight", [f_width, s.D]),
            (p + "mlp.down_proj.weight", [s.D, f_width]),
        ]
    out.append(("model.norm.weight", [s.D]))
    if not s.tied:
        out.append(("lm_head.weight", [s.V, s.D]))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Rotary position embedding


def rope_inv_freq(theta, head_dim, rope_scaling=None):
    """inv_freq[i] = 1 / theta^(2i / Dh) for i < Dh/2, then the llama3 adjustment when rope_scaling asks for it
    (transformers' _compute_llama3_parameters)."""
    inv_freq = [1.0 / theta ** (2 * i / head_dim) for i in range(head_dim // 2)]
    if rope_scaling is None:
        return inv_freq
    rope_type = rope_scaling.get("rope_type", rope_scaling.get("type"))
    assert rope_type == "llama3", f"rope_scaling.rope_type '{rope_type}' is not supported (only 'llama3')"
    return llama3_scaled_inv_freq(inv_freq, rope_scaling["factor"], rope_scaling["low_freq_factor"],
                                  rope_scaling["high_freq_factor"], rope_scaling["original_max_position_embeddings"])


def llama3_scaled_inv_freq(inv_freq, factor, low_freq_factor, high_freq_factor, old_context_len):
    """Llama 3.1: long wavelengths are slowed down by `factor`, short ones kept, the band between interpolated."""
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    scaled = []
    for f in inv_freq:
        wavelen = 2 * math.pi / f
        if wavelen > low_freq_wavelen:  # low frequency: fully scaled
            scaled.append(f / factor)
        elif wavelen < high_freq_wavelen:  # high frequency: unchanged
            scaled.append(f)
        else:  # medium: smooth interpolation between the two
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            scaled.append((1 - smooth) * f / factor + smooth * f)
    return scaled


def apply_rope(x, position, inv_freq):
    """x [Dh] of one head at `position`: x * cos + rotate_half(x) * sin, with cos/sin of position * inv_freq
    duplicated to Dh ([f0..f_{Dh/2-1}, f0..f_{Dh/2-1}])."""
    angles = [position * f for f in inv_freq] * 2
    rotated = rotate_half(x)
    return [v * math.cos(a) + r * math.sin(a) for v, r, a in zip(x, rotated, angles)]


# ---------------------------------------------------------------------------------------------------------------
# The model: one sequence at a time, positions 0..T-1, no padding


def matrix(weights, name):
    shape, flat = weights[name]
    assert len(shape) == 2, f"tensor '{name}' should be 2-D, has shape {shape}"
    return reshape_rows(flat, shape[0], shape[1])


def vector(weights, name):
    return weights[name][1] if name in weights else None


def attention(s, layer, xs, weights):
    """Causal self-attention of one layer. xs [T][D] (already normed) -> [T][D]."""
    p = f"model.layers.{layer}.self_attn."
    n_heads, Dh = s.layer_H[layer], s.Dh
    Wq, Wk, Wv, Wo = (matrix(weights, p + n + "_proj.weight") for n in "qkvo")
    bq, bk, bv, bo = (vector(weights, p + n + "_proj.bias") for n in "qkvo")
    T = len(xs)

    def split_heads(v):  # [heads * Dh] -> [heads][Dh]
        return [v[h * Dh:(h + 1) * Dh] for h in range(len(v) // Dh)]

    q = [split_heads(linear(x, Wq, bq)) for x in xs]  # [T][H_i][Dh]
    k = [split_heads(linear(x, Wk, bk)) for x in xs]  # [T][Hkv_i][Dh]
    v = [split_heads(linear(x, Wv, bv)) for x in xs]  # [T][Hkv_i][Dh]
    q = [[apply_rope(head, t, s.inv_freq) for head in q[t]] for t in range(T)]
    k = [[apply_rope(head, t, s.inv_freq) for head in k[t]] for t in range(T)]

    scale = 1.0 / math.sqrt(Dh)
    out = []
    for t in range(T):
        heads_out = []
        for h in range(n_heads):
            kv = h // s.G  # repeat_kv: query head h reads KV head h // G
            scores = [scale * math.fsum(a * b for a, b in zip(q[t][h], k[u][kv])) for u in range(t + 1)]  # causal
            probs = softmax(scores)
            heads_out += [math.fsum(probs[u] * v[u][kv][d] for u in range(t + 1)) for d in range(Dh)]
        out.append(linear(heads_out, Wo, bo))  # [H_i * Dh] -> [D]
    return out


def mlp(layer, xs, weights):
    """SwiGLU: down(silu(gate(x)) * up(x)) per position. xs [T][D] (already normed) -> [T][D], through width F_i."""
    p = f"model.layers.{layer}.mlp."
    W_gate, W_up, W_down = (matrix(weights, p + n + "_proj.weight") for n in ("gate", "up", "down"))
    out = []
    for x in xs:
        hidden = [silu(g) * u for g, u in zip(linear(x, W_gate), linear(x, W_up))]  # [F_i]
        out.append(linear(hidden, W_down))
    return out


def forward(s, weights, tokens):
    """tokens [T] -> logits [T][V]."""
    embed = matrix(weights, "model.embed_tokens.weight")
    hidden = [list(embed[t]) for t in tokens]  # [T][D]
    for layer in range(s.L):
        p = f"model.layers.{layer}."
        normed = [rms_norm(h, vector(weights, p + "input_layernorm.weight"), s.eps) for h in hidden]
        hidden = [[a + b for a, b in zip(h, o)] for h, o in zip(hidden, attention(s, layer, normed, weights))]
        normed = [rms_norm(h, vector(weights, p + "post_attention_layernorm.weight"), s.eps) for h in hidden]
        hidden = [[a + b for a, b in zip(h, m)] for h, m in zip(hidden, mlp(layer, normed, weights))]
    final = [rms_norm(h, vector(weights, "model.norm.weight"), s.eps) for h in hidden]
    lm_head = embed if s.tied else matrix(weights, "lm_head.weight")
    return [matvec(lm_head, h) for h in final]


def next_token_nll(logits, tokens):
    """Negative log-likelihood of tokens[t+1] given logits[t], for t = 0..T-2."""
    return [-log_softmax(logits[t])[tokens[t + 1]] for t in range(len(tokens) - 1)]


# ---------------------------------------------------------------------------------------------------------------
# Variants: small configs, one per feature the C# engine must get right

VOCAB = 61
SEQUENCES, SEQ_LEN = 2, 7


def base_config(**overrides):
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "intermediate_size": 48,
        "vocab_size": VOCAB,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "max_position_embeddings": 128,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "hidden_act": "silu",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    config.update(overrides)
    return config


def without(config, key):
    return {k: v for k, v in config.items() if k != key}


def llama3_rope_config():
    return base_config(hidden_size=32, num_attention_heads=2, num_key_value_heads=2,  # Dh = 16
                       rope_theta=500000.0, max_position_embeddings=131072,
                       rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})


def pruned_config():
    # Dense shape H 4, Hkv 2 (G 2), F 48; layer 0 keeps everything but 16 neurons, layer 1 keeps one KV group.
    return base_config(num_key_value_heads=2, modified_head_num=[4, 2], layer_num_key_value_heads=[2, 1],
                       modified_intermediate_dimension=[32, 20], pruned=True, pruned_attn=True)


# name -> (config, storage dtype, sharded into two files)
VARIANTS = {
    "base": (lambda: base_config(), "F32", False),
    "gqa": (lambda: base_config(num_key_value_heads=2), "F32", False),
    "bf16": (lambda: base_config(num_key_value_heads=2, torch_dtype="bfloat16"), "BF16", False),
    "f16": (lambda: base_config(num_key_value_heads=2, torch_dtype="float16"), "F16", False),
    "sharded": (lambda: base_config(num_key_value_heads=2), "F32", True),
    "tied": (lambda: base_config(tie_word_embeddings=True), "F32", False),
    # Qwen2 has q/k/v biases by model_type (its configs carry no attention_bias key); embeddings tied as in 0.5B.
    "qwen2-bias": (lambda: without(base_config(architectures=["Qwen2ForCausalLM"], model_type="qwen2",
                                               num_key_value_heads=2, tie_word_embeddings=True,
                                               rope_theta=1000000.0, rms_norm_eps=1e-6, use_sliding_window=False,
                                               sliding_window=None), "attention_bias"),
                   "F32", False),
    # Llama with attention_bias true: transformers gives q, k, v AND o_proj a bias (unlike Qwen2).
    "llama-bias": (lambda: base_config(num_key_value_heads=2, attention_bias=True), "F32", False),
    "head-dim": (lambda: base_config(hidden_size=24, num_attention_heads=4, num_key_value_heads=2, head_dim=8),
                 "F32", False),
    "llama3-rope": (llama3_rope_config, "F32", False),
    "pruned": (pruned_config, "F32", False),
    # sliding_window 4096 as in Mistral-7B-v0.1; it has no effect at T = 7. Hkv 1: all query heads share one KV.
    "mistral": (lambda: without(base_config(architectures=["MistralForCausalLM"], model_type="mistral",
                                            num_key_value_heads=1, sliding_window=4096), "attention_bias"),
                "F32", False),
}


def random_weights(s, rng):
    """Gaussian weights: projections std 0.3, embeddings std 0.5, biases std 0.2, norm weights 1 + 0.1 * N(0,1)."""
    weights = {}
    for name, shape in tensor_shapes(s):
        n = math.prod(shape)
        if name.endswith("norm.weight"):
            values = [1.0 + 0.1 * rng.gauss(0, 1) for _ in range(n)]
        elif name.endswith(".bias"):
            values = [rng.gauss(0, 0.2) for _ in range(n)]
        elif name == "model.embed_tokens.weight":
            values = [rng.gauss(0, 0.5) for _ in range(n)]
        else:
            values = [rng.gauss(0, 0.3) for _ in range(n)]
        weights[name] = (shape, values)
    return weights


def random_tokens(rng, vocab):
    rows = [[rng.randrange(vocab) for _ in range(SEQ_LEN)] for _ in range(SEQUENCES)]
    rows[0][0], rows[1][-1] = vocab - 1, 0  # touch both ends of the embedding table
    return rows


def write_checkpoint(directory, weights, dtype, sharded):
    if not sharded:
        write_safetensors(os.path.join(directory, "model.safetensors"), weights, dtype)
        return
    # First shard: embedding and layer 0; second: the rest (layer 1.., final norm, lm_head).
    names = sorted(weights)
    first = {n for n in names if n.startswith("model.embed_tokens.") or n.startswith("model.layers.0.")}
    shards = {"model-00001-of-00002.safetensors": {n: weights[n] for n in names if n in first},
              "model-00002-of-00002.safetensors": {n: weights[n] for n in names if n not in first}}
    total_size = 0
    weight_map = {}
    for file_name, part in shards.items():
        total_size += write_safetensors(os.path.join(directory, file_name), part, dtype)
        weight_map.update({n: file_name for n in part})
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}, f,
                  indent=2)


def make(variant, seed, directory):
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant '{variant}'; expected one of: {', '.join(VARIANTS)}")
    make_config, dtype, sharded = VARIANTS[variant]
    config = make_config()
    rng = random.Random(seed)
    weights = random_weights(Shape(config), rng)
    tokens = random_tokens(rng, config["vocab_size"])

    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_checkpoint(directory, weights, dtype, sharded)
    with open(os.path.join(directory, "tokens.json"), "w") as f:
        json.dump(tokens, f)

    # Everything below sees only what is on disk: the config and the weights as stored.
    with open(os.path.join(directory, "config.json")) as f:
        s = Shape(json.load(f))
    stored = read_checkpoint(directory)
    expected_names = {name for name, _ in tensor_shapes(s)}
    assert set(stored) == expected_names, f"checkpoint tensors differ: {sorted(set(stored) ^ expected_names)}"
    for name, shape in tensor_shapes(s):
        assert stored[name][0] == shape, f"tensor '{name}' has shape {stored[name][0]}, expected {shape}"

    logits = [forward(s, stored, row) for row in tokens]
    nll = [next_token_nll(lg, row) for lg, row in zip(logits, tokens)]
    loss = math.fsum(v for row in nll for v in row) / sum(len(row) for row in nll)

    if variant == "llama3-rope":
        check_llama3_scaling_matters(config, s, stored, tokens, logits)

    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump({"variant": variant, "seed": seed, "logits": logits, "loss": loss, "nll": nll,
                   "inv_freq": s.inv_freq}, f)
    return loss


def check_llama3_scaling_matters(config, s, stored, tokens, logits):
    """The llama3 variant is only a test if ignoring rope_scaling gives visibly different logits."""
    plain = rope_inv_freq(config["rope_theta"], s.Dh)
    changed = [i for i, (a, b) in enumerate(zip(plain, s.inv_freq)) if a != b]
    assert changed, "llama3 rope_scaling changed no frequency: pick another rope_theta / head_dim"
    s_plain = Shape({k: v for k, v in config.items() if k != "rope_scaling"})
    unscaled = [forward(s_plain, stored, row) for row in tokens]
    max_logit = max(abs(v) for seq in logits for pos in seq for v in pos)
    max_diff = max(abs(a - b) for x, y in zip(logits, unscaled) for p, q in zip(x, y) for a, b in zip(p, q))
    assert max_diff > 1e-3 * max_logit, \
        f"llama3 scaling moves logits by only {max_diff:.2e} (max |logit| {max_logit:.2f}): too weak a test"


# ---------------------------------------------------------------------------------------------------------------
# Self-test: each piece against a case worked out by hand


def selftest():
    failures = []

    def check(name, got, want, tol=1e-12):
        got_list, want_list = (got, want) if isinstance(got, list) else ([got], [want])
        ok = len(got_list) == len(want_list) and all(abs(g - w) <= tol for g, w in zip(got_list, want_list))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: got {got}, want {want}")
        if not ok:
            failures.append(name)

    check("rotate_half([1,2,3,4])", rotate_half([1.0, 2.0, 3.0, 4.0]), [-3.0, -4.0, 1.0, 2.0])
    # mean(9, 16) = 12.5, rms = sqrt(12.5) = 3.5355339...; weight [1, 2]
    check("rms_norm([3,4], w=[1,2], eps=0)", rms_norm([3.0, 4.0], [1.0, 2.0], 0.0),
          [3 / math.sqrt(12.5), 8 / math.sqrt(12.5)])
    check("rms_norm([0,0], eps=1e-5) is finite zero", rms_norm([0.0, 0.0], [1.0, 1.0], 1e-5), [0.0, 0.0])
    check("softmax([0, ln 2])", softmax([0.0, math.log(2.0)]), [1 / 3, 2 / 3])
    check("softmax([1000, 1000]) does not overflow", softmax([1000.0, 1000.0]), [0.5, 0.5])
    check("log_softmax([0, 0, 0, 0])", log_softmax([0.0] * 4), [-math.log(4)] * 4)
    check("silu(0), silu(1), silu(-800)", [silu(0.0), silu(1.0), silu(-800.0)], [0.0, 1 / (1 + math.exp(-1)), 0.0])
    # [[1,2,3],[4,5,6]] x [1,0,-1] = [-2, -2]; plus bias [10, 20]
    check("linear 2x3", linear([1.0, 0.0, -1.0], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [10.0, 20.0]), [8.0, 18.0])

    # bf16: round-to-nearest-even on the 16 dropped bits of the float32 pattern.
    check("bf16(1.0) = 0x3F80", bf16_bits(1.0), 0x3F80)
    check("bf16(-2.0) = 0xC000", bf16_bits(-2.0), 0xC000)
    check("bf16(1 + 2^-8) tie -> even 0x3F80", bf16_bits(1 + 2 ** -8), 0x3F80)
    check("bf16(1 + 3*2^-8) tie -> even 0x3F82", bf16_bits(1 + 3 * 2 ** -8), 0x3F82)
    check("bf16(1 + 2^-8 + 2^-16) above tie -> 0x3F81", bf16_bits(1 + 2 ** -8 + 2 ** -16), 0x3F81)
    check("bf16(pi) = 0x4049 (3.140625)", [bf16_bits(math.pi), bf16_value(0x4049)], [0x4049, 3.140625])
    check("bf16(max float32) rounds to +inf 0x7F80", bf16_bits(f32_from_bits(0x7F7FFFFF)), 0x7F80)
    check("bf16(NaN) stays NaN", float(math.isnan(bf16_value(bf16_bits(float("nan"))))), 1.0)
    check("f16 1/3 = 0x3555", struct.unpack("<H", encode_values([1 / 3], "F16"))[0], 0x3555)
    check("f16 round trip of 65504", decode_values(encode_values([65504.0], "F16"), "F16"), [65504.0])

    # RoPE: Dh 4, theta 10000 -> inv_freq [1, 0.01]; at position 1, x = [1, 0, 0, 0] becomes
    # [cos 1, 0, sin 1, 0] (pair (0, 2) rotates by 1 rad; pair (1, 3) is zero).
    check("inv_freq(theta 10000, Dh 4)", rope_inv_freq(10000.0, 4), [1.0, 0.01])
    check("rope of e0 at position 1", apply_rope([1.0, 0.0, 0.0, 0.0], 1, [1.0, 0.01]),
          [math.cos(1.0), 0.0, math.sin(1.0), 0.0])
    check("rope at position 0 is identity", apply_rope([1.0, 2.0, 3.0, 4.0], 0, [1.0, 0.01]), [1.0, 2.0, 3.0, 4.0])

    # llama3 scaling, theta 500000, Dh 16, factor 8, low 1, high 4, original context 8192:
    #   i = 0: inv_freq 1, wavelength 6.28 < 2048 -> unchanged
    #   i = 4: inv_freq = 500000^-0.5 = 1/707.10678 = 1.41421356e-3, wavelength 2*pi*707.10678 = 4442.8829,
    #          between 2048 and 8192 -> smooth = (8192/4442.8829 - 1) / 3 = 0.84384782 / 3 = 0.28128261,
    #          scaled = inv_freq * ((1 - smooth)/8 + smooth) = 1.41421356e-3 * 0.37112228 = 5.2484616e-4
    #   i = 7: inv_freq = 500000^-0.875 = 1.0313e-5, wavelength 609226 > 8192 -> divided by 8
    plain = rope_inv_freq(500000.0, 16)
    scaled = rope_inv_freq(500000.0, 16, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    check("llama3 high frequency unchanged", scaled[0], 1.0)
    check("llama3 medium frequency i=4 (hand value)", scaled[4], 5.2484616e-4, tol=1e-11)
    check("llama3 low frequency i=7 is /8", scaled[7], plain[7] / 8)

    # Attention at T = 1: softmax over one score is 1, so the output is o_proj(v) whatever q and k are.
    s = Shape(base_config(hidden_size=4, num_attention_heads=1, num_key_value_heads=1, num_hidden_layers=1))
    eye = [[1.0 if r == c else 0.0 for c in range(4)] for r in range(4)]
    flat_eye = [v for row in eye for v in row]
    weights = {f"model.layers.0.self_attn.{n}_proj.weight": ([4, 4], flat_eye) for n in "qkvo"}
    check("attention at T=1 returns v", attention(s, 0, [[0.5, -1.0, 2.0, 3.0]], weights)[0], [0.5, -1.0, 2.0, 3.0])
    # T = 2 with q = k = 0 (zero weights): equal scores, position 1 averages v0 and v1; position 0 sees only v0.
    weights["model.layers.0.self_attn.q_proj.weight"] = ([4, 4], [0.0] * 16)
    out = attention(s, 0, [[1.0, 0.0, 0.0, 0.0], [3.0, 2.0, 0.0, 0.0]], weights)
    check("causal attention, uniform scores", out[0] + out[1], [1.0, 0.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0])

    # safetensors round trip through a temporary file, header length a multiple of 8.
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.safetensors")
        write_safetensors(path, {"b": ([3], [1.0, -2.5, 0.25]), "a": ([2, 1], [3.0, 4.0])}, "F32")
        with open(path, "rb") as f:
            header_len = struct.unpack("<Q", f.read(8))[0]
        back = read_safetensors(path)
        check("safetensors header length multiple of 8", header_len % 8, 0)
        check("safetensors round trip", back["a"][1] + back["b"][1], [3.0, 4.0, 1.0, -2.5, 0.25])

    if failures:
        print(f"selftest FAILED: {len(failures)} check(s): {', '.join(failures)}")
        return 1
    print("selftest passed")
    return 0


# ---------------------------------------------------------------------------------------------------------------


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make_cmd = commands.add_parser("make", help="write a random checkpoint and its expected logits")
    make_cmd.add_argument("--variant", required=True, choices=list(VARIANTS))
    make_cmd.add_argument("--seed", type=int, required=True)
    make_cmd.add_argument("--out", required=True, help="directory to create (or fill)")
    commands.add_parser("selftest", help="check the pieces against hand-computed cases")
    commands.add_parser("list", help="print the variant names")
    args = parser.parse_args(argv)

    if args.command == "selftest":
        return selftest()
    if args.command == "list":
        print("\n".join(VARIANTS))
        return 0
    start = time.perf_counter()
    loss = make(args.variant, args.seed, args.out)
    print(f"{args.variant} seed {args.seed}: loss {loss:.6f} in {time.perf_counter() - start:.2f}s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
