#!/usr/bin/env python3
"""Does a model's pointing follow the screen? Every grounding target of a `deskpilot eval grounding`
run asked again through transformers (f32, greedy) on copies of its screenshot moved by a few
offsets (train.py's shift_image: the uncovered strip repeats the edge), each answer moved back by
the offset and hit-tested against the target's own rect.

A model that reads where a widget is answers as well at every offset; one that has learnt where
widgets usually sit on the 32-pixel token grid (the eval's sandbox window is always in the same
place) loses accuracy, and its answers move less than the screen did. Per offset it prints the
accuracy by role and the median "follow": how far the answer moved, as a share of the offset, per
axis (1 = follows the screen, 0 = ignores it), over the targets answered at offset 0 and there.

    tools/train_nano/shift_report.py --model-dir models/deskpilot-nano --grounding g.json \\
        --shifts "0,0;0,25;0,-25;32,0" --seeds 10 [--out shifts.json]

Offsets are in screen pixels (1280x800); 25 down or 4 across moves the 640x384 image the model
sees by exactly 12 or 2 of its pixels (train.py's exact_step), other offsets by fractions. The
answers are kept in --out, and a rerun with the same --out asks only what is missing.
"""
import argparse
import collections
import json
import os
import statistics
import sys
import tempfile

import numpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nano_common as nc  # noqa: E402
import score_parity as sp  # noqa: E402
from train import shift_image  # noqa: E402


def parse_shifts(text):
    shifts = []
    for part in text.split(";"):
        try:
            dx, dy = (int(v) for v in part.split(","))
        except ValueError:
            sys.exit(f"shift_report: --shifts '{text}': '{part}' is not DX,DY in whole screen pixels")
        if max(abs(dx), abs(dy)) > 200:
            sys.exit(f"shift_report: --shifts '{text}': '{part}' moves the screen more than 200 pixels")
        shifts.append((dx, dy))
    if (0, 0) not in shifts:
        shifts.insert(0, (0, 0))  # the follow measure needs the unmoved answers
    return shifts


def ask_all(tf, report, shifts, seeds, answers, save):
    from PIL import Image
    root = report["out_dir"]
    for item in report["items"][:seeds or None]:
        path = os.path.join(root, item["screenshot"])
        if not os.path.exists(path):
            sys.exit(f"shift_report: screenshot {path} is missing (was the eval's out_dir kept?)")
        pixels = None
        for dx, dy in shifts:
            key = f"{item['seed']}|{dx},{dy}"
            if key in answers:
                continue
            if pixels is None:
                pixels = numpy.asarray(Image.open(path).convert("RGB"))
            points = []
            with tempfile.TemporaryDirectory() as tmp:
                moved = os.path.join(tmp, f"seed-{item['seed']}-{dx},{dy}.png")  # a new name: tf caches by path
                Image.fromarray(shift_image(pixels, dx, dy)).save(moved)
                for t in item["targets"]:
                    answer, _ = tf.ask(sp.grounding_messages(t["instruction"]), [moved])
                    p = sp.screen_point(answer)
                    points.append(None if p is None else [p[0] - dx, p[1] - dy])
            answers[key] = points
            save()
        print(f"shift_report: seed {item['seed']} asked", file=sys.stderr, flush=True)


def summarise(report, shifts, seeds, answers):
    rows = []
    for dx, dy in shifts:
        hits, totals, follow = collections.Counter(), collections.Counter(), ([], [])
        for item in report["items"][:seeds or None]:
            here = answers[f"{item['seed']}|{dx},{dy}"]
            still = answers[f"{item['seed']}|0,0"]
            for t, p, p0 in zip(item["targets"], here, still):
                for key in ("all", t["role"]):
                    totals[key] += 1
                    hits[key] += sp.contains(t["rect"], p)
                if p is not None and p0 is not None:
                    # where the answer went on the moved screen, against where it was: (p + shift) - p0
                    for axis, d in ((0, dx), (1, dy)):
                        if d:
                            follow[axis].append((p[axis] + d - p0[axis]) / d)
        rows.append({"shift": [dx, dy], "accuracy": {k: hits[k] / totals[k] for k in totals},
                     "targets": totals["all"],
                     "follow_x": statistics.median(follow[0]) if follow[0] else None,
                     "follow_y": statistics.median(follow[1]) if follow[1] else None})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--grounding", required=True, help="the -o JSON of `deskpilot eval grounding` (out_dir kept)")
    ap.add_argument("--shifts", default="0,0;0,25;0,-25;4,0;32,0", help="DX,DY;... in screen pixels (0,0 is always asked: follow needs it)")
    ap.add_argument("--seeds", type=int, default=0, help="only the report's first N seeds (0: all)")
    ap.add_argument("--out", help="keep every answer here (JSON); a rerun asks only what is missing")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    shifts = parse_shifts(a.shifts)
    if not os.path.isfile(os.path.join(a.model_dir, "config.json")):
        sys.exit(f"shift_report: --model-dir {a.model_dir}: no config.json there (not a checkpoint folder)")
    try:
        with open(a.grounding, encoding="utf-8") as f:
            report = json.load(f)
        report["out_dir"], report["items"]
        repeat = report.get("repeat", 1)
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"shift_report: --grounding {a.grounding}: not a readable `deskpilot eval grounding` report ({e})")
    try:
        report["out_dir"] = nc.eval_out_dir(a.grounding, report)
    except ValueError as e:
        sys.exit(f"shift_report: --grounding {e}")
    if repeat != 1:
        sys.exit(f"shift_report: --grounding {a.grounding}: {repeat} repeats; this reads one (eval --repeat 1)")
    answers = {}
    if a.out and os.path.exists(a.out):
        try:
            with open(a.out, encoding="utf-8") as f:
                kept = json.load(f)
            answers, kept_model = kept["answers"], kept["model_dir"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            sys.exit(f"shift_report: --out {a.out}: exists but holds no answers of an earlier run ({e})")
        if os.path.realpath(kept_model) != os.path.realpath(a.model_dir):
            sys.exit(f"shift_report: --out {a.out}: holds the answers of {kept_model}, not of {a.model_dir}")

    def save():
        if a.out:
            with open(a.out + ".tmp", "w", encoding="utf-8") as f:
                json.dump({"model_dir": a.model_dir, "grounding": a.grounding, "answers": answers}, f)
            os.replace(a.out + ".tmp", a.out)

    import torch
    torch.set_num_threads(a.threads)
    ask_all(sp.Transformers(a.model_dir, 24), report, shifts, a.seeds, answers, save)
    rows = summarise(report, shifts, a.seeds, answers)
    roles = sorted(k for k in rows[0]["accuracy"] if k != "all")
    print("| shift (screen px) | all | " + " | ".join(roles) + " | follow x | follow y |")
    print("|---|" + "---:|" * (len(roles) + 3))
    for r in rows:
        acc = r["accuracy"]
        fx, fy = (f"{v:.2f}" if v is not None else "" for v in (r["follow_x"], r["follow_y"]))
        print(f"| {r['shift'][0]},{r['shift'][1]} | {100 * acc['all']:.1f}% | "
              + " | ".join(f"{100 * acc[k]:.0f}%" for k in roles) + f" | {fx} | {fy} |")
    print(f"({rows[0]['targets']} targets a row)")


if __name__ == "__main__":
    main()
