#!/usr/bin/env python3
"""Writes a synthetic Qwen3-VL-MoE checkpoint in Hugging Face layout for tools/bench/vlm_vs_llama_cpp.sh.

    vlm_checkpoint.py OUT_DIR --tokenizer DIR [--layers 2] [--vision-depth 27] [--seed 1]

Real widths: the text part is Qwen3-VL-30B-A3B's (hidden 2048, 32/4 heads of 128, 128 experts,
top-8, expert width 768, vocab 151936, interleaved MRoPE [24,20,20], rope theta 5e6) with
--layers layers; the vision tower is its full tower (27 blocks of hidden 1152, 16 heads, MLP
4304, patch 16, temporal patch 2, merge 2, 48x48 position table, DeepStack from blocks 8, 16,
24, output 2048). Weights are random bf16 (see write_safetensors; norms near 1, matrices uniform in +-0.05, the router
+-1 so tokens pick distinct experts, the vision tower +-0.03), in the Hub's fused-expert layout
(model.language_model.*, model.visual.*, lm_head). The tokenizer (tokenizer.json and
tokenizer_config.json) is copied from --tokenizer. Both engines read this folder: Deskpilot
directly, llama.cpp after its own convert_hf_to_gguf.py.
"""
import argparse
import json
import shutil
import struct
from pathlib import Path

import numpy as np

TEXT = dict(hidden=2048, heads=32, kv=4, head_dim=128, experts=128, top_k=8, expert=768, vocab=151936)
VIS = dict(hidden=1152, heads=16, mlp=4304, patch=16, temporal=2, merge=2, side=48, out=2048)
DEEPSTACK = [8, 16, 24]


def specs(layers: int, depth: int):
    """(name, shape, kind) with kind 'norm', 'router', 'text' or 'vision'."""
    t, v = TEXT, VIS
    h, e, i = t["hidden"], t["experts"], t["expert"]
    out = [("lm_head.weight", (t["vocab"], h), "text"),
           ("model.language_model.embed_tokens.weight", (t["vocab"], h), "text"),
           ("model.language_model.norm.weight", (h,), "norm")]
    for l in range(layers):
        p = f"model.language_model.layers.{l}."
        out += [(p + "input_layernorm.weight", (h,), "norm"),
                (p + "post_attention_layernorm.weight", (h,), "norm"),
                (p + "self_attn.q_norm.weight", (t["head_dim"],), "norm"),
                (p + "self_attn.k_norm.weight", (t["head_dim"],), "norm"),
                (p + "self_attn.q_proj.weight", (t["heads"] * t["head_dim"], h), "text"),
                (p + "self_attn.k_proj.weight", (t["kv"] * t["head_dim"], h), "text"),
                (p + "self_attn.v_proj.weight", (t["kv"] * t["head_dim"], h), "text"),
                (p + "self_attn.o_proj.weight", (h, t["heads"] * t["head_dim"]), "text"),
                (p + "mlp.gate.weight", (e, h), "router"),
                (p + "mlp.experts.gate_up_proj", (e, h, 2 * i), "text"),
                (p + "mlp.experts.down_proj", (e, i, h), "text")]
    vh, pt = v["hidden"], v["patch"]
    out += [("model.visual.patch_embed.proj.weight", (vh, 3, v["temporal"], pt, pt), "vision"),
            ("model.visual.patch_embed.proj.bias", (vh,), "vision"),
            ("model.visual.pos_embed.weight", (v["side"] ** 2, vh), "vision")]
    for b in range(depth):
        p = f"model.visual.blocks.{b}."
        out += [(p + "norm1.weight", (vh,), "norm"), (p + "norm1.bias", (vh,), "vision"),
                (p + "norm2.weight", (vh,), "norm"), (p + "norm2.bias", (vh,), "vision"),
                (p + "attn.qkv.weight", (3 * vh, vh), "vision"), (p + "attn.qkv.bias", (3 * vh,), "vision"),
                (p + "attn.proj.weight", (vh, vh), "vision"), (p + "attn.proj.bias", (vh,), "vision"),
                (p + "mlp.linear_fc1.weight", (v["mlp"], vh), "vision"),
                (p + "mlp.linear_fc1.bias", (v["mlp"],), "vision"),
                (p + "mlp.linear_fc2.weight", (vh, v["mlp"]), "vision"),
                (p + "mlp.linear_fc2.bias", (vh,), "vision")]
    merged = vh * v["merge"] ** 2
    mergers = ["model.visual.merger"] + [f"model.visual.deepstack_merger_list.{k}"
                                         for k in range(len([d for d in DEEPSTACK if d < depth]))]
    for m in mergers:
        nd = merged if "deepstack" in m else vh  # DeepStack mergers norm after the 2x2 shuffle
        out += [(m + ".norm.weight", (nd,), "norm"), (m + ".norm.bias", (nd,), "vision"),
                (m + ".linear_fc1.weight", (merged, merged), "vision"),
                (m + ".linear_fc1.bias", (merged,), "vision"),
                (m + ".linear_fc2.weight", (v["out"], merged), "vision"),
                (m + ".linear_fc2.bias", (v["out"],), "vision")]
    return out


