#!/usr/bin/env python3
"""Golden tensors for the C++ Qwen3-VL vision tower and full VLM forward, from transformers.

    pip install torch transformers safetensors numpy pillow
    tools/golden/qwen3_vl_vision_golden.py tests/data/engine/qwen3_vl_moe_vision_tiny

A tiny random Qwen3-VL-MoE: the text decoder of qwen3_vl_moe_golden.py (hidden 64, 4 layers,
8 experts top-2) with a vision tower of depth 3 (hidden 32, 2 heads, MLP 64, patch 16,
DeepStack after blocks 0 and 2) and a 6x6 learned position table, so a 64x96 image (grid 4x6)
interpolates it. Image/vision token ids are moved inside the 1024-token vocabulary.
Writes config.json, model.safetensors (Hub layout) and golden.safetensors:
  pixel_values [24, 1536], grid [3]            the processor's output for image.png
  vision.patch_embed [24, 32]                  Conv3d patch embedding (before positions)
  vision.pos_embed [24, 32]                    interpolated learned positions
  vision.block.N [24, 32]                      output of vision block N
  vision.deepstack.K [6, 64]                   DeepStack merger K's output
  vision.merged [6, 64]                        the final 2x2 merger's output
  ids [S], positions [3, S], rope_delta [1]    prompt with 6 image tokens, get_rope_index
  hidden.N [S, 64]                             decoder hidden states (output_hidden_states)
  logits [S, V]                                prefill logits
  greedy [3], step.K.logits [V]                three greedy decode steps and their logits
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

H, V = 64, 1024
IMAGE, VIDEO, VSTART, VEND = 1000, 1001, 1002, 1003


def build():
    torch.manual_seed(9)
    text = dict(vocab_size=V, hidden_size=H, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
                num_key_value_heads=2, head_dim=32, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=48,
                rms_norm_eps=1e-6, max_position_embeddings=4096, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [6, 5, 5],
                                 "mrope_interleaved": True})
    vision = dict(depth=3, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, temporal_patch_size=2,
                  spatial_merge_size=2, out_hidden_size=H, num_position_embeddings=36,
                  deepstack_visual_indexes=[0, 2], hidden_act="gelu_pytorch_tanh")
    config = Qwen3VLMoeConfig(text_config=text, vision_config=vision, tie_word_embeddings=False,
                              image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VSTART,
                              vision_end_token_id=VEND)
    config._attn_implementation = "eager"
    model = Qwen3VLMoeForConditionalGeneration(config).eval().float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("mlp.gate.weight"):
                p.normal_(0.0, 1.0)
            elif "norm" in name and p.dim() == 1:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            elif "embed_tokens" in name or "pos_embed" in name:
                p.normal_(0.0, 1.0)
            else:
                p.normal_(0.0, 0.08)
    return config, model


def hub_state_dict(model):
    out = {}
    for name, p in model.state_dict().items():
        t = p.detach().clone().contiguous()
        if name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj"):
            t = t.transpose(1, 2).contiguous()
        out[name] = t
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    config, model = build()
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=1, sort_keys=True)
    save_file(hub_state_dict(model), os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    model = Qwen3VLMoeForConditionalGeneration.from_pretrained(out_dir, torch_dtype=torch.float32,
                                                               attn_implementation="eager").eval()

    rng = np.random.default_rng(9)
    image = Image.fromarray(rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8), "RGB")
    image.save(os.path.join(out_dir, "image.png"))
    proc = Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3, size={"shortest_edge": 4096, "longest_edge": 16777216})
    r = proc(images=[image], return_tensors="pt")
    pv, grid = r["pixel_values"], r["image_grid_thw"]
    assert grid.tolist() == [[1, 4, 6]], grid

    g = {"pixel_values": pv.float().contiguous(), "grid": grid[0].float()}
    visual = model.model.visual
    hooks = [visual.patch_embed.register_forward_hook(
        lambda m, a, o: g.__setitem__("vision.patch_embed", o.detach().clone()))]
    hooks.append(visual.blocks[0].register_forward_pre_hook(
        lambda m, a, kw: g.__setitem__("vision.embedded", (a[0] if a else kw["hidden_states"]).detach().clone()),
        with_kwargs=True))
    for n, blk in enumerate(visual.blocks):
        hooks.append(blk.register_forward_hook(
            lambda m, a, o, n=n: g.__setitem__(f"vision.block.{n}", o.detach().clone())))
    with torch.no_grad():
        out = visual(pv, grid_thw=grid)
    for h in hooks:
        h.remove()
    g["vision.pos_embed"] = g.pop("vision.embedded") - g["vision.patch_embed"]
    for k, f in enumerate(out.deepstack_features):
        g[f"vision.deepstack.{k}"] = f.detach().clone()
    g["vision.merged"] = out.pooler_output.detach().clone()

    # A prompt: 5 text tokens, <vision_start>, 6 image tokens, <vision_end>, 4 text tokens.
    text_a = rng.integers(0, 1000, size=5).tolist()
    text_b = rng.integers(0, 1000, size=4).tolist()
    ids = torch.tensor([text_a + [VSTART] + [IMAGE] * 6 + [VEND] + text_b], dtype=torch.long)
    mm = (ids == IMAGE).int()
    positions, delta = model.model.get_rope_index(ids, mm, image_grid_thw=grid)
    g["ids"] = ids[0].float()
    g["positions"] = positions[:, 0].float().contiguous()
    g["rope_delta"] = delta.reshape(1).float()
    with torch.no_grad():
        o = model(input_ids=ids, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm,
                  output_hidden_states=True)
        g["logits"] = o.logits[0].float().contiguous()
        for n, h in enumerate(o.hidden_states):
            g[f"hidden.{n}"] = h[0].float().contiguous()
        model.model.rope_deltas = None
        gen = model.generate(input_ids=ids, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm,
                             attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False,
                             output_logits=True, return_dict_in_generate=True, eos_token_id=None, pad_token_id=0)
    g["greedy"] = gen.sequences[0, ids.shape[1]:].float()
    for k, lg in enumerate(gen.logits):
        g[f"step.{k}.logits"] = lg[0].float().contiguous()
    save_file({k: v.float().contiguous() for k, v in g.items()}, os.path.join(out_dir, "golden.safetensors"))
    print("wrote", out_dir, {k: tuple(v.shape) for k, v in g.items()}, "greedy", g["greedy"].tolist(),
          "delta", g["rope_delta"].tolist(), "positions", positions[:, 0].tolist())


if __name__ == "__main__":
    main()
