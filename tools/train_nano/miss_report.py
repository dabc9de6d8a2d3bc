#!/usr/bin/env python3
"""Where a model's grounding misses land, from `deskpilot eval grounding -o RESULT.json`: inside the
target (hit), near it (within one widget size both ways), in the target's row but another column,
in its column but another row, elsewhere, or no point at all; and for buttons missed in their row,
whether the click landed on another button (picked the wrong one) or between them (imprecise),
and by label how often each button's label was missed and which button was clicked instead.
By role: how many misses landed on another of the screen's targets (the wrong widget), and for
list items (one row per screen) how many rows off the click was; and how many misses fell inside
one of the target's own image tokens (32x32 cells of the resized image that the widget overlaps,
found from the written point in the response): there the model found the widget's token and wrote
a point off the widget within it.

With --tasks (`deskpilot eval tasks -o RESULT.json`; its sessions are read): each failed task's
steps, sorted as
  - misnamed: a thought quotes a label ('...') that is not in the instruction's text, so the model
    did not follow the instruction (copy), whatever it clicked;
  - named right: every quoted label is the instruction's, so the acting failed (mostly a click).

    tools/train_nano/miss_report.py eval.json [more.json ...] [--tasks tasks.json ...]
"""
import argparse
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402

# A quoted label: the quotes not inside a word (so "I'll ... 'Name'" quotes Name only).
QUOTED = re.compile(r"(?<![A-Za-z])'([^']+)'(?![A-Za-z])")
# The first point of a response, in the resized image's pixels (what the model wrote).
WRITTEN = re.compile(r"\((\d+),\s*(\d+)\)")
CELL = nc.FACTOR  # an image token: a 16-pixel patch, merged 2x2


def classify(target):
    if target["hit"]:
        return "hit"
    if "point" not in target:
        return "no point"
    x, y, w, h = target["rect"]
    dx, dy = target["point"][0] - (x + w / 2), target["point"][1] - (y + h / 2)
    if abs(dx) <= w and abs(dy) <= h:
        return "near"
    if abs(dy) <= h:
        return "right row, wrong column"
    if abs(dx) <= w:
        return "right column, wrong row"
    return "elsewhere"


def inside(rect, px, py):
    return rect[0] <= px <= rect[0] + rect[2] and rect[1] <= py <= rect[1] + rect[3]


def on_other_target(target, screen, role=None):
    """Whether the click is on another of the screen's targets (of `role`, if given)."""
    px, py = target["point"]
    return any(o is not target and role in (None, o["role"]) and inside(o["rect"], px, py) for o in screen)


