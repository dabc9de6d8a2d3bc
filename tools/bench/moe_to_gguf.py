#!/usr/bin/env python3
"""Writes a Qwen3-MoE safetensors folder (the synthetic one bench_engine_moe_cpu makes) as a GGUF
file for llama.cpp's `qwen3moe` architecture, with the same bf16 weights bit for bit.

    python3 tools/bench/moe_to_gguf.py MODEL_DIR OUT.gguf

Developer tool for the llama.cpp comparison only (needs `pip install gguf numpy`). Tensor names,
layouts and metadata follow llama.cpp's convert_hf_to_gguf.py (Qwen2MoeModel/Qwen3MoeModel):
experts are stacked as ggml ne {n_embd, n_ff, n_expert} for gate/up and {n_ff, n_embd, n_expert}
for down. Both the Hub's fused experts (gate_up_proj [E, H, 2I], down_proj [E, I, H], used as
x @ W) and per-expert nn.Linear tensors are accepted. The tokenizer is llama.cpp's "none" model
with vocab_size dummy tokens: the benchmark feeds token ids, never text.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import gguf


def read_safetensors(path: Path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "BF16":
            sys.exit(f"{path}: tensor {name} is {info['dtype']}; this converter keeps bf16 only")
        b, e = info["data_offsets"]
        out[name] = data[b:e].view(np.uint16).reshape(info["shape"])
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: moe_to_gguf.py MODEL_DIR OUT.gguf")
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = json.loads((src / "config.json").read_text())
    cfg = {**cfg, **cfg.get("text_config", {})}
    t = read_safetensors(src / "model.safetensors")
    L, H = cfg["num_hidden_layers"], cfg["hidden_size"]
    E, I, D = cfg["num_experts"], cfg["moe_intermediate_size"], cfg["head_dim"]
    pre = "model.language_model." if "model.language_model.embed_tokens.weight" in t else "model."

    w = gguf.GGUFWriter(dst, "qwen3moe")
    w.add_name("deskpilot-synthetic-qwen3moe")
    w.add_context_length(cfg.get("max_position_embeddings", 40960))
    w.add_embedding_length(H)
    w.add_block_count(L)
    w.add_feed_forward_length(cfg.get("intermediate_size", I * cfg["num_experts_per_tok"]))
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_key_length(D)
    w.add_value_length(D)
    w.add_rope_dimension_count(D)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 1e6)))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    w.add_expert_count(E)
    w.add_expert_used_count(cfg["num_experts_per_tok"])
    w.add_expert_feed_forward_length(I)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    w.add_tokenizer_model("none")
    w.add_vocab_size(cfg["vocab_size"])

    def put(name, arr):
        # numpy shape is ggml's ne reversed; tofile writes C order even for transposed views.
        if arr.ndim == 1:
            # Norm vectors as f32 (exactly the bf16 values), as convert_hf_to_gguf.py stores
            # them: ggml's CPU norm multiply takes no bf16 operand.
            w.add_tensor(name, (arr.astype(np.uint32) << 16).view(np.float32))
        else:
            w.add_tensor(name, arr, raw_dtype=gguf.GGMLQuantizationType.BF16)

    put("token_embd.weight", t[pre + "embed_tokens.weight"])
    put("output_norm.weight", t[pre + "norm.weight"])
    head = t.get("lm_head.weight")
    put("output.weight", head if head is not None else t[pre + "embed_tokens.weight"])
    for l in range(L):
        p, b = f"{pre}layers.{l}.", f"blk.{l}."
        for hf, gg in [("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm"),
                       ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"),
                       ("self_attn.v_proj", "attn_v"), ("self_attn.o_proj", "attn_output"),
                       ("self_attn.q_norm", "attn_q_norm"), ("self_attn.k_norm", "attn_k_norm"),
                       ("mlp.gate", "ffn_gate_inp")]:
            put(b + gg + ".weight", t[p + hf + ".weight"])
        if p + "mlp.experts.gate_up_proj" in t:
            gu, dn = t[p + "mlp.experts.gate_up_proj"], t[p + "mlp.experts.down_proj"]
            if gu.shape != (E, H, 2 * I) or dn.shape != (E, I, H):
                sys.exit(f"{src}: layer {l} fused experts have shapes {gu.shape}, {dn.shape}")
            # y = x @ W with W [in, out]; ggml wants rows of `in` length: [E, out, in].
            put(b + "ffn_gate_exps.weight", gu[:, :, :I].transpose(0, 2, 1))
            put(b + "ffn_up_exps.weight", gu[:, :, I:].transpose(0, 2, 1))
            put(b + "ffn_down_exps.weight", dn.transpose(0, 2, 1))
        else:
            for hf, gg in [("gate_proj", "ffn_gate_exps"), ("up_proj", "ffn_up_exps"),
                           ("down_proj", "ffn_down_exps")]:
                put(b + gg + ".weight",
                    np.stack([t[f"{p}mlp.experts.{e}.{hf}.weight"] for e in range(E)]))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()


if __name__ == "__main__":
    main()
