#!/usr/bin/env python3
"""Where a model's grounding misses land, from `deskpilot eval grounding -o RESULT.json`: inside the
target (hit), near it (within one widget size both ways), in the target's row but another column,
in its column but another row, elsewhere, or no point at all; and for buttons missed in their row,
whether the click landed on another button (picked the wrong one) or between them (imprecise).

    tools/train_nano/miss_report.py eval.json [more.json ...]
"""
import collections
import json
import sys


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


def on_other_button(target, screen):
    px, py = target["point"]
    return any(o is not target and o["role"] == "button" and o["rect"][0] <= px <= o["rect"][0] + o["rect"][2]
               and o["rect"][1] <= py <= o["rect"][1] + o["rect"][3] for o in screen)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                items = json.load(f)["items"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"miss_report.py: {path}: not a `deskpilot eval grounding` result ({e})")
        kinds, buttons = collections.Counter(), collections.Counter()
        for item in items:
            for t in item["targets"]:
                kind = classify(t)
                kinds[kind] += 1
                if t["role"] == "button" and kind == "right row, wrong column":
                    buttons["on another button" if on_other_button(t, item["targets"]) else "between"] += 1
        total = sum(kinds.values())
        print(f"{path}: {total} targets; " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
        print("  buttons missed in their row: " + ", ".join(f"{k} {v}" for k, v in buttons.most_common()))


if __name__ == "__main__":
    main()
