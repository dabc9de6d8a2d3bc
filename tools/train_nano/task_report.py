#!/usr/bin/env python3
"""How a checkpoint answers the validation task steps of a data set, teacher-forced: each step's
conversation (the examples.jsonl row: earlier screenshots and the reference's earlier answers) asked
greedily through transformers, the answer compared with the reference part by part:

- thought: the "Thought: ..." line equal (it names the label to act on, or the text to type);
- action kind: the action with its coordinates masked equal (click vs hotkey vs type, and any
  typed text or finished() content);
- point: for answers that write a point, both points within --radius model pixels.

Per task template and in all. It tells whether a model follows the instruction (the thought and
the action's text) apart from whether it points well (the point), which `deskpilot eval tasks`
folds into one success bit.

--copy also looks inside, one row per task template (its first step whose reference thought quotes
a label, teacher-forced): where the answer starts the quoted label, does the copy head (train.py's
--text-copy-head of --text-copy-layer) attend most to that token in the instruction, and is it the
token the model then writes (argmax)?

    tools/train_nano/task_report.py --model-dir work/jD/model --data data640 [--per-task 2] [--steps first]
"""
import argparse
import collections
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402
from score_parity import Transformers  # noqa: E402
from train import is_number  # noqa: E402

POINT = re.compile(r"\((\d+),(\d+)\)")


def parts(answer):
    thought, _, action = nc.strip_special(answer).partition("\nAction: ")
    return thought, action


