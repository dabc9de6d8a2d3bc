#!/usr/bin/env python3
"""How the coordinate readout (model/engine/coordinate_readout.h; its twin
nano_common.coordinate_readout) would score against the most likely number, for several windows
at once, without running the engine once per window.

- --grounding G.json...: every target of `deskpilot eval grounding` runs (their saved screenshots
  and instructions) asked greedily through transformers (f32, the most likely number); at the x
  and y number tokens of the answer's first box, each window's readout of that row's logits, the
  point mapped to the screen as the family maps it and hit-tested against the target's rect.
- --data DIR: the task steps of a made data set whose answer clicks one point (click, left_double,
  right_single; not drag), teacher-forced on the reference answer; the target is the smallest
  widget of the step's layout that holds the reference point.

In both, y is read where the most likely x was written (grounding) or the reference's x
(--data), so a window's x does not feed its y as it does when the engine decodes with it: the
engine's own numbers come from `deskpilot eval --coordinate-window N`. Prints hits by role per
window.

    tools/train_nano/readout_report.py --model-dir models/deskpilot-nano --grounding g0.json g50.json
    tools/train_nano/readout_report.py --model-dir models/deskpilot-nano --data data-h3 --limit 400
"""
import argparse
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402
import score_parity as sp  # noqa: E402


