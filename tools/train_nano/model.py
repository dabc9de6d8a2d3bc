"""The deskpilot-nano architecture: Qwen3-VL-MoE (transformers' Qwen3VLMoeForConditionalGeneration)
at about 14 M parameters, and how its checkpoint is laid out for Deskpilot's engine.

Vision: 4 blocks, hidden 192, 3 heads, MLP 768, patch 16, temporal patch 2, merge 2, a 40x40
learned position table (a 640x384 image is a 24x40 patch grid), DeepStack from blocks 1 and 2.
Text: 4 decoder layers, hidden 256, 4 query heads and 2 KV heads of 64, 8 experts (top 2) of
width 384, interleaved MRoPE [12, 10, 10], untied lm_head.
"""
import json
import os

import torch

import nano_common as nc

VISION = dict(depth=4, hidden_size=192, intermediate_size=768, num_heads=3, patch_size=16, temporal_patch_size=2,
              spatial_merge_size=2, num_position_embeddings=1600, deepstack_visual_indexes=[1, 2],
              hidden_act="gelu_pytorch_tanh", in_channels=3)
# moe_intermediate_size must differ from hidden_size: transformers' loader turns Hub-layout expert
# tensors back into its own layout only when their shapes differ, so with I == H it would load
# down_proj [E, I, H] untransposed (and disagree with the engine, which reads the Hub layout).
TEXT = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, head_dim=64, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=384,
            decoder_sparse_step=1, mlp_only_layers=[], rms_norm_eps=1e-6, max_position_embeddings=8192,
            tie_word_embeddings=False, router_aux_loss_coef=0.01,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [12, 10, 10],
                             "mrope_interleaved": True})