def rows_off(target):
    """Whole rows between a list item and the click (negative: above)."""
    _, y, _, h = target["rect"]
    return int((target["point"][1] - y) // h)


def token_distance(target, item):
    """How many image tokens (Chebyshev) lie between the written point's token and the nearest token
    the target overlaps (0: one of its own), or None where no point was written. Each axis's scale
    is the item's model_image over its screen_size; results from before those fields had none, and
    there it is the written point over the clicked screen point."""
    m = WRITTEN.search(target.get("response", ""))
    if not m or "point" not in target:
        return None
    written = int(m.group(1)), int(m.group(2))
    sizes = item.get("model_image"), item.get("screen_size")
    if None in sizes and (0 in written or 0 in target["point"]):  # no scale to read
        return None
    x, y, w, h = target["rect"]
    distance = 0
    for axis, (v, start, size, clicked) in enumerate(zip(written, (x, y), (w, h), target["point"])):
        scale = v / clicked if None in sizes else sizes[0][axis] / sizes[1][axis]
        first, last, token = int(start * scale // CELL), int((start + size) * scale // CELL), v // CELL
        distance = max(distance, first - token, token - last)
    return distance


def button_labels(items):
    """Buttons by label, worst first: (label, missed, targets, the labels of the buttons its misses
    clicked, counted). Each screen has a row of buttons whose labels come from one short list, so a
    label that is missed far more than the others is one the model misreads (not a place it misses)."""
    targets, missed, instead = collections.Counter(), collections.Counter(), collections.defaultdict(collections.Counter)
    for item in items:
        buttons = [t for t in item["targets"] if t["role"] == "button"]
        for t in buttons:
            targets[t["label"]] += 1
            if t["hit"]:
                continue
            missed[t["label"]] += 1
            if "point" in t:
                clicked = [o["label"] for o in buttons if o is not t and inside(o["rect"], *t["point"])]
                if clicked:
                    instead[t["label"]][clicked[0]] += 1
    return sorted(((label, missed[label], targets[label], instead[label]) for label in targets),
                  key=lambda row: (-row[1] / row[2], row[0]))


def load(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data["items"], list):
            raise ValueError("items is not a list")
        return data
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"miss_report.py: {path}: not a `deskpilot eval {what}` result ({e})")


def grounding(path):
    items = load(path, "grounding")["items"]
    kinds, buttons = collections.Counter(), collections.Counter()
    roles, missed, wrong_widget, rows, own_token, tokens = (collections.Counter() for _ in range(6))
    for item in items:
        for t in item["targets"]:
            kind = classify(t)
            kinds[kind] += 1
            roles[t["role"]] += 1
            if kind == "hit":
                continue
            missed[t["role"]] += 1
            if t["role"] == "button" and kind == "right row, wrong column":
                buttons["on another button" if on_other_target(t, item["targets"], "button") else "between"] += 1
            if "point" in t and on_other_target(t, item["targets"]):
                wrong_widget[t["role"]] += 1
            if "point" in t and t["role"] == "list_item":
                rows[rows_off(t)] += 1
            distance = token_distance(t, item)
            if distance is not None:
                tokens[min(distance, 2)] += 1
                own_token[t["role"]] += distance == 0
    total = sum(kinds.values())
    print(f"{path}: {total} targets; " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("  buttons missed in their row: " + ", ".join(f"{k} {v}" for k, v in buttons.most_common()))
    for role in sorted(roles):
        print(f"  {role}: {missed[role]} of {roles[role]} missed, {wrong_widget[role]} on another target")
    labels = [row for row in button_labels(items) if row[1]]
    if labels:
        print("  buttons by label, missed of targets (the button clicked instead most often): " +
              ", ".join(f"{label} {m}/{n}" + (f" ({instead.most_common(1)[0][0]} {instead.most_common(1)[0][1]})"
                                              if instead else "") for label, m, n, instead in labels))
    if rows:
        print("  list items, rows off (negative: above): " +
              ", ".join(f"{k:+d}: {v}" for k, v in sorted(rows.items())))
    if tokens:
        print(f"  misses by image token ({CELL} px): in one of the target's own {tokens[0]}, the next {tokens[1]}, "
              f"further {tokens[2]}; in its own, by role: " +
              ", ".join(f"{role} {own_token[role]} of {missed[role]}" for role in sorted(missed)))


def tasks(path):
    data = load(path, "tasks")
    items = data["items"]
    failed = [i for i in items if not i.get("success")]
    print(f"{path}: {len(items) - len(failed)} of {len(items)} tasks done")
    kinds = collections.Counter()
    try:
        out_dir = nc.eval_out_dir(path, data) if failed else ""
    except ValueError as e:
        sys.exit(f"miss_report.py: {e}")
    for item in failed:
        steps_path = os.path.join(out_dir, item["session"], "steps.jsonl")
        try:
            with open(steps_path, encoding="utf-8") as f:
                steps = [json.loads(line) for line in f if line.strip()]
        except (OSError, ValueError) as e:
            sys.exit(f"miss_report.py: task {item['task']}: session {steps_path}: {e}")
        named = {label for s in steps for label in QUOTED.findall(s.get("thought", ""))}
        foreign = sorted(label for label in named if label not in item["text"])
        kind = "misnamed" if foreign else "named right"
        kinds[kind] += 1
        print(f"  {item['task']} ({kind}" + (f": {', '.join(foreign)}" if foreign else "") +
              f"): {item['text']}")
        for s in steps:
            action = (s.get("actions") or [{}])[0]
            where = f" ({action['x']},{action['y']})" if "x" in action else ""
            print(f"    {s.get('index')}. {s.get('thought', '')} -> {action.get('type', '?')}{where}")
    if failed:
        print("  failed tasks: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grounding", nargs="*", help="-o files of `deskpilot eval grounding`")
    ap.add_argument("--tasks", action="append", default=[], help="-o file of `deskpilot eval tasks`")
    a = ap.parse_args()
    if not a.grounding and not a.tasks:
        ap.error("give grounding results and/or --tasks")
    for path in a.grounding:
        grounding(path)
    for path in a.tasks:
        tasks(path)


if __name__ == "__main__":
    main()