class Reader:
    def __init__(self, model_dir):
        self.tf = sp.Transformers(model_dir, 40, coordinate_window=0)
        self.numbers = self.tf.readout.numbers
        if len(self.numbers) < 100:
            sys.exit(f"readout_report: {model_dir}'s tokenizer has no token per number")
        self.box_start = self.tf.tok.token_to_id("<|box_start|>")

    def logits(self, messages, screenshots, answer_ids):
        """The logits after prompt + answer_ids, one row per answer token: [len(answer_ids), vocab]."""
        inputs = [self.tf.pixels(p) for p in screenshots]
        counts = [int(grid.prod()) // 4 for _, grid in inputs]
        prompt = self.tf.tok.encode(self.tf.chat(messages, counts)).ids
        ids = torch.tensor([prompt + answer_ids])
        mm = (ids == self.tf.model.config.image_token_id).int()
        self.tf.model.model.rope_deltas = None
        with torch.no_grad():
            out = self.tf.model(input_ids=ids, pixel_values=torch.cat([p for p, _ in inputs]),
                                image_grid_thw=torch.cat([g for _, g in inputs]), mm_token_type_ids=mm,
                                attention_mask=torch.ones_like(ids))
        return out.logits[0, len(prompt) - 1:-1]

    def points(self, rows, answer_ids, windows):
        """{window: (x, y)} in model pixels from the rows of the first box's two numbers, or None."""
        if self.box_start not in answer_ids:
            return None
        b = answer_ids.index(self.box_start)
        at = [i for i in range(b + 1, min(b + 6, len(answer_ids))) if answer_ids[i] in self.tf.readout.value_of]
        if len(at) < 2:
            return None
        out = {}
        for w in windows:
            xy = []
            for i in at[:2]:
                row = rows[i][self.numbers].tolist()
                xy.append(nc.coordinate_readout(row, max(range(len(row)), key=row.__getitem__), w))
            out[w] = tuple(xy)
        return out


def grounding(reader, reports, windows, tally):
    for path in reports:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        try:
            out_dir = nc.eval_out_dir(path, report)
        except ValueError as e:
            sys.exit(f"readout_report: {e}")
        for item in report["items"]:
            shot = os.path.join(out_dir, item["screenshot"])
            for t in item["targets"]:
                messages = sp.grounding_messages(t["instruction"])
                # The most likely answer (the readout off) and the logits of each of its tokens.
                shots = [reader.tf.pixels(shot)]
                prompt = torch.tensor([reader.tf.tok.encode(
                    reader.tf.chat(messages, [int(shots[0][1].prod()) // 4])).ids])
                mm = (prompt == reader.tf.model.config.image_token_id).int()
                reader.tf.model.model.rope_deltas = None
                with torch.no_grad():
                    g = reader.tf.model.generate(
                        input_ids=prompt, pixel_values=shots[0][0], image_grid_thw=shots[0][1],
                        mm_token_type_ids=mm, attention_mask=torch.ones_like(prompt), max_new_tokens=24,
                        do_sample=False, eos_token_id=reader.tf.stops, pad_token_id=reader.tf.stops[1],
                        return_dict_in_generate=True, output_logits=True)
                answer = g.sequences[0, prompt.shape[1]:].tolist()
                points = reader.points(torch.stack([row[0] for row in g.logits]), answer, windows)
                for w in windows:
                    hit = points is not None and sp.contains(t["rect"], nc.to_screen_point(*points[w]))
                    tally(w, t["role"], hit)
            print(f"readout_report: {path} seed {item['seed']}", file=sys.stderr, flush=True)


def task_clicks(reader, data, windows, limit, tally):
    asked = 0
    with open(os.path.join(data, "examples.jsonl"), encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            action = e["target"].partition("Action: ")[2]
            if e["kind"] != "task" or not action.startswith(("click(", "left_double(", "right_single(")):
                continue
            shots = [os.path.join(data, p) for p in e["images"]]
            with open(shots[-1][:-len(".png")] + ".layout.json", encoding="utf-8") as lf:
                layout = json.load(lf)
            point = nc.to_screen_point(*nc.target_point(e["target"]))
            holding = [w for w in layout["widgets"] if w.get("visible", True) and w.get("role")
                       and w["role"] not in ("window", "group", "list") and sp.contains(w["rect"], point)]
            if not holding:
                continue
            target = min(holding, key=lambda w: w["rect"][2] * w["rect"][3])
            answer = reader.tf.tok.encode(e["target"]).ids
            points = reader.points(reader.logits(e["messages"], shots, answer), answer, windows)
            for w in windows:
                tally(w, target["role"], points is not None and sp.contains(target["rect"], nc.to_screen_point(*points[w])))
            asked += 1
            if asked % 50 == 0:
                print(f"readout_report: {asked} task clicks", file=sys.stderr, flush=True)
            if limit and asked >= limit:
                break


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(nc.ROOT, "models", "deskpilot-nano"))
    ap.add_argument("--grounding", nargs="+", default=[], help="-o JSONs of `deskpilot eval grounding`")
    ap.add_argument("--data", help="a make_dataset.py folder: its task steps that click one point")
    ap.add_argument("--limit", type=int, default=0, help="at most this many task clicks (0: all)")
    ap.add_argument("--windows", default="0,2,4,8,16,32")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if not a.grounding and not a.data:
        sys.exit("readout_report: give --grounding JSON... and/or --data DIR")
    for path in a.grounding + ([os.path.join(a.data, "examples.jsonl")] if a.data else []):
        if not os.path.exists(path):
            sys.exit(f"readout_report: {path}: no such file")
    try:
        windows = sorted({int(w) for w in a.windows.split(",")})
    except ValueError:
        sys.exit(f"readout_report: --windows {a.windows!r}: whole numbers separated by commas")
    torch.set_num_threads(a.threads)
    reader = Reader(a.model_dir)
    hits, totals = collections.Counter(), collections.Counter()

    def tally(window, role, hit):
        for key in (role, "all"):
            totals[window, key] += 1
            hits[window, key] += bool(hit)

    grounding(reader, a.grounding, windows, tally)
    if a.data:
        task_clicks(reader, a.data, windows, a.limit, tally)
    roles = sorted({r for _, r in totals if r != "all"}) + ["all"]
    print("| window | " + " | ".join(roles) + " |")
    print("|---:|" + "---:|" * len(roles))
    for w in windows:
        print(f"| {w} | " + " | ".join(f"{hits[w, r]}/{totals[w, r]}" for r in roles) + " |")


if __name__ == "__main__":
    main()