def to_bf16(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


POOL = 16777259  # a prime: tensors cycle through a pool of this many random values


def write_safetensors(path: Path, tensors, seed: int):
    """Each tensor is a window of a cyclic pool of random values at a random start. Generating
    4 GB of fresh random numbers takes many minutes on a busy machine; with a prime period no
    two rows or experts of a real width repeat each other."""
    header, off = {}, 0
    for name, shape, _ in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - (8 + len(raw)) % 8) % 8)
    rng = np.random.default_rng(seed)
    u = rng.random(POOL, dtype=np.float32) * 2 - 1
    pools = {k: np.tile(to_bf16(s * u if k != "norm" else 1 + 0.1 * u), 2)
             for k, s in {"text": 0.05, "router": 1.0, "vision": 0.03, "norm": 0.1}.items()}
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, shape, kind in tensors:
            n, at = int(np.prod(shape)), int(rng.integers(POOL))
            while n:
                c = min(n, POOL)
                f.write(pools[kind][at:at + c].tobytes())
                n -= c
                at = (at + c) % POOL


def config(layers: int, depth: int):
    t, v = TEXT, VIS
    return {
        "architectures": ["Qwen3VLMoeForConditionalGeneration"],
        "model_type": "qwen3_vl_moe",
        "image_token_id": 151655, "video_token_id": 151656,
        "vision_start_token_id": 151652, "vision_end_token_id": 151653,
        "tie_word_embeddings": False,
        "text_config": {
            "model_type": "qwen3_vl_moe_text", "vocab_size": t["vocab"], "hidden_size": t["hidden"],
            "num_hidden_layers": layers, "num_attention_heads": t["heads"],
            "num_key_value_heads": t["kv"], "head_dim": t["head_dim"], "hidden_act": "silu",
            "intermediate_size": 6144, "moe_intermediate_size": t["expert"],
            "num_experts": t["experts"], "num_experts_per_tok": t["top_k"], "decoder_sparse_step": 1,
            "mlp_only_layers": [], "norm_topk_prob": True, "rms_norm_eps": 1e-6,
            "attention_bias": False, "max_position_embeddings": 262144, "tie_word_embeddings": False,
            "bos_token_id": 151643, "eos_token_id": 151645,
            "rope_parameters": {"rope_type": "default", "rope_theta": 5000000.0,
                                "mrope_interleaved": True, "mrope_section": [24, 20, 20]},
        },
        "vision_config": {
            "model_type": "qwen3_vl_moe_vision", "depth": depth, "hidden_size": v["hidden"],
            "num_heads": v["heads"], "intermediate_size": v["mlp"], "hidden_act": "gelu_pytorch_tanh",
            "in_channels": 3, "patch_size": v["patch"], "temporal_patch_size": v["temporal"],
            "spatial_merge_size": v["merge"], "out_hidden_size": v["out"],
            "num_position_embeddings": v["side"] ** 2,
            "deepstack_visual_indexes": [d for d in DEEPSTACK if d < depth],
            "initializer_range": 0.02,
        },
    }


PREPROCESSOR = {
    "image_processor_type": "Qwen2VLImageProcessorFast", "do_resize": True, "do_rescale": True,
    "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "patch_size": 16, "temporal_patch_size": 2, "merge_size": 2,
    "size": {"longest_edge": 16777216, "shortest_edge": 65536},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tokenizer", type=Path, required=True, help="folder with tokenizer.json")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vision-depth", type=int, default=27)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    tok = a.tokenizer / "tokenizer.json"
    if not tok.is_file():
        ap.error(f"--tokenizer: {tok} not found")
    a.out.mkdir(parents=True, exist_ok=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        if (a.tokenizer / f).is_file():
            shutil.copyfile(a.tokenizer / f, a.out / f)
    (a.out / "config.json").write_text(json.dumps(config(a.layers, a.vision_depth), indent=1))
    (a.out / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=1))
    tmp = a.out / "model.safetensors.tmp"
    write_safetensors(tmp, specs(a.layers, a.vision_depth), a.seed)
    tmp.rename(a.out / "model.safetensors")


if __name__ == "__main__":
    main()
