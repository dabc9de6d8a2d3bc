#!/usr/bin/env python3
"""Golden files for test_engine_nano_checkpoint: what transformers answers, greedy, for the
committed deskpilot-nano checkpoint on one fixed sandbox screenshot with the grounding prompt the
agent sends (planner::Conversation, PromptKind::grounding, family deskpilot-nano: a system turn,
then the prompt text and the screenshot in one user turn).

    python3 tools/train_nano/nano_golden.py            # after replacing models/deskpilot-nano

Writes into --out (tests/data/engine/nano_golden/):
  screen.png, layout.json  the sandbox (--seed, 1280x800, offscreen); rendered only when missing or
                           with --render, so the committed screenshot stays the one the test uses
  prompt_ids.npy           int32 [prompt tokens]: the chat text (nano_common.render_chat) tokenized
  logits.npy               float32 [steps, vocab]: row 0 after the prompt, row k after the k-th
                           greedy token was fed back (transformers, f32 weights, eager attention)
  golden.json              the target widget, instruction, greedy ids and answer text, the answer
                           with the checkpoint's coordinate readout ("readout": deskpilot.json's
                           coordinate_window, nano_common.CoordinateReadoutProcessor), and the
                           checkpoint's sha256 (the test refuses goldens of another checkpoint)

The target is the first widget, in a fixed order (buttons, the "agree" checkbox, radios, tabs,
menus, list items; layout order within a role), whose transformers answer clicks inside its rect,
so the test's claim "the model grounds this instruction on this screenshot" is true. Exits 1 when
no candidate is grounded (--allow-ungrounded writes the first candidate instead, marked so).
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402

ROLE_ORDER = ["button", "checkbox", "radio", "tab", "menu", "list_item"]


def candidates(layout):
    """Grounding targets as agent/eval/grounding.cpp filters them, in ROLE_ORDER."""
    out = []
    for role in ROLE_ORDER:
        for w in layout["widgets"]:
            if w.get("role") != role or not w.get("visible") or not w.get("label"):
                continue
            if role == "tab" and w.get("selected"):
                continue
            if role == "checkbox" and w["name"] != "agree":
                continue
            if w["rect"][2] <= 0 or w["rect"][3] <= 0:
                continue
            out.append(w)
    return out


def clicked_point(answer):
    m = re.search(r"click\(start_box='\(?(-?\d+),\s*(-?\d+)\)?'\)", answer)
    return nc.to_screen_point(int(m.group(1)), int(m.group(2))) if m else None


def inside(p, rect):
    x, y, w, h = rect
    return p is not None and x <= p[0] < x + w and y <= p[1] < y + h


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(nc.ROOT, "models", "deskpilot-nano"))
    ap.add_argument("--out", default=os.path.join(nc.ROOT, "tests", "data", "engine", "nano_golden"))
    ap.add_argument("--sandbox", default=os.path.join(nc.ROOT, "build", "bin", "deskpilot-sandbox"))
    ap.add_argument("--seed", type=int, default=3, help="an eval seed (0..999), never a training one")
    ap.add_argument("--render", action="store_true", help="render screen.png and layout.json again")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--allow-ungrounded", action="store_true",
                    help="write the first candidate when none is grounded (a partly trained model)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    screen, layout_path = os.path.join(a.out, "screen.png"), os.path.join(a.out, "layout.json")

    if a.render or not (os.path.exists(screen) and os.path.exists(layout_path)):
        if not os.path.exists(a.sandbox):
            sys.exit(f"nano_golden: {a.sandbox} is missing (cmake --build build --target deskpilot-sandbox)")
        with tempfile.TemporaryDirectory() as tmp:
            env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
            env.pop("DISPLAY", None)
            png, lj = os.path.join(tmp, "screen.png"), os.path.join(tmp, "layout.json")
            r = subprocess.run([a.sandbox, "--seed", str(a.seed), "--geometry", f"{nc.SCREEN[0]}x{nc.SCREEN[1]}",
                                "--screenshot", png, "--layout-json", lj], env=env, capture_output=True,
                               text=True, timeout=120)
            if r.returncode != 0:
                sys.exit(f"nano_golden: sandbox seed {a.seed} failed: {r.stderr.strip()}")
            with open(lj, encoding="utf-8") as f:
                layout = json.load(f)
            layout["seed"] = a.seed
            shutil.copyfile(png, screen)
            with open(layout_path, "w", encoding="utf-8") as f:
                json.dump(layout, f, indent=1, ensure_ascii=False)
                f.write("\n")
    with open(layout_path, encoding="utf-8") as f:
        layout = json.load(f)

    from PIL import Image
    from tokenizers import Tokenizer
    from transformers import Qwen3VLMoeForConditionalGeneration

    tok = Tokenizer.from_file(os.path.join(a.model_dir, "tokenizer.json"))
    model = Qwen3VLMoeForConditionalGeneration.from_pretrained(a.model_dir, dtype=torch.float32,
                                                               attn_implementation="eager").eval()
    r = nc.image_processor()(images=[Image.open(screen).convert("RGB")], return_tensors="pt")
    pv, grid = r["pixel_values"], r["image_grid_thw"]
    stops = [tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")]

    window = nc.coordinate_window(a.model_dir)
    screenshot_first = nc.trained_screenshot_first(a.model_dir)

    def ask(instruction, readout=False):
        # planner::Conversation for the grounding prompt: system turn, then prompt text + image.
        messages = [{"role": "system", "parts": [nc.SYSTEM_MESSAGE]},
                    {"role": "user", "parts": [nc.render_prompt("grounding", instruction), {"image": 0}]}]
        # ... in the layout the checkpoint was trained on, as the engine reads it from deskpilot.json.
        messages = nc.in_layout(messages, screenshot_first)
        ids = torch.tensor([tok.encode(nc.render_chat(messages, [int(grid.prod()) // 4])).ids])
        mm = (ids == model.config.image_token_id).int()
        model.model.rope_deltas = None
        with torch.no_grad():
            g = model.generate(input_ids=ids, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm,
                               attention_mask=torch.ones_like(ids), max_new_tokens=a.max_new_tokens,
                               do_sample=False, eos_token_id=stops, pad_token_id=stops[1],
                               return_dict_in_generate=True, output_logits=True,
                               logits_processor=[nc.CoordinateReadoutProcessor(tok, window if readout else 0)])
        new = g.sequences[0, ids.shape[1]:].tolist()
        logits = torch.stack([step[0] for step in g.logits]).float().numpy()
        answer_ids = new[:-1] if new and new[-1] in stops else new
        return ids[0].numpy().astype(np.int32), new, logits, tok.decode(answer_ids, skip_special_tokens=True)

    tried, chosen = [], None
    for w in candidates(layout):
        instruction = nc.grounding_instruction(w["role"], w["label"])
        prompt_ids, new, logits, answer = ask(instruction)
        point = clicked_point(answer)
        # Grounded: the click lands inside the widget and the answer ends there (a stop token).
        hit = inside(point, w["rect"]) and bool(new) and new[-1] in stops
        tried.append({"widget": w["name"], "answer": answer, "hit": hit})
        print(f"nano_golden: {w['name']:<14} {answer!r} -> {point} {'hit' if hit else 'miss'}", file=sys.stderr)
        if hit or chosen is None:
            chosen = (w, instruction, prompt_ids, new, logits, answer, point, hit)
        if hit:
            break
    if chosen is None:
        sys.exit("nano_golden: the layout has no grounding candidate")
    w, instruction, prompt_ids, new, logits, answer, point, hit = chosen
    if not hit and not a.allow_ungrounded:
        sys.exit(f"nano_golden: none of {len(tried)} candidates is grounded by this checkpoint "
                 "(--allow-ungrounded writes the first anyway)")

    # The same with the checkpoint's coordinate readout (engine/coordinate_readout.h), as the agent
    # asks it by default.
    _, readout_new, _, readout_answer = ask(instruction, readout=True)
    readout_point = clicked_point(readout_answer)

    np.save(os.path.join(a.out, "prompt_ids.npy"), prompt_ids)
    np.save(os.path.join(a.out, "logits.npy"), logits.astype(np.float32))
    golden = {
        "generator": "tools/train_nano/nano_golden.py",
        "model_sha256": sha256(os.path.join(a.model_dir, "model.safetensors")),
        "seed": layout.get("seed", a.seed),
        "family": "deskpilot-nano",
        "screen": list(nc.SCREEN),
        "target": {"widget": w["name"], "role": w["role"], "label": w["label"], "rect": w["rect"]},
        "instruction": instruction,
        "grounded": hit,
        "point": list(point) if point else None,
        "prompt_tokens": int(prompt_ids.shape[0]),
        "max_new_tokens": a.max_new_tokens,
        "generated_ids": new,
        "answer": answer,
        "logits_rows": int(logits.shape[0]),
        "readout": {"coordinate_window": window, "generated_ids": readout_new, "answer": readout_answer,
                    "point": list(readout_point) if readout_point else None,
                    "grounded": inside(readout_point, w["rect"])},
        # The smallest gap between the best and second-best logit along the greedy answer: how
        # close a kernel's rounding would have to come to change a token.
        "min_top2_margin": float(min(np.diff(np.sort(row)[-2:])[0] for row in logits)),
        "candidates_tried": tried,
        "transformers": __import__("transformers").__version__,
        "torch": torch.__version__,
    }
    with open(os.path.join(a.out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps({k: golden[k] for k in ("target", "instruction", "grounded", "answer")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
