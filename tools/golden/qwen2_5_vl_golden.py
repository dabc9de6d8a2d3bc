#!/usr/bin/env python3
"""Golden tensors for the C++ Qwen2.5-VL (UI-TARS-1.5) decoder, vision tower and full VLM.

    pip install torch transformers safetensors numpy pillow
    tools/golden/qwen2_5_vl_golden.py tests/data/engine/qwen2_5_vl_tiny

A tiny random Qwen2.5-VL: text decoder hidden 64, 3 layers, 2 heads x head_dim 32, 1 KV head,
MLP 128, q/k/v biases, chunked MRoPE sections [4, 6, 6], tied lm_head (as Qwen2.5-VL-3B); a
vision tower of depth 4 (hidden 32, 2 heads, SwiGLU MLP 48 with biases, patch 14, window 112
px = 4x4 merged patches, full attention in block 2 only). A 140x196 image gives a 10x14 patch
grid, 5x7 merged, which is not a multiple of the 4x4 window: the padding path runs (windows of
16, 12, 4 and 3 merged patches). Image/vision token ids sit inside the 1024-token vocabulary.
Writes config.json, model.safetensors (what save_pretrained writes: the Hub's model.* and
visual.* names), image.png, bf16/ (the same weights in bf16 with an untied lm_head.weight and a
flat UI-TARS-1.5-style config.json: text fields at the top, rope_scaling "mrope") and
golden.safetensors:
  text.ids [S], text.positions [3, S]      decoder-only prompt with a pretend 2x3 image span
  text.hidden.N [S, 64]                    input of decoder layer N (N = 0..L-1)
  text.logits [S, V]                       prefill logits
  text.step.K.id [1], text.step.K.position [3, 1], text.step.K.logits [1, V]
                                           three KV-cached decode steps (argmax fed back)
  text.logits_last [V], text.greedy [3]    text.ids at plain text positions: last prompt logits
                                           and three greedy tokens
  pixel_values [140, 1176], grid [3]       the processor's output for image.png
  vision.patch_embed [140, 32]             Conv3d patch embedding (raster 2x2-block order)
  vision.window_index [35]                 transformers' window permutation of merged patches
  vision.cu_window_seqlens [W+1]           window boundaries in patches
  vision.block.N [140, 32]                 output of vision block N (window order)
  vision.merged [35, 64]                   the merger's output, back in raster order
  ids [S], positions [3, S], rope_delta [1] prompt with 35 image tokens, get_rope_index
  hidden.N [S, 64]                         decoder hidden states (output_hidden_states)
  logits [S, V]                            prefill logits
  greedy [3], step.K.logits [V]            three greedy decode steps and their logits
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.cache_utils import DynamicCache
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.vision_utils import get_vision_window_index

H, V = 64, 1024
IMAGE, VIDEO, VSTART, VEND = 1000, 1001, 1002, 1003
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def build():
    torch.manual_seed(25)
    text = dict(vocab_size=V, hidden_size=H, intermediate_size=128, num_hidden_layers=3, num_attention_heads=2,
                num_key_value_heads=1, rms_norm_eps=1e-6, max_position_embeddings=4096, hidden_act="silu",
                tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [4, 6, 6]})
    vision = dict(depth=4, hidden_size=32, intermediate_size=48, num_heads=2, patch_size=14, temporal_patch_size=2,
                  spatial_merge_size=2, out_hidden_size=H, window_size=112, fullatt_block_indexes=[2],
                  hidden_act="silu", in_channels=3)
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                              image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VSTART,
                              vision_end_token_id=VEND)
    config._attn_implementation = "eager"
    model = Qwen2_5_VLForConditionalGeneration(config).eval().float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("norm" in name or "ln_q" in name) and p.dim() == 1:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif "embed_tokens" in name:  # small: a tied lm_head would otherwise echo the input
                p.normal_(0.0, 0.2)
            elif name.endswith("bias"):
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, 0.08)
    return config, model


def capture_layers(layers, prefix, store):
    hooks = []
    for n, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(
            lambda mod, args, kwargs, n=n: store.__setitem__(
                f"{prefix}{n}", (args[0] if args else kwargs["hidden_states"])[0].detach().clone()),
            with_kwargs=True))
    return hooks


def text_only(model, rng, g):
    """The decoder alone, with MRoPE positions that differ per axis (a pretend 2x3 image)."""
    lm = model.model.language_model
    S = 14
    ids = torch.tensor(rng.integers(0, 1000, size=S), dtype=torch.long)
    t_pos, h_pos, w_pos = [], [], []
    for p in range(4):
        t_pos.append(p), h_pos.append(p), w_pos.append(p)
    for r in range(2):
        for c in range(3):
            t_pos.append(4), h_pos.append(4 + r), w_pos.append(4 + c)
    for p in range(7, 7 + S - 10):
        t_pos.append(p), h_pos.append(p), w_pos.append(p)
    positions = torch.tensor([t_pos, h_pos, w_pos], dtype=torch.long)
    hooks = capture_layers(lm.layers, "text.hidden.", g)
    with torch.no_grad():
        cache = DynamicCache(config=model.config.text_config)
        out = lm(input_ids=ids[None], position_ids=positions[:, None, :], cache=cache, use_cache=True)
        for h in hooks:
            h.remove()
        logits = model.lm_head(out.last_hidden_state)[0]
        g["text.ids"] = ids.float()
        g["text.positions"] = positions.float()
        g["text.logits"] = logits.float().contiguous()
        next_id, next_pos = int(logits[-1].argmax()), int(positions.max()) + 1
        for step in range(3):
            pos = torch.tensor([[next_pos]] * 3, dtype=torch.long)
            o = lm(input_ids=torch.tensor([[next_id]]), position_ids=pos[:, None, :], cache=cache, use_cache=True)
            step_logits = model.lm_head(o.last_hidden_state)[0]
            g[f"text.step.{step}.id"] = torch.tensor([float(next_id)])
            g[f"text.step.{step}.position"] = pos.float()
            g[f"text.step.{step}.logits"] = step_logits.float().contiguous()
            next_id, next_pos = int(step_logits[-1].argmax()), next_pos + 1
        # Plain text positions (what `deskpilot generate --ids` does): three greedy tokens.
        cache = DynamicCache(config=model.config.text_config)
        pos = torch.arange(S)[None, None, :].expand(3, 1, S)
        last = model.lm_head(lm(input_ids=ids[None], position_ids=pos, cache=cache, use_cache=True)
                             .last_hidden_state)[0, -1]
        g["text.logits_last"] = last.float().contiguous()
        greedy = []
        for step in range(3):
            greedy.append(int(last.argmax()))
            p = torch.tensor([[[S + step]]] * 3)
            o = lm(input_ids=torch.tensor([[greedy[-1]]]), position_ids=p, cache=cache, use_cache=True)
            last = model.lm_head(o.last_hidden_state)[0, -1]
        g["text.greedy"] = torch.tensor(greedy, dtype=torch.float32)


def vision(model, pv, grid, g):
    visual = model.model.visual
    hooks = [visual.patch_embed.register_forward_hook(
        lambda m, a, o: g.__setitem__("vision.patch_embed", o.detach().clone()))]
    for n, blk in enumerate(visual.blocks):
        hooks.append(blk.register_forward_hook(
            lambda m, a, o, n=n: g.__setitem__(f"vision.block.{n}", o.detach().clone())))
    with torch.no_grad():
        out = visual(pv, grid_thw=grid)
    for h in hooks:
        h.remove()
    g["vision.merged"] = out.pooler_output.detach().clone()
    cfg = model.config.vision_config
    index, cu = get_vision_window_index(grid, cfg.spatial_merge_size, cfg.window_size, cfg.patch_size)
    g["vision.window_index"] = index.float()
    g["vision.cu_window_seqlens"] = cu.float()


def write_bf16_flat(out_dir, config, model):
    """bf16 weights, lm_head.weight written out (untied), and the older flat config layout."""
    os.makedirs(os.path.join(out_dir, "bf16"), exist_ok=True)
    sd = {k: v.detach().clone().contiguous().bfloat16() for k, v in model.state_dict().items()}
    sd = {k.replace("model.language_model.", "model.").replace("model.visual.", "visual."): v
          for k, v in sd.items()}
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"].clone()
    save_file(sd, os.path.join(out_dir, "bf16", "model.safetensors"), metadata={"format": "pt"})
    t = config.text_config
    flat = dict(model_type="qwen2_5_vl", architectures=["Qwen2_5_VLForConditionalGeneration"],
                vocab_size=t.vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
                num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
                num_key_value_heads=t.num_key_value_heads, rms_norm_eps=t.rms_norm_eps, hidden_act="silu",
                max_position_embeddings=t.max_position_embeddings, rope_theta=t.rope_parameters["rope_theta"],
                rope_scaling={"type": "mrope", "mrope_section": t.rope_parameters["mrope_section"]},
                tie_word_embeddings=False, torch_dtype="bfloat16", image_token_id=IMAGE, video_token_id=VIDEO,
                vision_start_token_id=VSTART, vision_end_token_id=VEND)
    v = config.vision_config
    flat["vision_config"] = dict(depth=v.depth, hidden_size=v.hidden_size, intermediate_size=v.intermediate_size,
                                 num_heads=v.num_heads, patch_size=v.patch_size, in_chans=3,
                                 temporal_patch_size=v.temporal_patch_size, spatial_merge_size=v.spatial_merge_size,
                                 out_hidden_size=v.out_hidden_size, window_size=v.window_size,
                                 fullatt_block_indexes=v.fullatt_block_indexes, hidden_act="silu",
                                 tokens_per_second=2)
    with open(os.path.join(out_dir, "bf16", "config.json"), "w") as f:
        json.dump(flat, f, indent=1, sort_keys=True)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    config, model = build()
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=1, sort_keys=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    # Reload through transformers' own loader: proves the files written are the ones it reads.
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(out_dir, torch_dtype=torch.float32,
                                                               attn_implementation="eager").eval()
    with open(os.path.join(out_dir, "config.json"), "w") as f:  # save_pretrained rewrote it
        json.dump(config.to_dict(), f, indent=1, sort_keys=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(out_dir, extra)):
            os.remove(os.path.join(out_dir, extra))

    write_bf16_flat(out_dir, config, model)

    rng = np.random.default_rng(25)
    g = {}
    text_only(model, rng, g)

    image = Image.fromarray(rng.integers(0, 256, size=(140, 196, 3), dtype=np.uint8), "RGB")
    image.save(os.path.join(out_dir, "image.png"))
    proc = Qwen2VLImageProcessorPil(patch_size=14, temporal_patch_size=2, merge_size=2, image_mean=CLIP_MEAN,
                                    image_std=CLIP_STD, size={"shortest_edge": 3136, "longest_edge": 12845056})
    r = proc(images=[image], return_tensors="pt")
    pv, grid = r["pixel_values"], r["image_grid_thw"]
    assert grid.tolist() == [[1, 10, 14]], grid
    g["pixel_values"] = pv.float().contiguous()
    g["grid"] = grid[0].float()
    vision(model, pv, grid, g)

    # A prompt: 5 text tokens, <vision_start>, 35 image tokens, <vision_end>, 4 text tokens.
    text_a = rng.integers(0, 1000, size=5).tolist()
    text_b = rng.integers(0, 1000, size=4).tolist()
    ids = torch.tensor([text_a + [VSTART] + [IMAGE] * 35 + [VEND] + text_b], dtype=torch.long)
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
    print("wrote", out_dir, {k: tuple(v.shape) for k, v in g.items() if not k.startswith(("text.step", "step"))},
          "greedy", g["greedy"].tolist(), "delta", g["rope_delta"].tolist(),
          "windows", g["vision.cu_window_seqlens"].tolist())


if __name__ == "__main__":
    main()