def build_config(tokenizer):
    """Config with the tokenizer's vocabulary and special ids."""
    if TEXT["moe_intermediate_size"] == TEXT["hidden_size"]:
        raise ValueError("moe_intermediate_size == hidden_size: transformers would load the experts wrongly")
    from transformers import Qwen3VLMoeConfig
    ids = {s: tokenizer.token_to_id(s) for s in nc.SPECIAL_TOKENS}
    missing = [s for s, i in ids.items() if i is None]
    if missing:
        raise ValueError(f"tokenizer lacks {missing}")
    text = dict(TEXT, vocab_size=tokenizer.get_vocab_size(), bos_token_id=None, eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"])
    vision = dict(VISION, out_hidden_size=TEXT["hidden_size"])
    config = Qwen3VLMoeConfig(text_config=text, vision_config=vision, tie_word_embeddings=False,
                              image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                              vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    config.text_config.output_router_logits = True  # the load-balancing loss during training
    return config


def build_model(config, seed):
    from transformers import Qwen3VLMoeForConditionalGeneration
    torch.manual_seed(seed)
    config._attn_implementation = "sdpa"
    model = Qwen3VLMoeForConditionalGeneration(config)
    return model


def patch_embed_as_linear(model):
    """Runs the vision tower's patch embedding as the one GEMM it is (a Conv3d whose kernel is its
    stride and its whole input, as the engine computes it) instead of PyTorch's CPU Conv3d: the same
    parameters and values (to float rounding), and forward + backward under bf16 autocast about 60x
    faster on one core (300 ms against 4 ms for a 640x384 screen), where the Conv3d had been about
    a third of a joint training step. For training; parity.py and nano_golden.py keep the module."""
    embed = model.model.visual.patch_embed
    proj = embed.proj

    def forward(hidden_states):
        weight = proj.weight.reshape(proj.weight.shape[0], -1)  # [out, C*T*P*P], the input's order
        rows = hidden_states.reshape(-1, weight.shape[1]).to(weight.dtype)
        return torch.nn.functional.linear(rows, weight, proj.bias)

    embed.forward = forward


def count_parameters(model):
    total = sum(p.numel() for p in model.parameters())
    vision = sum(p.numel() for n, p in model.named_parameters() if ".visual." in n or n.startswith("visual."))
    return total, vision


def stored_transposed(name):
    """Whether the Hub layout stores this tensor transposed from the model's (the fused experts)."""
    return name.endswith("mlp.experts.gate_up_proj") or name.endswith("mlp.experts.down_proj")


def hub_state_dict(model, dtype):
    """Weights as Hub checkpoints store them: fused experts transposed to [E, H, 2I] / [E, I, H]
    (tools/golden/qwen3_vl_moe_golden.py, which the engine's loader is tested against)."""
    out = {}
    for name, p in model.state_dict().items():
        t = p.detach().to(dtype).contiguous()
        if stored_transposed(name):
            t = t.transpose(1, 2).contiguous()
        out[name] = t
    return out


def state_from_checkpoint(folder):
    """The training model's state dict (f32) from an engine checkpoint folder that
    save_checkpoint wrote (e.g. the committed models/deskpilot-nano): hub_state_dict undone."""
    from safetensors.torch import load_file
    out = {}
    for name, t in load_file(os.path.join(folder, "model.safetensors")).items():
        if stored_transposed(name):
            t = t.transpose(1, 2).contiguous()
        out[name] = t.float()
    return out


# train.py's auxiliary heads, kept beside a checkpoint in this file (the engine never reads it), so
# that a run can continue from the committed folder with them (train.py --init FOLDER).
HEADS = ("label_head", "pointer_head", "position_probe", "contrast_head")
HEADS_FILE = "training_heads.safetensors"


def save_heads(out_dir, heads):
    """heads: name -> state dict (of HEADS); written f32 as `name.key` tensors."""
    from safetensors.torch import save_file
    flat = {f"{name}.{key}": t.detach().float().contiguous()
            for name, state in heads.items() for key, t in state.items()}
    save_file(flat, os.path.join(out_dir, HEADS_FILE), metadata={"format": "pt"})


def load_heads(folder):
    """The heads save_heads wrote in `folder`, as name -> state dict; {} when it has none."""
    from safetensors.torch import load_file
    path = os.path.join(folder, HEADS_FILE)
    if not os.path.exists(path):
        return {}
    out = {}
    for flat, t in load_file(path).items():
        name, key = flat.split(".", 1)
        out.setdefault(name, {})[key] = t
    return out


def checkpoint_state(folder):
    """A checkpoint folder as a train.py state (weights and auxiliary heads, no optimiser or step):
    what train.py --init and average_states.py take in place of a state.pt, with the layout it was
    trained in (deskpilot.json's "screenshot_first")."""
    return {"model": state_from_checkpoint(folder), **load_heads(folder),
            "screenshot_first": nc.trained_screenshot_first(folder)}


def load_state(model, path, tool):
    """Loads a train.py state.pt's weights into `model` (eval mode) and returns the state; a file
    that is not one, or of another architecture or tokenizer, exits with one message naming it."""
    import sys
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
    except Exception as e:  # pickle, zip, key and shape errors alike: one message naming the file
        sys.exit(f"{tool}: {path}: not a train.py state of this architecture and tokenizer ({e})")
    model.eval()
    return state


# The checkpoint dtypes train.py and export_state.py offer (--dtype).
DTYPES = {"bf16": torch.bfloat16, "f32": torch.float32}


def save_checkpoint(model, config, tokenizer_path, out_dir, dtype=torch.bfloat16, screenshot_first=False):
    """models/deskpilot-nano/: model.safetensors, config.json, tokenizer.json,
    preprocessor_config.json (the layout `deskpilot generate/run --model-dir` loads), and
    deskpilot.json, which names the planner family, so that `--model-dir` alone picks it, for
    a tokenizer with one token per number the coordinate readout's window (nano_common.COORDINATE_WINDOW),
    "screenshot_first" for weights trained so (train.py --screenshot-first), and "action_grammar":
    the engine keeps each answer in the format make_dataset.py writes, the one these weights are
    trained on (model/engine/action_grammar.h; action_grammar.py is its twin)."""
    from safetensors.torch import save_file
    os.makedirs(out_dir, exist_ok=True)
    cfg = config.to_dict()
    cfg["text_config"]["output_router_logits"] = False
    cfg["architectures"] = ["Qwen3VLMoeForConditionalGeneration"]
    cfg["dtype"] = "bfloat16" if dtype == torch.bfloat16 else "float32"
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1, sort_keys=True)
    save_file(hub_state_dict(model, dtype), os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(tokenizer_path, "rb") as src, open(os.path.join(out_dir, "tokenizer.json"), "wb") as dst:
        dst.write(src.read())
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(nc.preprocessor_config(), f, indent=1)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"do_sample": False, "eos_token_id": [config.text_config.eos_token_id],
                   "pad_token_id": config.text_config.pad_token_id}, f, indent=1)
    marker = {"family": "deskpilot-nano"}
    with open(tokenizer_path, encoding="utf-8") as f:
        if "10" in json.load(f)["model"]["vocab"]:
            marker["coordinate_window"] = nc.COORDINATE_WINDOW
    if screenshot_first:
        marker["screenshot_first"] = True
    marker["action_grammar"] = True
    with open(os.path.join(out_dir, "deskpilot.json"), "w") as f:
        json.dump(marker, f, indent=1)
        f.write("\n")
