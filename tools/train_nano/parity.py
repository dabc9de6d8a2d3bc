#!/usr/bin/env python3
"""Engine vs transformers on a deskpilot-nano checkpoint: the same screenshot and prompt through
`deskpilot generate --image --logits-out` and through transformers' Qwen3VLMoeForConditionalGeneration
(f32, eager attention), comparing the logits after the prompt and the greedy answers; then a
text-only prompt through `deskpilot generate --ids --logits-out`.

    tools/train_nano/parity.py --model-dir models/deskpilot-nano --data data/nano [--example val-000000]

Prints one JSON object with the numbers and exits 1 when the logits differ by more than
--tolerance (relative to the largest logit) or the greedy answers differ.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402


def engine(binary, args):
    r = subprocess.run([binary, "generate"] + args, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"parity: deskpilot generate failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout[:-1] if r.stdout.endswith("\n") else r.stdout, r.stderr.strip()


def compare(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.abs(a - b)
    top_a, top_b = np.argsort(-a)[:5], np.argsort(-b)[:5]
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "max_abs_logit": float(np.abs(b).max()), "argmax_equal": bool(top_a[0] == top_b[0]),
            "top5_equal": bool((top_a == top_b).all())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(nc.ROOT, "models", "deskpilot-nano"))
    ap.add_argument("--data", required=True, help="make_dataset.py's --out (for a screenshot and prompt)")
    ap.add_argument("--example", default=None, help="example id (default: the first val grounding example)")
    ap.add_argument("--deskpilot", default=os.path.join(nc.ROOT, "build", "bin", "deskpilot"))
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tolerance", type=float, default=1e-3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from PIL import Image
    from tokenizers import Tokenizer
    from transformers import Qwen3VLMoeForConditionalGeneration

    with open(os.path.join(a.data, "examples.jsonl"), encoding="utf-8") as f:
        examples = [json.loads(line) for line in f]
    if a.example:
        ex = next((e for e in examples if e["id"] == a.example), None)
        if ex is None:
            sys.exit(f"parity: no example {a.example} in {a.data}")
    else:
        ex = next(e for e in examples if e["split"] == "val" and e["kind"] == "grounding")
    image_path = os.path.join(a.data, ex["images"][0])
    prompt_text = next(p for p in ex["messages"][1]["parts"] if isinstance(p, str))

    tok = Tokenizer.from_file(os.path.join(a.model_dir, "tokenizer.json"))
    model = Qwen3VLMoeForConditionalGeneration.from_pretrained(a.model_dir, dtype=torch.float32,
                                                               attn_implementation="eager").eval()
    proc = nc.image_processor()
    r = proc(images=[Image.open(image_path).convert("RGB")], return_tensors="pt")
    pv, grid = r["pixel_values"], r["image_grid_thw"]
    # `deskpilot generate --image` sends one user turn: the image, then the text, no system turn.
    chat = nc.render_chat([{"role": "user", "parts": [{"image": 0}, prompt_text]}], [int(grid.prod()) // 4])
    ids = torch.tensor([tok.encode(chat).ids])
    mm = (ids == model.config.image_token_id).int()
    with torch.no_grad():
        ref_logits = model(input_ids=ids, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm).logits[0, -1]
        model.model.rope_deltas = None
        gen = model.generate(input_ids=ids, pixel_values=pv, image_grid_thw=grid, mm_token_type_ids=mm,
                             attention_mask=torch.ones_like(ids), max_new_tokens=a.max_new_tokens, do_sample=False,
                             eos_token_id=[tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")],
                             pad_token_id=tok.token_to_id("<|endoftext|>"))
    new = gen[0, ids.shape[1]:].tolist()
    stops = {tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")}
    if new and new[-1] in stops:
        new = new[:-1]
    ref_text = tok.decode(new, skip_special_tokens=True)

    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "logits.npy")
        text, err = engine(a.deskpilot, ["--model-dir", a.model_dir, "--image", image_path, "--prompt", prompt_text,
                                         "--max-pixels", str(nc.MAX_PIXELS), "--max-new-tokens",
                                         str(a.max_new_tokens), "--temperature", "0", "--threads",
                                         str(a.threads), "--logits-out", npy])
        got = np.load(npy)
        image_report = compare(got, ref_logits.numpy())
        image_report.update({"prompt_tokens": int(ids.shape[1]), "image_tokens": int(mm.sum()),
                             "engine_answer": text, "transformers_answer": ref_text,
                             "answers_equal": text == ref_text, "engine_stats": err.splitlines()[-1]})

        # Text only: the target answer as a prompt, plain positions.
        text_ids = tok.encode(nc.render_chat([{"role": "user", "parts": [ex["target"]]}], [])).ids
        _, err2 = engine(a.deskpilot, ["--model-dir", a.model_dir, "--ids", ",".join(map(str, text_ids)),
                                       "--max-new-tokens", "1", "--threads", str(a.threads), "--logits-out", npy])
        with torch.no_grad():
            ref_text_logits = model(input_ids=torch.tensor([text_ids])).logits[0, -1]
        text_report = compare(np.load(npy), ref_text_logits.numpy())
        text_report["prompt_tokens"] = len(text_ids)

    report = {"model_dir": a.model_dir, "example": ex["id"], "image": image_report, "text": text_report}
    print(json.dumps(report, indent=1, ensure_ascii=False))
    ok = all(rep["max_abs_diff"] <= a.tolerance * max(1.0, rep["max_abs_logit"]) for rep in (image_report, text_report))
    sys.exit(0 if ok and image_report["answers_equal"] else 1)


if __name__ == "__main__":
    main()