def copy_report(tf, rows, a):
    quote = tf.tok.token_to_id("\u0120'")  # " '": the thoughts quote a label as "the 'Label' ..."
    done, counts = set(), collections.Counter()
    for e in rows:
        if e["task"] in done or "the '" not in e["target"]:
            continue
        done.add(e["task"])
        screenshots = [os.path.join(a.data, p) for p in e["images"]]
        inputs = [tf.pixels(p) for p in screenshots]
        prompt = tf.chat(e["messages"], [int(grid.prod()) // 4 for _, grid in inputs])
        encoded = tf.tok.encode(prompt)
        answer = tf.tok.encode(e["target"]).ids
        instruction = nc.instruction_positions(prompt, encoded.offsets)
        k = answer.index(quote)  # the hidden state at the quote writes the label's first token
        at, want = len(encoded.ids) + k, answer[k + 1]
        ids = torch.tensor([encoded.ids + answer])
        with torch.no_grad():
            out = tf.model(input_ids=ids, pixel_values=torch.cat([pv for pv, _ in inputs]),
                           image_grid_thw=torch.cat([grid for _, grid in inputs]),
                           mm_token_type_ids=(ids == tf.model.config.image_token_id).int(), output_attentions=True)
        weights = out.attentions[a.copy_layer][0, a.copy_head, at]
        sources = [i for i in instruction if encoded.ids[i] == want]
        best = int(weights.argmax())
        written = int(out.logits[0, at].argmax())
        counts["rows"] += 1
        counts["label in the instruction"] += bool(sources)
        counts["head on the label"] += best in sources
        counts["label written"] += written == want
        if a.verbose:
            print(f"{e['task']:<18} label {tf.tok.decode([want])!r}: head on {tf.tok.decode([int(ids[0, best])])!r} "
                  f"({float(weights[sources].sum()) if sources else 0:.2f} of its weight on the label), wrote "
                  f"{tf.tok.decode([written])!r}", file=sys.stderr)
    print("label copy (one step per task template): " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def per_widget(rows, limit):
    """Up to `limit` grounding rows per widget, in file order."""
    taken, picked = collections.Counter(), []
    for e in rows:
        if e["kind"] == "grounding" and taken[e["widget"]] < limit:
            taken[e["widget"]] += 1
            picked.append(e)
    return picked


def click_report(tf, rows, a):
    """Inside the click, teacher-forced on the reference answer (its thought included): where the
    coordinate heads (layer --click-layer, query heads --click-heads for x and y) attend, what number
    the model writes there, and what the head's own value/output path would make the lm_head write
    from the target token alone (read through the final norm's weight, as train.py's CopyLoss does).
    Splits a wrong point into "looked at the wrong token" (of the last screenshot, or of an earlier
    one) and "looked right, but the token's value does not say where it is"."""
    heads = [int(h) for h in a.click_heads.split(",")]
    text = tf.model.model.language_model
    attn = text.layers[a.click_layer].self_attn
    d, groups = attn.head_dim, attn.num_key_value_groups
    seen = {}
    attn.register_forward_pre_hook(lambda _m, args, kwargs: seen.__setitem__(
        "input", kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]), with_kwargs=True)
    vocab = tf.tok.get_vocab()
    number_ids = torch.tensor([i for t, i in vocab.items() if is_number(t)])
    number_values = torch.tensor([int(t) for t, i in vocab.items() if is_number(t)])
    number_rows = tf.model.lm_head.weight[number_ids].float() * text.norm.weight.float()
    image_id, counts = tf.model.config.image_token_id, collections.Counter()
    for e in rows:
        want = POINT.findall(e["target"])
        if len(want) != 1:
            continue
        screenshots = [os.path.join(a.data, p) for p in e["images"]]
        inputs = [tf.pixels(p) for p in screenshots]
        per_image = [int(grid.prod()) // 4 for _, grid in inputs]
        encoded = tf.tok.encode(tf.chat(e["messages"], per_image))
        answer = tf.tok.encode(e["target"]).ids
        numbers = [k for k, t in enumerate(answer) if is_number(tf.tok.id_to_token(t))]
        if len(numbers) != 2:
            continue
        ids = torch.tensor([encoded.ids + answer])
        tf.model.model.rope_deltas = None
        with torch.no_grad():
            out = tf.model(input_ids=ids, pixel_values=torch.cat([pv for pv, _ in inputs]),
                           image_grid_thw=torch.cat([grid for _, grid in inputs]),
                           mm_token_type_ids=(ids == image_id).int(), output_attentions=True)
        image = (ids[0] == image_id).nonzero()[:, 0]
        point = [int(v) for v in want[0]]
        width = int(inputs[-1][1][0, 2]) // 2  # tokens per row of the last screenshot
        cell = len(image) - per_image[-1] + (point[1] // 32) * width + point[0] // 32  # among the image tokens
        counts["clicks"] += 1
        wrote = []
        for coordinate, k in enumerate(numbers):
            at = len(encoded.ids) + k - 1  # the hidden state that writes the number
            head, name = heads[coordinate], "xy"[coordinate]
            w = out.attentions[a.click_layer][0, head, at][image]
            best = int(w.argmax())
            last = best >= len(image) - per_image[-1]
            where = "on the target" if best == cell else \
                "elsewhere on the last screenshot" if last else "on an earlier screenshot"
            counts[f"{name} head {where}"] += 1
            got = tf.tok.id_to_token(int(out.logits[0, at].argmax()))
            written = int(got) if is_number(got) else -1000
            wrote.append(written)
            right = abs(written - point[coordinate]) <= a.radius
            counts[f"{name} written within {a.radius} px"] += right
            if best == cell:
                counts[f"{name} written within {a.radius} px, head on the target"] += right
            with torch.no_grad():
                kv = head // groups
                value = seen["input"][0, image[cell]].float() @ attn.v_proj.weight[kv * d:(kv + 1) * d].float().t()
                if attn.v_proj.bias is not None:
                    value = value + attn.v_proj.bias[kv * d:(kv + 1) * d].float()
                added = value @ attn.o_proj.weight[:, head * d:(head + 1) * d].float().t()
                alone = int(number_values[(added @ number_rows.t()).argmax()])
            counts[f"{name} the target's copy alone within {a.radius} px"] += abs(alone - point[coordinate]) <= a.radius
        if a.verbose:
            print(f"{e.get('task', e.get('widget')):<18} step {e.get('step', 0)} want {tuple(point)} "
                  f"wrote {tuple(wrote)}", file=sys.stderr)
    print(f"click ({a.click_kind} steps, teacher-forced on the reference):")
    for k, v in sorted(counts.items()):
        print(f"  {k}: {v}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--data", required=True, help="make_dataset.py's --out")
    ap.add_argument("--per-task", type=int, default=2, help="validation examples per task template and step kind")
    ap.add_argument("--steps", choices=["first", "all"], default="all")
    ap.add_argument("--radius", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print every answer next to its reference")
    ap.add_argument("--copy", action="store_true", help="also the label copy report (above)")
    ap.add_argument("--copy-layer", type=int, default=3)
    ap.add_argument("--copy-head", type=int, default=1)
    ap.add_argument("--click", action="store_true", help="also the click report (above)")
    ap.add_argument("--click-only", action="store_true", help="the click report alone (no greedy answers)")
    ap.add_argument("--click-kind", choices=["task", "grounding"], default="task",
                    help="the click report on task steps, or on grounding rows (--per-task per widget) to compare")
    ap.add_argument("--click-layer", type=int, default=3)
    ap.add_argument("--click-heads", default="0,2", help="train.py's --attend-split: the x and y heads")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = os.path.join(a.data, "examples.jsonl")
    if not os.path.exists(path):
        sys.exit(f"task_report: {path}: no such file")
    with open(path, encoding="utf-8") as f:
        val = [e for e in map(json.loads, f) if e["split"] == "val"]
    rows = [e for e in val if e["kind"] == "task"]
    if a.steps == "first":
        rows = [e for e in rows if e["step"] == 0]
    taken, picked = collections.Counter(), []
    for e in rows:
        key = (e["task"], e["step"] == 0)
        if taken[key] < a.per_task:
            taken[key] += 1
            picked.append(e)
    if not picked:
        sys.exit(f"task_report: {path} has no validation task examples")
    tf = Transformers(a.model_dir, 64)
    by_task = collections.defaultdict(collections.Counter)
    for e in picked if not a.click_only else ():
        answer, _ = tf.ask(e["messages"], [os.path.join(a.data, p) for p in e["images"]])
        got, want = parts(answer), parts(e["target"])
        mask = lambda s: POINT.sub("(P)", s)
        result = {"thought": got[0] == want[0], "action kind": mask(got[1]) == mask(want[1])}
        got_points, want_points = POINT.findall(got[1]), POINT.findall(want[1])
        if want_points:
            result["point"] = len(got_points) == len(want_points) and all(
                abs(int(g[0]) - int(w[0])) <= a.radius and abs(int(g[1]) - int(w[1])) <= a.radius
                for g, w in zip(got_points, want_points))
        for key in (e["task"], "all"):
            by_task[key]["steps"] += 1
            by_task[key]["with point"] += bool(want_points)
            for k, v in result.items():
                by_task[key][k] += v
        if a.verbose:
            print(f"{e['task']:<18} step {e['step']} {result}\n  want {want}\n  got  {got}", file=sys.stderr)
    if a.copy:
        copy_report(tf, rows, a)
    if a.click or a.click_only:
        if a.click_kind == "grounding":
            picked = per_widget(val, a.per_task)
        click_report(tf, picked, a)
    if a.click_only:
        return
    print(f"{'task':<18} {'steps':>5} {'thought':>8} {'action kind':>11} {'point':>9}")
    for task in sorted(by_task, key=lambda t: (t == "all", t)):
        c = by_task[task]
        print(f"{task:<18} {c['steps']:>5} {c['thought']:>8} {c['action kind']:>11} "
              f"{c['point']:>5}/{c['with point']:<3}")


if __name__ == "__main__":
    main()
