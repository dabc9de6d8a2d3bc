#!/usr/bin/env python3
"""Developer tool: bisects Deskpilot's Qwen3-VL-MoE image path against transformers in f32.

    pip install torch transformers safetensors numpy pillow tokenizers
    tools/golden/vlm_parity_bisect.py --deskpilot build/bin/deskpilot [--only NAME ...]

Builds random Qwen3-VL-MoE checkpoints that start from the tiny golden model
(tools/golden/qwen3_vl_vision_golden.py: hidden 64, head_dim 32, mrope [6,5,5], DeepStack
from 2 vision blocks) and move ONE factor at a time toward Qwen3-VL-30B (head_dim 128, mrope
[24,20,20], rope_theta 5e6, GQA 8, 3 DeepStack levels, bigger and non-square images, a longer
prompt with the image in the middle), then all of them together. For each it runs transformers
in f32 and `deskpilot generate --image ... --logits-out` (the tiny tokenizer of
tests/data/engine/qwen3_vl_moe_vision_tiny) and prints the Pearson correlation and the max
difference of the last-position logits relative to their max magnitude. Correct code agrees to
about 1e-6 (OK below 1e-4).

Result (issue 9): every case agrees (max_rel <= 1.4e-6), and so does the real-width bench
checkpoint itself (tools/bench/vlm_checkpoint.py, 4 layers, the real crop and UI-TARS prompt:
corr 0.99999999999, max_rel 1.5e-6). The 0.928 / 0.985 of bench/RESULTS.md came from the harness
passing Deskpilot a prompt without its final newline (see tools/bench/vlm_vs_llama_cpp.sh).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "tests/data/engine/qwen3_vl_moe_vision_tiny/tokenizer.json"
V, IMAGE, VIDEO, VSTART, VEND = 1024, 1000, 1001, 1002, 1003

BASE = dict(hidden=64, heads=4, kv=2, head_dim=32, layers=4, experts=8, top_k=2, expert=48,
            mrope=[6, 5, 5], theta=1e6, depth=3, deepstack=[0, 2], image=(256, 256),
            words_after=8, std=0.08, bf16=False, bench_init=False, vis_scale=1.0, vision=(32, 2, 64, 36), flat=False)
STEPS = {
    "base": {},
    "head_dim128": dict(head_dim=128, mrope=[24, 20, 20]),
    "head_dim64": dict(head_dim=64, mrope=[12, 10, 10]),
    "theta5e6": dict(theta=5e6),
    "gqa8": dict(heads=16, kv=2),
    "deepstack3": dict(depth=4, deepstack=[0, 1, 3]),
    "image256x384": dict(image=(256, 384)),
    "image384x256": dict(image=(384, 256)),
    "image512": dict(image=(512, 512)),
        "long_text": dict(words_after=400),
    "bf16_weights": dict(bf16=True),
    "wide": dict(hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6, experts=16, top_k=8,
                 expert=768, layers=2, std=0.03),
    "wide_bf16": dict(hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6, experts=16,
                      top_k=8, expert=768, layers=2, std=0.03, bf16=True),
    "bench_init": dict(bench_init=True),
    "wide_bench_init": dict(hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6, experts=16,
                            top_k=8, expert=768, layers=4, bf16=True, bench_init=True, depth=4, deepstack=[0, 1, 3]),
    "big_image_rows": dict(bench_init=True, vis_scale=100.0),
    "wide_big_image_rows": dict(hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6,
                                experts=16, top_k=8, expert=768, layers=4, bf16=True, bench_init=True, depth=4,
                                deepstack=[0, 1, 3], vis_scale=30.0),
    "vision_real": dict(vision=(1152, 16, 4304, 2304), depth=27, deepstack=[8, 16, 24], bench_init=True, bf16=True),
    "vision_real_wide": dict(vision=(1152, 16, 4304, 2304), depth=27, deepstack=[8, 16, 24], bench_init=True,
                             bf16=True, hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6,
                             experts=16, top_k=8, expert=768, layers=4),
    "experts128": dict(hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6, experts=128,
                       top_k=8, expert=768, layers=2, bf16=True, bench_init=True),
    "flat_image": dict(flat=True),
    "flat_wide": dict(flat=True, hidden=2048, heads=32, kv=4, head_dim=128, mrope=[24, 20, 20], theta=5e6,
                      experts=16, top_k=8, expert=768, layers=4, bf16=True, bench_init=True, depth=4,
                      deepstack=[0, 1, 3], vis_scale=30.0),
    "all": dict(head_dim=128, mrope=[24, 20, 20], theta=5e6, heads=16, kv=2, depth=4,
                deepstack=[0, 1, 3], image=(256, 384), words_after=200),
}


def build(cfg, seed):
    torch.manual_seed(seed)
    text = dict(vocab_size=V, hidden_size=cfg["hidden"], intermediate_size=96, num_hidden_layers=cfg["layers"],
                num_attention_heads=cfg["heads"], num_key_value_heads=cfg["kv"], head_dim=cfg["head_dim"],
                num_experts=cfg["experts"], num_experts_per_tok=cfg["top_k"],
                moe_intermediate_size=cfg["expert"], rms_norm_eps=1e-6, max_position_embeddings=32768,
                tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": cfg["theta"],
                                 "mrope_section": cfg["mrope"], "mrope_interleaved": True})
    vh, vheads, vmlp, vpos = cfg["vision"]
    vision = dict(depth=cfg["depth"], hidden_size=vh, intermediate_size=vmlp, num_heads=vheads, patch_size=16,
                  temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=cfg["hidden"],
                  num_position_embeddings=vpos, deepstack_visual_indexes=cfg["deepstack"],
                  hidden_act="gelu_pytorch_tanh")
    config = Qwen3VLMoeConfig(text_config=text, vision_config=vision, tie_word_embeddings=False,
                              image_token_id=IMAGE, video_token_id=VIDEO, vision_start_token_id=VSTART,
                              vision_end_token_id=VEND)
    config._attn_implementation = "eager"
    model = Qwen3VLMoeForConditionalGeneration(config).eval().float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if cfg["bench_init"]:  # tools/bench/vlm_checkpoint.py's uniform weights
                u = torch.rand_like(p) * 2 - 1
                if "norm" in name and name.endswith("weight"):
                    p.copy_(1 + 0.1 * u)
                elif name.endswith("mlp.gate.weight"):
                    p.copy_(u)
                elif name.startswith("model.visual."):
                    p.copy_(0.03 * u)
                else:
                    p.copy_(0.05 * u)
            elif name.endswith("mlp.gate.weight"):
                p.normal_(0.0, 1.0)
            elif "norm" in name and p.dim() == 1:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
            elif "embed_tokens" in name or "pos_embed" in name:
                p.normal_(0.0, 1.0)
            else:
                p.normal_(0.0, cfg["std"])
        for name, p in model.named_parameters():  # image features much larger than text embeddings
            if "merger" in name and "linear_fc2" in name:
                p.mul_(cfg["vis_scale"])
    return config, model


def hub_state_dict(model, bf16=False):
    """bf16: the text decoder's weights stored in bf16, as real checkpoints (the model in memory
    is rounded the same way, so transformers in f32 sees the same values)."""
    out = {}
    for name, p in model.state_dict().items():
        t = p.detach().clone().contiguous()
        if name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj"):
            t = t.transpose(1, 2).contiguous()
        if bf16 and (name.startswith("model.language_model.") or name == "lm_head.weight"):
            t = t.bfloat16()
        out[name] = t
    return out


def write_model(out_dir: Path, cfg, seed):
    """Writes config, weights, tokenizer and image; returns (model, pixel values, grid, image tokens,
    prompt text)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config, model = build(cfg, seed)
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1, sort_keys=True))
    save_file(hub_state_dict(model, cfg["bf16"]), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(TOKENIZER, out_dir / "tokenizer.json")
    rng = np.random.default_rng(seed)
    w, h = cfg["image"]
    # Smooth-ish content (blocks of colour plus noise) so patches differ but are not pure noise.
    img = rng.integers(0, 256, size=(h // 16, w // 16, 3), dtype=np.uint8).repeat(16, 0).repeat(16, 1)
    img = np.clip(img.astype(int) + rng.integers(-20, 21, size=img.shape), 0, 255).astype(np.uint8)
    if cfg["flat"]:  # a mostly white UI crop: most merged tokens identical
        img[:] = 245
        img[96:112, 32:200] = 40
    Image.fromarray(img, "RGB").save(out_dir / "image.png")
    proc = Qwen2VLImageProcessorPil(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                    image_std=[0.5] * 3, size={"shortest_edge": 65536, "longest_edge": 16777216})
    r = proc(images=[Image.open(out_dir / "image.png")], return_tensors="pt")
    pv, grid = r["pixel_values"], r["image_grid_thw"]
    n_img = int(grid.prod()) // 4
    words = ["alpha", "beta", "gamma", "delta", "click", "the", "button", "form", "name", "submit"]
    after = " ".join(words[i % 10] for i in rng.integers(0, 10, size=cfg["words_after"]))
    return model, pv, grid, n_img, after


def transformers_logits(model, ids, pv, grid):
    ids_t = torch.tensor([ids])
    mm = (ids_t == IMAGE).int()
    with torch.no_grad():
        o = model(input_ids=ids_t, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm)
    return o.logits[0, -1].float().numpy()


def run_case(name, cfg, deskpilot, work: Path, seed, threads, env_extra):
    d = work / name
    model, pv, grid, n_img, after = write_model(d, cfg, seed)
    model = Qwen3VLMoeForConditionalGeneration.from_pretrained(d, dtype=torch.float32,
                                                               attn_implementation="eager").eval()
    # Deskpilot renders the user turn as image first, then the text.
    prompt = after
    text = ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n_img + "<|vision_end|>" + prompt
             + "<|im_end|>\n<|im_start|>assistant\n")
    tok = Tokenizer.from_file(str(TOKENIZER))
    ids = tok.encode(text, add_special_tokens=False).ids
    ref = transformers_logits(model, ids, pv, grid)
    out = d / "ours.npy"
    cmd = [deskpilot, "generate", "--model-dir", str(d), "--image", str(d / "image.png"), "--prompt", prompt,
           "--max-new-tokens", "1", "--logits-out", str(out), "--threads", str(threads)]
    env = dict(os.environ, **env_extra)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        print(f"{name}: deskpilot failed: {p.stderr.strip()[-400:]}")
        return None
    ours = np.load(out).reshape(-1)
    corr = float(np.corrcoef(ours, ref)[0, 1])
    rel = float(np.abs(ours - ref).max() / np.abs(ref).max())
    print(f"{name:14s} S={len(ids):4d} image_tokens={n_img:4d} grid={grid[0].tolist()} "
          f"corr={corr:.7f} max_rel={rel:.2e} {'OK' if rel < 1e-4 else 'MISMATCH'}", flush=True)
    return corr, rel


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deskpilot", default=str(ROOT / "build/bin/deskpilot"))
    ap.add_argument("--only", nargs="*", help="run these cases (default: all)")
    ap.add_argument("--set", nargs="*", default=[], help="override base keys, e.g. head_dim=128 kv=1")
    ap.add_argument("--work", type=Path, help="keep the checkpoints here (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bf16", action="store_true", help="leave DESKPILOT_BF16_ACTIVATIONS alone")
    a = ap.parse_args()
    env_extra = {} if a.bf16 else {"DESKPILOT_BF16_ACTIVATIONS": "0"}
    work = a.work or Path(tempfile.mkdtemp(prefix="vlm_parity_"))
    for name, delta in STEPS.items():
        if a.only and name not in a.only:
            continue
        cfg = dict(BASE, **delta)
        for kv in a.set:
            k, v = kv.split("=", 1)
            cfg[k] = json.loads(v)
        run_case(name, cfg, a.deskpilot, work, a.seed, a.threads, env_extra)
    if not a.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
