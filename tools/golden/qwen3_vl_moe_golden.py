#!/usr/bin/env python3
"""Golden tensors for the C++ Qwen3-VL-MoE text decoder, from transformers (the reference).

    pip install torch transformers safetensors numpy
    tools/golden/qwen3_vl_moe_golden.py tests/data/engine/qwen3_vl_moe_tiny

Builds a tiny random Qwen3-VL-MoE (hidden 64, 4 layers, 8 experts top-2, 4 heads x head_dim 32
so heads*head_dim != hidden, 2 KV heads, vocab 1024, router weights with std 1 so top-k has no
near ties) and writes into OUT_DIR:
  config.json                    the model's config (rope_parameters spelling)
  model.safetensors              f32 weights, Hub layout: model.language_model.* prefix, fused
                                 experts gate_up_proj [E, H, 2I] and down_proj [E, I, H]
  bf16/config.json, bf16/model.safetensors
                                 the same weights in bf16, older model.* prefix, per-expert
                                 mlp.experts.N.{gate,up,down}_proj (text weights only)
  golden.safetensors             f32 references:
    ids [S], positions [3, S]    the prompt and its MRoPE positions (T/H/W differ over a
                                 pretend 2x3 image, so the interleaving is exercised)
    hidden.N [S, H]              input of layer N (N = 0..L; hidden.L is the last layer's output,
                                 before the final norm)
    topk.N [S, 2]                experts chosen in layer N, in transformers' order
    logits [S, V]                prefill logits
    step.K.id [1], step.K.position [3, 1], step.K.logits [1, V]
                                 three KV-cached decode steps, each feeding the previous argmax
    text.logits_last [V], text.greedy [3]
                                 the same ids with plain text positions: last prompt logits
                                 and three greedy tokens
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
from transformers.cache_utils import DynamicCache

L, H, HEADS, KV, HD, E, K, I, V = 4, 64, 4, 2, 32, 8, 2, 48, 1024


def build():
    torch.manual_seed(8)
    text = dict(vocab_size=V, hidden_size=H, intermediate_size=96, num_hidden_layers=L, num_attention_heads=HEADS,
                num_key_value_heads=KV, head_dim=HD, num_experts=E, num_experts_per_tok=K, moe_intermediate_size=I,
                rms_norm_eps=1e-6, max_position_embeddings=4096, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [6, 5, 5],
                                 "mrope_interleaved": True})
    vision = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, temporal_patch_size=2,
                  spatial_merge_size=2, out_hidden_size=H, num_position_embeddings=16, deepstack_visual_indexes=[0])
    config = Qwen3VLMoeConfig(text_config=text, vision_config=vision, tie_word_embeddings=False)
    config._attn_implementation = "eager"
    model = Qwen3VLMoeForConditionalGeneration(config).eval().float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("mlp.gate.weight"):
                p.normal_(0.0, 1.0)  # wide router logits: no near ties in top-k
            elif "norm" in name and p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "embed_tokens" in name:
                p.normal_(0.0, 1.0)
            else:
                p.normal_(0.0, 0.08)
    return config, model


def hub_state_dict(model):
    """Weights as Hub checkpoints store them (experts transposed relative to transformers' modules)."""
    out = {}
    for name, p in model.state_dict().items():
        t = p.detach().clone().contiguous()
        if name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj"):
            t = t.transpose(1, 2).contiguous()
        out[name] = t
    return out


def per_expert_bf16(sd):
    out = {}
    for name, t in sd.items():
        if not name.startswith("model.language_model.") and name != "lm_head.weight":
            continue
        short = name.replace("model.language_model.", "model.")
        if short.endswith("mlp.experts.gate_up_proj"):  # [E, H, 2I]
            base = short[: -len("gate_up_proj")]
            for e in range(E):
                out[f"{base}{e}.gate_proj.weight"] = t[e, :, :I].T.contiguous().bfloat16()
                out[f"{base}{e}.up_proj.weight"] = t[e, :, I:].T.contiguous().bfloat16()
        elif short.endswith("mlp.experts.down_proj"):  # [E, I, H]
            base = short[: -len("down_proj")]
            for e in range(E):
                out[f"{base}{e}.down_proj.weight"] = t[e].T.contiguous().bfloat16()
        else:
            out[short] = t.bfloat16()
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(os.path.join(out_dir, "bf16"), exist_ok=True)
    config, model = build()
    config_dict = config.to_dict()
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config_dict, f, indent=1, sort_keys=True)
    sd = hub_state_dict(model)
    save_file(sd, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    # The bf16 copy uses the older spelling: rope_scaling + rope_theta at the top of text_config.
    old = json.loads(json.dumps(config_dict))
    rp = old["text_config"].pop("rope_parameters")
    old["text_config"]["rope_theta"] = rp["rope_theta"]
    old["text_config"]["rope_scaling"] = {k: v for k, v in rp.items() if k != "rope_theta"}
    with open(os.path.join(out_dir, "bf16", "config.json"), "w") as f:
        json.dump(old, f, indent=1, sort_keys=True)
    save_file(per_expert_bf16(sd), os.path.join(out_dir, "bf16", "model.safetensors"), metadata={"format": "pt"})

    # Reload through transformers' own loader: proves the Hub layout written above is the one it reads.
    model = Qwen3VLMoeForConditionalGeneration.from_pretrained(out_dir, torch_dtype=torch.float32,
                                                               attn_implementation="eager").eval()
    lm = model.model.language_model

    rng = np.random.default_rng(8)
    ids = torch.tensor(rng.integers(0, V, size=14), dtype=torch.long)
    # Positions: 4 text tokens, a pretend image of 2x3 merged patches, then text resuming at
    # 4 + max(2, 3) = 7.
    t_pos, h_pos, w_pos = [], [], []
    for p in range(4):
        t_pos.append(p), h_pos.append(p), w_pos.append(p)
    for r in range(2):
        for c in range(3):
            t_pos.append(4), h_pos.append(4 + r), w_pos.append(4 + c)
    for p in range(7, 7 + 14 - 10):
        t_pos.append(p), h_pos.append(p), w_pos.append(p)
    positions = torch.tensor([t_pos, h_pos, w_pos], dtype=torch.long)
    S = ids.shape[0]

    captured = {}
    hooks = []
    for n, layer in enumerate(lm.layers):
        hooks.append(layer.register_forward_pre_hook(
            lambda mod, args, kwargs, n=n: captured.__setitem__(f"hidden.{n}", args[0][0].clone()) if args else
            captured.__setitem__(f"hidden.{n}", kwargs["hidden_states"][0].clone()), with_kwargs=True))
        hooks.append(layer.register_forward_hook(
            lambda mod, args, out, n=n: captured.__setitem__(f"hidden.{n + 1}", (out[0] if isinstance(out, tuple) else out)[0].clone())))
        hooks.append(layer.mlp.gate.register_forward_hook(
            lambda mod, args, out, n=n: captured.__setitem__(f"topk.{n}", out[2].float().clone())))

    golden = {}
    with torch.no_grad():
        cache = DynamicCache(config=config.text_config)
        out = lm(input_ids=ids[None], position_ids=positions[:, None, :], cache=cache, use_cache=True)
        logits = model.lm_head(out.last_hidden_state)[0]
        for k, v in captured.items():
            golden[k] = v.float().contiguous()
        for h in hooks:
            h.remove()
        golden["ids"] = ids.float()
        golden["positions"] = positions.float()
        golden["logits"] = logits.float().contiguous()
        cache = out.cache if hasattr(out, "cache") and out.cache is not None else cache
        next_id = int(logits[-1].argmax())
        next_pos = int(positions.max()) + 1
        for step in range(3):
            pos = torch.tensor([[next_pos]] * 3, dtype=torch.long)
            o = lm(input_ids=torch.tensor([[next_id]]), position_ids=pos[:, None, :], cache=cache, use_cache=True)
            step_logits = model.lm_head(o.last_hidden_state)[0]
            golden[f"step.{step}.id"] = torch.tensor([float(next_id)])
            golden[f"step.{step}.position"] = pos.float()
            golden[f"step.{step}.logits"] = step_logits.float().contiguous()
            next_id = int(step_logits[-1].argmax())
            next_pos += 1
        # Text-only positions (what `deskpilot generate --ids` does): last prompt logits and
        # three greedy tokens.
        cache = DynamicCache(config=config.text_config)
        pos = torch.arange(S)[None, None, :].expand(3, 1, S)
        o = lm(input_ids=ids[None], position_ids=pos, cache=cache, use_cache=True)
        last = model.lm_head(o.last_hidden_state)[0, -1]
        golden["text.logits_last"] = last.float().contiguous()
        greedy = []
        for step in range(3):
            greedy.append(int(last.argmax()))
            p = torch.tensor([[[S + step]]] * 3)
            o = lm(input_ids=torch.tensor([[greedy[-1]]]), position_ids=p, cache=cache, use_cache=True)
            last = model.lm_head(o.last_hidden_state)[0, -1]
        golden["text.greedy"] = torch.tensor(greedy, dtype=torch.float32)
    save_file({k: v.contiguous() for k, v in golden.items()}, os.path.join(out_dir, "golden.safetensors"))
    print("wrote", out_dir, "S =", S, {k: tuple(v.shape) for k, v in golden.items() if k.startswith(("hidden.0", "topk.0", "logits"))})


if __name__ == "__main__":
    main()
